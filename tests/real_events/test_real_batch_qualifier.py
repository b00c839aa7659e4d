"""batch_qualifier's handler(event, context) answers each real S3 Batch Operations request (schemas 1.0 and
2.0) with the documented response (https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-invoke-lambda.html).

Each sample is adapted in its names only: the bucket (in `s3Bucket`, or in `s3BucketArn` keeping the sample's
ARN form, with region and account or without), the key and the version id of an image put into moto S3.
"""

from __future__ import annotations

import copy
import importlib
import sys
from urllib.parse import quote_plus

import pytest
from corpus import ids, load, s3_batch_requests, samples, with_bucket_arn
from moto import mock_aws

from handlers.common import aws as common_aws
from tests.batch_qualifier.qualifier_fixtures import HISTORY_TABLE, IMAGE_BUCKET, JPEG, Clients, Env
from tests.lambda_context import ACCOUNT, context_factory

APP = "handlers.batch_qualifier.app"
RESPONSE_SAMPLE = samples("s3-batch", "*.response.json")[0]
# An image key with what S3 Batch URL-encodes (space, `+`, `%`, unicode), and the samples' own keys.
HOSTILE_KEY = "faces/Zoë + friends 100%.jpg"


FakeContext = context_factory("batch-qualifier", request_id="req-real-1")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch):
    with mock_aws():
        world = Env(Clients())
        world.s3.put_bucket_versioning(Bucket=IMAGE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        monkeypatch.setenv("QUEUE_URL", world.queue_url)
        monkeypatch.setenv("HISTORY_TABLE", HISTORY_TABLE)
        common_aws.client.cache_clear()
        sys.modules.pop(APP, None)
        world.app = importlib.import_module(APP)  # a cold start with this environment
        yield world
        sys.modules.pop(APP, None)
        common_aws.client.cache_clear()


def _adapted(sample: dict, key: str, version_id: str | None) -> dict:
    event = copy.deepcopy(sample)
    for task in event["tasks"]:
        if "s3BucketArn" in task:
            task["s3BucketArn"] = with_bucket_arn(task["s3BucketArn"], IMAGE_BUCKET, ACCOUNT)
        else:
            task["s3Bucket"] = IMAGE_BUCKET
        task["s3Key"] = quote_plus(key, safe="/")  # S3 Batch URL-encodes keys in the request
        if task.get("s3VersionId") is not None:  # a sample without a version id stays without
            task["s3VersionId"] = version_id
    return event


@pytest.mark.parametrize("sample_path", s3_batch_requests(), ids=ids(s3_batch_requests()))
@pytest.mark.parametrize("which_key", ["hostile image key", "sample's own key"])
def test_each_real_s3_batch_request_gets_the_documented_answer(env, sample_path, which_key):
    sample = load(sample_path)
    key = HOSTILE_KEY if which_key == "hostile image key" else sample["tasks"][0]["s3Key"]
    put = env.put_image(key, JPEG, tags={"UserId": "user-from-real-sample"})
    event = _adapted(sample, key, put["VersionId"])
    is_image = key.lower().endswith((".png", ".jpg", ".jpeg"))

    response = env.app.handler(event, FakeContext())

    # The documented response shape (the aws-lambda-go sample is AWS's example, as valid JSON).
    assert set(response) == set(load(RESPONSE_SAMPLE))
    assert response["invocationSchemaVersion"] == sample["invocationSchemaVersion"]
    assert response["invocationId"] == sample["invocationId"]
    assert response["treatMissingKeysAs"] == "PermanentFailure"
    (result,) = response["results"]
    assert result == {
        "taskId": sample["tasks"][0]["taskId"],
        "resultCode": "Succeeded",
        "resultString": "queued" if is_image else "skipped:suffix",
    }
    queued = env.queued_messages()
    if not is_image:
        assert queued == []
        return
    (message,) = queued
    # The bucket is versioned: a task naming no version is pinned to the version the qualifier read (before,
    # the message carried none and the indexer skipped the image as stale: a newer current version).
    expected_version = put["VersionId"]
    assert message["object"]["bucket"] == IMAGE_BUCKET
    assert message["object"]["key"] == key  # decoded exactly once
    assert message["object"].get("version_id") == expected_version
    assert message["user_id"] == "user-from-real-sample"
    assert message["job_id"] == sample["job"]["id"]
    # The samples' userArguments carry no runId: the run is the job.
    assert message["run_id"] == sample["job"].get("userArguments", {}).get("runId", sample["job"]["id"])
    assert env.history_item(key, expected_version)["status"] == "queued"


@pytest.mark.parametrize("sample_path", s3_batch_requests(), ids=ids(s3_batch_requests()))
def test_a_real_request_for_an_object_that_is_gone_fails_permanently_with_a_reason(env, sample_path):
    sample = load(sample_path)
    event = _adapted(sample, "faces/missing.jpg", "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY")
    (result,) = env.app.handler(event, FakeContext())["results"]
    assert result["taskId"] == sample["tasks"][0]["taskId"]
    assert result["resultCode"] == "PermanentFailure"
    # The reason lands in the job's completion report: the object is missing, not an internal error.
    assert result["resultString"].startswith("missing: "), result["resultString"]
    assert env.queued_messages() == []
