"""inventory_created's handler(event, context) driven with the real samples of tests/events.

The four real S3 Inventory deliveries are put byte for byte into moto S3 (data files under the keys their
manifest names, manifest.json and manifest.checksum under S3 Inventory's layout) and announced the way AWS
does: an S3 event notification for manifest.checksum, directly or inside an SNS notification. S3 Batch's
CreateJob is answered by a Stubber that botocore validates each request against.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from corpus import (
    INVENTORY,
    inventory_deliveries,
    load,
    s3_notification,
    samples,
    sns_envelope,
)
from moto import mock_aws

from handlers.inventory_created import app
from handlers.inventory_created.errors import EventError, InventoryError
from tests.inventory_created.inventory_fixtures import FUNCTION_ARN, MANIFEST_BUCKET, REGION, StubbedClient
from tests.lambda_context import context_factory

ACCOUNT = FUNCTION_ARN.split(":")[4]
# The real deliveries' rows (all five versions of the OrcaBus test bucket; the current-only one has two):
#   inventory-test/      current, 0 bytes     -> not an image
#   inventory-test/key1  noncurrent, 0 bytes  -> not latest
#   inventory-test/key1  current, 5 bytes, version tpinzcbx...  -> the one row selected
#   inventory-test/key2  current delete marker -> delete marker
#   inventory-test/key2  noncurrent, 5 bytes   -> not latest
# Their keys have no image suffix, so the function is configured (IMAGE_SUFFIXES, a setting, not the data)
# to take keys ending in "key1" as images.
IMAGE_SUFFIXES = "key1"
SOURCE = "filemanager-inventory-test"
SELECTED_VERSION = "tpinzcbxOfWpZsmjvVgdHEvSohsY4TA0"
EXPECTED = {
    "csv_inventory": {
        "counts": {"delete_marker": 1, "not_latest": 2, "not_image": 1, "selected": 1},
        "rows": [[SOURCE, "inventory-test/key1", SELECTED_VERSION]],
    },
    "csv_inventory_no_version": {
        "counts": {"not_image": 1, "selected": 1},
        "rows": [[SOURCE, "inventory-test/key1"]],
    },
    "orc_inventory": {
        "counts": {"delete_marker": 1, "not_latest": 2, "not_image": 1, "selected": 1},
        "rows": [[SOURCE, "inventory-test/key1", SELECTED_VERSION]],
    },
    "parquet_inventory": {
        "counts": {"delete_marker": 1, "not_latest": 2, "not_image": 1, "selected": 1},
        "rows": [[SOURCE, "inventory-test/key1", SELECTED_VERSION]],
    },
}
# S3 Inventory's folder for one delivery: <prefix>/<source bucket>/<config id>/<YYYY-MM-DDTHH-MMZ>/
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-location.html); the date is the
# manifests' creationTimestamp (1715043600000 ms = 2024-05-07T01:00Z). Each delivery is its own config id.
DATE_FOLDER = "2024-05-07T01-00Z"
PUT_NOTIFICATION = INVENTORY.parent / "s3-notification" / "awsdocs.object-created-put.json"
TEST_EVENT = INVENTORY.parent / "s3-notification" / "awsdocs.test-event.json"
OBJECT_NOTIFICATIONS = [p for p in samples("s3-notification") if "Records" in load(p)]


FakeContext = context_factory("inventory-created", memory_mb=1024, arn=FUNCTION_ARN, request_id="req-real-1")


@dataclass
class World:
    s3: Any
    s3control: StubbedClient
    lambda_client: StubbedClient

    def put_delivery(self, name: str) -> tuple[str, str]:
        """Put one real delivery into moto; returns (its bucket, the key of its manifest.checksum)."""
        manifest_bytes = (INVENTORY / f"{name}_manifest.json").read_bytes()
        manifest = json.loads(manifest_bytes)
        bucket = manifest["destinationBucket"].split(":::", 1)[1]
        self.s3.create_bucket(Bucket=bucket)
        for entry in manifest["files"]:
            self.s3.put_object(Bucket=bucket, Key=entry["key"], Body=(INVENTORY / entry["key"]).read_bytes())
        folder = f"inventory/{SOURCE}/{name}/{DATE_FOLDER}"
        self.s3.put_object(Bucket=bucket, Key=f"{folder}/manifest.json", Body=manifest_bytes)
        checksum = (INVENTORY / f"{name}_manifest.checksum").read_bytes()
        self.s3.put_object(Bucket=bucket, Key=f"{folder}/manifest.checksum", Body=checksum)
        return bucket, f"{folder}/manifest.checksum"

    def manifest_rows(self, s3_url: str) -> list[list[str]]:
        bucket, key = s3_url.removeprefix("s3://").split("/", 1)
        body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        return [line.split(",") for line in body.splitlines()]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BATCH_FUNCTION_ARN", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:batch-qualifier")
    monkeypatch.setenv("BATCH_ROLE_ARN", f"arn:aws:iam::{ACCOUNT}:role/batch-operations")
    monkeypatch.setenv("MANIFEST_BUCKET", MANIFEST_BUCKET)
    monkeypatch.setenv("IMAGE_SUFFIXES", IMAGE_SUFFIXES)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=MANIFEST_BUCKET)
        made = World(
            s3,
            StubbedClient("s3control", "create_job", {"JobId": "job-real-0001"}),
            StubbedClient("lambda", "invoke", {"StatusCode": 202}),
        )
        clients = {"s3": s3, "s3control": made.s3control.client, "lambda": made.lambda_client.client}
        # The handler's cold-start client factory hands out these (moto S3, stubbed s3control / lambda).
        monkeypatch.setattr(app, "client", lambda service: clients[service])
        app._importer.cache_clear()
        yield made
        app._importer.cache_clear()


def _assert_one_job(world: World, response: dict[str, Any], name: str) -> None:
    expected = EXPECTED[name]
    assert response["counts"] == expected["counts"]
    assert response["jobs"] == ["job-real-0001"]
    (job,) = response["results"][0]["jobs"]
    assert world.manifest_rows(job["manifest"]) == expected["rows"]
    (request,) = world.s3control.calls
    versioned = len(expected["rows"][0]) == 3
    assert request["Manifest"]["Spec"] == {
        "Format": "S3BatchOperations_CSV_20180820",
        "Fields": ["Bucket", "Key", "VersionId"] if versioned else ["Bucket", "Key"],
    }
    invoke = request["Operation"]["LambdaInvoke"]
    assert invoke["InvocationSchemaVersion"] == "2.0"
    assert invoke["UserArguments"]["runId"] == f"{SOURCE}/{DATE_FOLDER}"
    assert request["AccountId"] == ACCOUNT


@pytest.mark.parametrize("name", inventory_deliveries())
def test_each_real_delivery_announced_through_sns_becomes_one_job(world, name):
    world.s3control.expect(1)
    bucket, checksum_key = world.put_delivery(name)
    notification = s3_notification(PUT_NOTIFICATION, bucket, quote_plus(checksum_key, safe="/"))
    event = sns_envelope(samples("sns")[0], notification)
    _assert_one_job(world, app.handler(event, FakeContext()), name)


@pytest.mark.parametrize("sns_sample", samples("sns"), ids=lambda p: p.name)
@pytest.mark.parametrize("notification_sample", OBJECT_NOTIFICATIONS, ids=lambda p: p.name)
def test_each_real_s3_notification_direct_and_inside_each_sns_envelope(
    world, sns_sample, notification_sample
):
    name = "csv_inventory"
    world.s3control.expect(2)
    bucket, checksum_key = world.put_delivery(name)
    notification = s3_notification(notification_sample, bucket, quote_plus(checksum_key, safe="/"))
    direct = app.handler(notification, FakeContext())
    _assert_one_job(world, direct, name)
    # The same delivery announced again (SNS this time): the same job request, by its idempotency token.
    again = app.handler(sns_envelope(sns_sample, notification), FakeContext())
    assert again["counts"] == direct["counts"]
    first, second = world.s3control.calls
    assert first["ClientRequestToken"] == second["ClientRequestToken"]


@pytest.mark.parametrize("sns_sample", samples("sns"), ids=lambda p: p.name)
def test_s3_test_event_is_ignored_direct_and_inside_sns(world, sns_sample):
    test_event = load(TEST_EVENT)
    expected = [{"ignored": f"s3:TestEvent for bucket {test_event['Bucket']!r}"}]
    assert app.handler(test_event, FakeContext())["results"] == expected
    assert app.handler(sns_envelope(sns_sample, test_event), FakeContext())["results"] == expected
    assert world.s3control.calls == []


@pytest.mark.parametrize("sns_sample", samples("sns"), ids=lambda p: p.name)
def test_the_sns_samples_own_message_is_rejected_clearly(world, sns_sample):
    # "Hello from SNS!" is not an S3 notification: the error says what the message is not.
    with pytest.raises(EventError, match="SNS message is not JSON"):
        app.handler(load(sns_sample), FakeContext())


@pytest.mark.parametrize("notification_sample", OBJECT_NOTIFICATIONS, ids=lambda p: p.name)
def test_s3_notifications_of_other_objects_are_rejected_naming_the_object(world, notification_sample):
    event = load(notification_sample)
    record = event["Records"][0]["s3"]
    with pytest.raises(EventError, match="is not an inventory manifest") as raised:
        app.handler(event, FakeContext())
    assert record["bucket"]["name"] in str(raised.value)


@pytest.mark.parametrize("manifest_sample", samples("inventory/awsdocs"), ids=lambda p: p.name)
def test_aws_documentation_manifests_fail_clearly_as_they_have_no_data_files(world, manifest_sample):
    # The documentation's manifests name data files that do not exist (and two have placeholder MD5s,
    # "...eexample"): each invocation fails with an InventoryError naming the manifest field or data file.
    manifest = load(manifest_sample)
    bucket = manifest["destinationBucket"].split(":::", 1)[1]
    world.s3.create_bucket(Bucket=bucket)
    with pytest.raises(InventoryError) as raised:
        app.handler(manifest, FakeContext())
    message = str(raised.value)
    md5 = manifest["files"][0]["MD5checksum"]
    if all(c in "0123456789abcdef" for c in md5) and len(md5) == 32:
        assert "does not exist" in message and manifest["files"][0]["key"] in message
    else:
        assert "files.0.MD5checksum" in message and md5 in message
    assert world.s3control.calls == []
