"""The task's bucket: AWS's real S3 Batch samples (1.0 `s3BucketArn` with region and account, 2.0 `s3Bucket`)
are queued; malformed ARNs and bucket names are answered PermanentFailure with a reason naming the field."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from qualifier_fixtures import PNG, batch_event, s3_encoded
from test_qualifier_app import APP, FakeContext, _cold_start

from handlers.common import aws as common_aws
from handlers.common.s3_names import bucket_from_arn, bucket_name_problem

REALDATA = Path(__file__).resolve().parents[1] / "events"  # tests/events: the corpus of real AWS samples
# Every S3 Batch Operations request sample there, as its source published it (see its SOURCES.md).
REAL_REQUESTS = [
    "s3-batch/awsdocs.request-1.0.json",
    "s3-batch/powertools.request-1.0.json",
    "s3-batch/powertools.request-2.0.json",
    "s3-batch/aws-lambda-go.request-1.0.json",
    "s3-batch/aws-lambda-go.request-2.0.json",
]
IMAGE_KEY = "customer images/face+1 Zoë.jpg"


@pytest.fixture(autouse=True)
def _fresh_app():
    yield
    sys.modules.pop(APP, None)
    common_aws.client.cache_clear()


def _sample(name: str) -> dict[str, Any]:
    return json.loads((REALDATA / name).read_text())


def test_every_s3_batch_request_sample_is_covered():
    found = sorted(
        str(path.relative_to(REALDATA))
        for path in (REALDATA / "s3-batch").glob("*.json")
        if "invocationSchemaVersion" in path.read_text() and '"tasks"' in path.read_text()
    )
    assert found == sorted(REAL_REQUESTS)


@pytest.mark.parametrize("name", REAL_REQUESTS)
def test_a_real_sample_request_is_queued_from_the_bucket_it_names(monkeypatch, env, name):
    """The sample's shape and bucket as published; only key and version name an object that exists here
    (the samples' keys are not images, and their version ids are placeholders)."""
    event = _sample(name)
    (task,) = event["tasks"]
    bucket = (task.get("s3BucketArn") or "").rsplit(":", 1)[-1] or task["s3Bucket"]
    env.s3.create_bucket(Bucket=bucket)
    env.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    put = env.put_image(IMAGE_KEY, body=PNG, tags={"UserId": "mary"}, bucket=bucket)
    task["s3Key"] = s3_encoded(IMAGE_KEY)
    task["s3VersionId"] = put["VersionId"]
    app = _cold_start(monkeypatch, env)

    response = app.handler(event, FakeContext())

    assert response["invocationSchemaVersion"] == event["invocationSchemaVersion"]
    assert response["results"] == [
        {"taskId": task["taskId"], "resultCode": "Succeeded", "resultString": "queued"}
    ]
    (body,) = env.queued_messages()
    assert body["object"]["bucket"] == bucket
    assert body["object"]["key"] == IMAGE_KEY
    assert body["object"]["version_id"] == put["VersionId"]


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:s3:::qualifier-images",
        "arn:aws:s3:us-east-1:0123456788:qualifier-images",  # as AWS's own 1.0 example writes it
        "arn:aws:s3:us-east-1:123456789012:qualifier-images",
        "arn:aws-cn:s3:::qualifier-images",
        "arn:aws-cn:s3:cn-north-1:123456789012:qualifier-images",
        "arn:aws-us-gov:s3:::qualifier-images",
        "arn:aws-us-gov:s3:us-gov-west-1:123456789012:qualifier-images",
        "arn:aws-iso-b:s3:::qualifier-images",
    ],
)
def test_a_bucket_arn_of_any_form_and_partition_reaches_the_bucket(monkeypatch, env, arn):
    env.put_image("a.png", tags={"UserId": "alice"})
    app = _cold_start(monkeypatch, env)
    event = batch_event(
        [{"taskId": "t-1", "s3Key": "a.png", "s3VersionId": None, "s3BucketArn": arn}], schema_version="1.0"
    )
    assert app.handler(event, FakeContext())["results"][0]["resultString"] == "queued"
    assert env.queued_messages()[0]["object"]["bucket"] == "qualifier-images"


HOSTILE_ARNS = {
    "": "must be a non-empty S3 bucket ARN",
    "qualifier-images": "is not an S3 bucket ARN",
    "arn:aws:s3:::": "names no bucket",
    "arn:aws:s3:us-east-1:123456789012:": "names no bucket",
    "arn:aws:s3:::qualifier-images:extra": "not ':'",
    "arn:aws:s3:::qualifier:images": "not ':'",
    "arn:aws:s3:::qualifier-images/a.png": "not '/'",
    "arn:aws:s3:::Qualifier-Images": "not 'IQ'",
    "arn:aws:s3:::" + "a" * 64: "3-63 characters, got 64",
    "arn:aws:s3:::ab": "3-63 characters, got 2",
    "arn:aws:s3:::-images": "begin and end with a letter or digit",
    "arn:aws:s3:::images.": "begin and end with a letter or digit",
    "arn:aws:s3:::qualifier..images": "two adjacent periods",
    "arn:aws:s3:::192.168.5.4": "IP address",
    "arn:aws:s3:::qualifier_images": "not '_'",
    "arn:aws:sqs:us-east-1:123456789012:qualifier-images": "is not an S3 bucket ARN",
    "arn:azure:s3:::qualifier-images": "is not an S3 bucket ARN",
    "arn:aws:s3:us-east-1:12345678901a:qualifier-images": "is not an S3 bucket ARN",
    "ARN:AWS:S3:::qualifier-images": "is not an S3 bucket ARN",
    " arn:aws:s3:::qualifier-images": "is not an S3 bucket ARN",
}


@pytest.mark.parametrize("arn", list(HOSTILE_ARNS))
def test_a_malformed_bucket_arn_fails_the_task_naming_the_field(monkeypatch, env, arn):
    env.put_image("a.png", tags={"UserId": "alice"})
    app = _cold_start(monkeypatch, env)
    event = batch_event(
        [{"taskId": "t-1", "s3Key": "a.png", "s3VersionId": None, "s3BucketArn": arn}], schema_version="1.0"
    )
    (result,) = app.handler(event, FakeContext())["results"]
    assert result["resultCode"] == "PermanentFailure"
    assert result["resultString"].startswith("error:event: s3BucketArn ")
    assert HOSTILE_ARNS[arn] in result["resultString"]
    assert env.queued_messages() == []


@pytest.mark.parametrize("value", [None, 7, ["qualifier-images"]])
def test_a_bucket_arn_that_is_not_a_string_fails_the_task(monkeypatch, env, value):
    app = _cold_start(monkeypatch, env)
    event = batch_event([{"taskId": "t-1", "s3Key": "a.png", "s3BucketArn": value}], schema_version="1.0")
    (result,) = app.handler(event, FakeContext())["results"]
    assert result["resultCode"] == "PermanentFailure"
    assert result["resultString"].startswith("error:event: s3BucketArn must be a non-empty S3 bucket ARN")


HOSTILE_BUCKETS = {
    "": "3-63 characters, got 0",
    "arn:aws:s3:::qualifier-images": "not ':'",
    "Qualifier-Images": "not 'IQ'",
    "a" * 64: "3-63 characters, got 64",
    "qualifier images": "not ' '",
    "qualifier..images": "two adjacent periods",
    "10.0.0.1": "IP address",
    ".images": "begin and end with a letter or digit",
}


@pytest.mark.parametrize("bucket", list(HOSTILE_BUCKETS))
def test_a_malformed_schema_2_bucket_fails_the_task_naming_the_field(monkeypatch, env, bucket):
    app = _cold_start(monkeypatch, env)
    event = batch_event([{"taskId": "t-1", "s3Key": "a.png", "s3VersionId": None, "s3Bucket": bucket}])
    (result,) = app.handler(event, FakeContext())["results"]
    assert result["resultCode"] == "PermanentFailure"
    assert result["resultString"].startswith("error:event: s3Bucket ")
    assert HOSTILE_BUCKETS[bucket] in result["resultString"]
    assert env.queued_messages() == []


@pytest.mark.parametrize("value", [None, 42])
def test_a_schema_2_bucket_that_is_not_a_string_fails_the_task(monkeypatch, env, value):
    app = _cold_start(monkeypatch, env)
    event = batch_event([{"taskId": "t-1", "s3Key": "a.png", "s3Bucket": value}])
    (result,) = app.handler(event, FakeContext())["results"]
    assert (result["resultCode"], result["resultString"]) == (
        "PermanentFailure",
        f"error:event: s3Bucket must be a bucket name string, got {type(value).__name__}",
    )


def test_a_task_with_neither_bucket_field_names_both(monkeypatch, env):
    app = _cold_start(monkeypatch, env)
    (result,) = app.handler(batch_event([{"taskId": "t-1", "s3Key": "a.png"}]), FakeContext())["results"]
    assert result["resultCode"] == "PermanentFailure"
    assert "'s3Bucket' (schema 2.0) or 's3BucketArn' (schema 1.0)" in result["resultString"]


def test_one_bad_task_does_not_spoil_the_others(monkeypatch, env):
    env.put_image("a.png", tags={"UserId": "alice"})
    app = _cold_start(monkeypatch, env)
    tasks = [
        {"taskId": "bad", "s3Key": "a.png", "s3BucketArn": "arn:aws:s3:::"},
        {"taskId": "good", "s3Key": "a.png", "s3BucketArn": "arn:aws:s3:us-east-1:1:qualifier-images"},
    ]
    response = app.handler(batch_event(tasks, schema_version="1.0"), FakeContext())
    assert [(r["taskId"], r["resultCode"]) for r in response["results"]] == [
        ("bad", "PermanentFailure"),
        ("good", "Succeeded"),
    ]


# ------------------------------------------------------------------------------- the rules, one by one
@pytest.mark.parametrize(
    "name",
    ["abc", "a" * 63, "my-bucket.example.com", "1-2-3", "bucket-111122223333-us-west-2-an", "1.2.3", "xn--a"],
)
def test_valid_bucket_names_pass(name):
    assert bucket_name_problem(name) is None
    assert bucket_from_arn(f"arn:aws:s3:::{name}") == (name, None)


def test_the_realdata_arns_split_as_s3_batch_writes_them():
    arns = {
        name: _sample(name)["tasks"][0]["s3BucketArn"]
        for name in REAL_REQUESTS
        if "s3BucketArn" in _sample(name)["tasks"][0]
    }
    assert {name: bucket_from_arn(arn) for name, arn in arns.items()} == {
        "s3-batch/awsdocs.request-1.0.json": ("awsexamplebucket1", None),
        "s3-batch/powertools.request-1.0.json": ("powertools-dataset", None),
        "s3-batch/aws-lambda-go.request-1.0.json": ("awsexamplebucket", None),
    }
