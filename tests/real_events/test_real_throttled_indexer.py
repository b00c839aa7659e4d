"""throttled_indexer's handler(event, context) driven with the real SQS -> Lambda samples of tests/events:
carrying our import messages, their own (foreign) bodies, and the real EventBridge S3 events that the
image bucket's rule puts on the same queue (an EventBridge rule with an SQS target delivers the event JSON
as the message body: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-targets.html).

moto S3 / SQS / DynamoDB and a local HTTP registration API (the `http` gateway). Samples are adapted in
their names only: queue ARN and region, bucket, key and version id.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from corpus import eventbridge, ids, load, samples, sqs_envelope

from handlers.common.contracts import dump_message
from tests.history_fixtures import history_item
from tests.lambda_context import context_factory
from tests.throttled_indexer.indexer_fixtures import (
    IMAGE_BUCKET,
    Scripted,
    ScriptedGateway,
    create_image_buckets,
    http_indexer_env,
    import_message,
    jpeg_bytes,
    load_indexer_app,
    put_image,
)

SQS_SAMPLES = samples("sqs")
DELETED_SAMPLES = eventbridge("Object Deleted")
CREATED_SAMPLES = eventbridge("Object Created")


FakeContext = context_factory("throttled-indexer", memory_mb=512, request_id="req-real-1")


@dataclass
class World:
    app: Any
    s3: Any
    sqs: Any
    table: Any
    api: ScriptedGateway
    queue_arn: str
    dlq_url: str

    def history(self, key: str, version_id: str | None) -> dict[str, Any] | None:
        return history_item(self.table, IMAGE_BUCKET, key, version_id)

    def dead_letters(self) -> list[dict[str, Any]]:
        return self.sqs.receive_message(
            QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])


@pytest.fixture
def world(monkeypatch, s3, history_table):
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="indexer-input")["QueueUrl"]
    dlq_url = sqs.create_queue(QueueName="indexer-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    with ScriptedGateway() as api:
        app = load_indexer_app(monkeypatch, http_indexer_env(api.url, url, DLQ_URL=dlq_url))  # a cold start
        yield World(app, s3, sqs, history_table, api, arn, dlq_url)


@pytest.fixture
def s3(aws):
    # The buckets of tests/throttled_indexer's `s3` (its conftest is not this folder's); `aws` and
    # `history_table` are the suite's (tests/conftest.py).
    client = boto3.client("s3", region_name="us-east-1")
    create_image_buckets(client)
    return client


def _import(world: World, sample, keys: list[str]) -> list[Any]:
    """Index one image per key through the SQS sample's envelope; returns their ObjectRefs."""
    objects = [put_image(world.s3, key, jpeg_bytes(key)) for key in keys]
    world.api.script += [
        Scripted(200, json.dumps({"ImageId": f"portal-{i}"}).encode()) for i in range(len(keys))
    ]
    event = sqs_envelope(sample, [dump_message(import_message(obj)) for obj in objects], world.queue_arn)
    assert world.app.handler(event, FakeContext()) == {"batchItemFailures": []}
    return objects


@pytest.mark.parametrize("sample", SQS_SAMPLES, ids=ids(SQS_SAMPLES))
def test_real_sqs_envelopes_carrying_our_messages_index_every_image(world, sample):
    keys = ["photos/plain.jpg", "photos/a b+c%20d.jpg", "fotos/Zoë, \"quoted\" 'x'.jpeg"]
    objects = _import(world, sample, keys)
    for i, obj in enumerate(objects):
        item = world.history(obj.key, obj.version_id)
        assert (item["status"], item["image_id"]) == ("indexed", f"portal-{i}")
    assert [r.path for r in world.api.received] == ["/api/register"] * len(keys)


@pytest.mark.parametrize("sample", SQS_SAMPLES, ids=ids(SQS_SAMPLES))
def test_real_sqs_samples_own_bodies_are_dead_lettered_with_the_reason(world, sample):
    event = sqs_envelope(sample, None, world.queue_arn)
    # Not our messages ("Test message.", {"message": "foo1"}): copied to the DLQ at once with the reason,
    # and finished (not failed) so they are not delivered again.
    assert world.app.handler(event, FakeContext()) == {"batchItemFailures": []}
    letters = world.dead_letters()
    assert sorted(m["Body"] for m in letters) == sorted(r["body"] for r in event["Records"])
    for letter in letters:
        reason = letter["MessageAttributes"]["indexer-error"]["StringValue"]
        assert reason.startswith(("message body is not JSON", "invalid queue message")), reason
    assert world.api.received == []


def _delete_event(sample, key: str, delete_marker_version: str | None) -> str:
    event = copy.deepcopy(load(sample))
    event["resources"] = [f"arn:aws:s3:::{IMAGE_BUCKET}"]
    event["detail"]["bucket"]["name"] = IMAGE_BUCKET
    event["detail"]["object"]["key"] = key
    if "version-id" in event["detail"]["object"]:  # a sample without a version id stays without
        event["detail"]["object"]["version-id"] = delete_marker_version
    return json.dumps(event)


@pytest.mark.parametrize("sample", DELETED_SAMPLES, ids=ids(DELETED_SAMPLES))
def test_real_eventbridge_object_deleted_events_deregister_the_image(world, sample):
    key = load(sample)["detail"]["object"]["key"]  # the sample's own key
    (obj,) = _import(world, SQS_SAMPLES[0], [key])
    marker = world.s3.delete_object(Bucket=IMAGE_BUCKET, Key=key)  # the deletion the event reports
    world.api.script.append(Scripted(200, b"{}"))
    body = _delete_event(sample, key, marker.get("VersionId"))
    event = sqs_envelope(SQS_SAMPLES[0], [body], world.queue_arn)
    assert world.app.handler(event, FakeContext()) == {"batchItemFailures": []}
    assert world.history(obj.key, obj.version_id)["status"] == "deleted"
    assert [r.path for r in world.api.received] == ["/api/register", "/api/deregister"]
    assert json.loads(world.api.received[-1].body)["ImageId"] == "portal-0"
    assert world.dead_letters() == []


@pytest.mark.parametrize("sample", DELETED_SAMPLES, ids=ids(DELETED_SAMPLES))
def test_a_real_delete_event_for_a_live_image_changes_nothing(world, sample):
    # S3 still holds the indexed version as current (an event older than the state, e.g. a re-upload after
    # the deletion): the live image stays registered.
    key = load(sample)["detail"]["object"]["key"]
    (obj,) = _import(world, SQS_SAMPLES[0], [key])
    event = sqs_envelope(
        SQS_SAMPLES[0], [_delete_event(sample, key, "an-older-delete-marker")], world.queue_arn
    )
    assert world.app.handler(event, FakeContext()) == {"batchItemFailures": []}
    assert world.history(obj.key, obj.version_id)["status"] == "indexed"
    assert [r.path for r in world.api.received] == ["/api/register"]


@pytest.mark.parametrize("sample", CREATED_SAMPLES, ids=ids(CREATED_SAMPLES))
def test_real_eventbridge_object_created_events_are_dead_lettered_naming_the_type(world, sample):
    body = json.dumps(load(sample))
    event = sqs_envelope(SQS_SAMPLES[0], [body], world.queue_arn)
    assert world.app.handler(event, FakeContext()) == {"batchItemFailures": []}
    (letter,) = world.dead_letters()
    assert letter["Body"] == body
    assert "'Object Created'" in letter["MessageAttributes"]["indexer-error"]["StringValue"]


@pytest.mark.parametrize("reading", ["raw key", "URL-encoded key"])
@pytest.mark.parametrize("sample", DELETED_SAMPLES, ids=ids(DELETED_SAMPLES))
def test_a_real_delete_event_deregisters_a_hostile_key_under_either_reading_of_its_encoding(
    world, sample, reading
):
    # AWS's EventBridge pages do not say whether detail.object.key is URL-encoded (Powertools decodes it):
    # the indexer must act on the right object under both readings (ARCHITECTURE, S3 event formats).
    key = "photos/Zoë a+b 100%.jpg"
    (obj,) = _import(world, SQS_SAMPLES[0], [key])
    marker = world.s3.delete_object(Bucket=IMAGE_BUCKET, Key=key)
    world.api.script.append(Scripted(200, b"{}"))
    as_sent = key if reading == "raw key" else quote_plus(key, safe="/")
    body = _delete_event(sample, as_sent, marker.get("VersionId"))
    event = sqs_envelope(SQS_SAMPLES[0], [body], world.queue_arn)
    assert world.app.handler(event, FakeContext()) == {"batchItemFailures": []}
    assert world.history(obj.key, obj.version_id)["status"] == "deleted"
    assert [r.path for r in world.api.received] == ["/api/register", "/api/deregister"]
