"""Whole batches against moto SQS (input queue + DLQ with a redrive policy), S3 and DynamoDB: partial batch
failures, back-off, the busy gateway, re-queued waiting messages, poison messages, give-ups."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from indexer_fixtures import (
    IMAGE_BUCKET,
    MAX_RECEIVES,
    import_message,
    jpeg_bytes,
    make_visible_again,
    put_image,
    receive_as_lambda,
    runner_for,
)

from handlers.common.contracts import DeleteMessage, ObjectRef, dump_message
from handlers.throttled_indexer.backoff import VISIBILITY_CEILING, retry_delay
from handlers.throttled_indexer.batch import (
    DELIVERIES_ATTRIBUTE,
    ERROR_ATTRIBUTE,
    FIRST_SENT_ATTRIBUTE,
    queue_url_from_arn,
)
from handlers.throttled_indexer.gateway import GatewayBusy


def _send(sqs, url, *bodies: str) -> None:
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)


def test_a_mixed_batch_reports_only_what_failed(queues, s3, history, importer, deleter, face_index):
    sqs, url, arn, _ = queues
    good = put_image(s3, "good.jpg", jpeg_bytes("good"))
    gone = put_image(s3, "gone.jpg", jpeg_bytes("gone"))
    importer.process(import_message(gone), _attempt())
    s3.delete_object(Bucket=IMAGE_BUCKET, Key="gone.jpg")
    delete = DeleteMessage(object=ObjectRef(bucket=IMAGE_BUCKET, key="gone.jpg", sequencer="01"))
    _send(sqs, url, dump_message(import_message(good)), "{not json", dump_message(delete))
    records = receive_as_lambda(sqs, url, arn)
    labels: list[str] = []
    result = runner_for(queues, history, importer, deleter, labels).run(records)
    poison_id = next(r["messageId"] for r in records if r["body"] == "{not json")
    assert result.response() == {"batchItemFailures": [{"itemIdentifier": poison_id}]}
    assert sorted(labels) == ["deleted", "indexed", "poison"]
    assert face_index.registered_keys() == ["good.jpg"]


def test_a_poison_message_goes_to_the_dlq_at_once_with_its_reason(
    queues, s3, history, importer, deleter, clock
):
    sqs, url, arn, dlq_url = queues
    body = json.dumps(
        {"v": 1, "type": "import", "object": {"bucket": IMAGE_BUCKET, "key": "x.jpg"}}
    )  # no user
    _send(sqs, url, body)
    records = receive_as_lambda(sqs, url, arn)
    result = runner_for(queues, history, importer, deleter, dlq_url=dlq_url).run(records)
    assert result.failures == [] and result.labels == ["poison:dead-lettered"]
    copied = sqs.receive_message(QueueUrl=dlq_url, MessageAttributeNames=["All"])["Messages"]
    assert copied[0]["Body"] == body
    assert "user_id" in copied[0]["MessageAttributes"][ERROR_ATTRIBUTE]["StringValue"]
    record = history.get(ObjectRef(bucket=IMAGE_BUCKET, key="x.jpg"))
    assert (record.status, record.reason) == ("invalid", "unparseable-message")
    assert [r.key for r in history.failures_since(clock.now - timedelta(minutes=1))] == ["x.jpg"]


def test_without_a_dlq_url_a_poison_message_cycles_fast_into_the_dlq(queues, s3, history, importer, deleter):
    sqs, url, arn, dlq_url = queues
    _send(sqs, url, "garbage")
    runner = runner_for(queues, history, importer, deleter)
    for _ in range(MAX_RECEIVES):
        records = receive_as_lambda(sqs, url, arn)  # visible again at once: visibility set to 0
        assert len(records) == 1 and runner.run(records).labels == ["poison"]
    assert receive_as_lambda(sqs, url, arn) == []  # the redrive policy moved it
    assert sqs.receive_message(QueueUrl=dlq_url)["Messages"][0]["Body"] == "garbage"


def test_a_busy_gateway_stops_the_batch_and_delays_the_messages(
    queues, s3, history, importer, deleter, face_index
):
    sqs, url, arn, _ = queues
    objs = [put_image(s3, f"{i}.jpg", jpeg_bytes(str(i))) for i in range(4)]
    _send(sqs, url, *(dump_message(import_message(o)) for o in objs))
    face_index.script.append(GatewayBusy("HTTP 429", retry_after=5))
    records = receive_as_lambda(sqs, url, arn)
    labels: list[str] = []
    result = runner_for(queues, history, importer, deleter, labels).run(records)
    assert face_index.register_calls == 1  # no further gateway calls after the busy answer
    assert len(result.failures) == 4
    assert labels == ["retry:busy", "retry:deferred", "retry:deferred", "retry:deferred"]
    assert receive_as_lambda(sqs, url, arn) == []  # all delayed, none back at once
    assert {history.get(o).status for o in objs[:1]} == {"queued"}


def test_waiting_messages_on_their_last_receive_are_requeued_not_dead_lettered(
    queues, s3, history, importer, deleter, face_index
):
    sqs, url, arn, dlq_url = queues
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    _send(sqs, url, dump_message(import_message(obj)))
    # base 0: no delays, so the copy can be received at once in this test
    runner = runner_for(queues, history, importer, deleter, backoff_base_seconds=0)
    for receive in range(1, MAX_RECEIVES + 1):
        face_index.script.append(GatewayBusy("ThrottlingException"))
        records = receive_as_lambda(sqs, url, arn)
        assert [r["attributes"]["ApproximateReceiveCount"] for r in records] == [str(receive)]
        result = runner.run(records)
        if receive < MAX_RECEIVES:
            assert len(result.failures) == 1
            make_visible_again(sqs, url, records)
        else:
            assert result.failures == []  # the event source mapping deletes it; a copy was queued
            sqs.delete_message(QueueUrl=url, ReceiptHandle=records[0]["receiptHandle"])
    first_sent = int(records[0]["attributes"]["SentTimestamp"]) // 1000
    assert sqs.receive_message(QueueUrl=dlq_url).get("Messages") is None
    assert history.get(obj).status == "queued" and "ThrottlingException" in history.get(obj).reason
    (copy,) = receive_as_lambda(sqs, url, arn)
    assert copy["body"] == records[0]["body"]
    assert copy["attributes"]["ApproximateReceiveCount"] == "1"
    assert copy["messageAttributes"][DELIVERIES_ATTRIBUTE]["stringValue"] == str(MAX_RECEIVES)
    assert copy["messageAttributes"][FIRST_SENT_ATTRIBUTE]["stringValue"] == str(first_sent)
    # the gateway is back: the copy is indexed
    assert runner.run([copy]).labels == ["indexed"]
    assert history.get(obj).status == "indexed"


def test_back_off_continues_across_requeued_copies(queues, s3, history, importer, deleter, face_index):
    sqs, url, arn, _ = queues
    delays = []
    runner = runner_for(
        queues, history, importer, deleter, backoff_base_seconds=10, backoff_max_seconds=10**5
    )
    runner._change_visibility = lambda changes: delays.extend(seconds for _, _, seconds in changes)
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    _send(sqs, url, dump_message(import_message(obj)))
    (record,) = receive_as_lambda(sqs, url, arn)
    record["messageAttributes"][DELIVERIES_ATTRIBUTE] = {"stringValue": "6", "dataType": "Number"}
    face_index.script.append(GatewayBusy("HTTP 429"))
    runner.run([record])
    assert delays == [10 * 2**6]  # 7th delivery overall, not the 1st


def test_a_message_waiting_too_long_is_given_up_with_a_history_record(
    queues, s3, history, importer, deleter, face_index, clock
):
    sqs, url, arn, dlq_url = queues
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    _send(sqs, url, dump_message(import_message(obj)))
    runner = runner_for(queues, history, importer, deleter, max_wait_seconds=0)
    for receive in range(1, MAX_RECEIVES + 1):
        face_index.script.append(GatewayBusy("HTTP 503"))
        records = receive_as_lambda(sqs, url, arn)
        assert len(runner.run(records).failures) == 1
        if receive < MAX_RECEIVES:
            assert history.get(obj).status == "queued"
            make_visible_again(sqs, url, records)
    record = history.get(obj)
    assert (record.status, record.reason) == ("failed", "gave-up")
    assert "HTTP 503" in record.details["message"]
    assert [r.key for r in history.failures_since(clock.now - timedelta(minutes=1))] == ["a.jpg"]
    assert receive_as_lambda(sqs, url, arn) == []  # visible at once, and moto's redrive moves it
    assert len(sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", [])) == 1


def test_an_unexpected_error_on_the_last_receive_is_recorded_before_the_dlq(
    queues, s3, history, importer, deleter, face_index, clock
):
    sqs, url, arn, _ = queues
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    _send(sqs, url, dump_message(import_message(obj)))
    runner = runner_for(queues, history, importer, deleter, max_receive_count=1)
    face_index.script.append(RuntimeError("gateway answered nonsense"))
    result = runner.run(receive_as_lambda(sqs, url, arn))
    assert len(result.failures) == 1 and result.labels == ["retry:error"]
    record = history.get(obj)
    assert record.status == "failed"
    assert "gateway answered nonsense" in record.details["message"]


def test_a_failing_delete_on_the_last_receive_is_findable(
    queues, s3, history, importer, deleter, face_index, clock
):
    sqs, url, arn, _ = queues
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    importer.process(import_message(obj), _attempt())
    s3.delete_object(Bucket=IMAGE_BUCKET, Key="a.jpg")
    face_index.deregister_script.append(RuntimeError("deregistration refused"))
    event = DeleteMessage(object=ObjectRef(bucket=IMAGE_BUCKET, key="a.jpg", sequencer="0A"))
    _send(sqs, url, dump_message(event))
    runner = runner_for(queues, history, importer, deleter, max_receive_count=1)
    assert len(runner.run(receive_as_lambda(sqs, url, arn)).failures) == 1
    failures = list(history.failures_since(clock.now - timedelta(minutes=1)))
    assert [(f.key, f.status) for f in failures] == [("a.jpg", "failed")]
    assert "deregistration refused" in failures[0].reason
    # a later successful delete clears it
    assert deleter.process(event).label == "deleted"
    assert list(history.failures_since(clock.now - timedelta(minutes=1))) == []


def test_a_failing_eventbridge_delete_is_findable_under_the_real_key_of_either_reading(
    queues, s3, history, importer, deleter, face_index, clock
):
    sqs, url, arn, _ = queues
    obj = put_image(s3, "a b.jpg", jpeg_bytes("a"))
    importer.process(import_message(obj), _attempt())
    s3.delete_object(Bucket=IMAGE_BUCKET, Key="a b.jpg")
    face_index.deregister_script.append(RuntimeError("deregistration refused"))
    # The key arrives URL-encoded ("a+b.jpg"): the decoded reading is the object's real key.
    event = {
        "version": "0",
        "id": "ev-2",
        "detail-type": "Object Deleted",
        "source": "aws.s3",
        "time": "2026-11-21T06:00:00Z",
        "detail": {
            "bucket": {"name": IMAGE_BUCKET},
            "object": {"key": "a+b.jpg", "sequencer": "0062E99A88DC407460"},
            "deletion-type": "Delete Marker Created",
        },
    }
    _send(sqs, url, json.dumps(event))
    runner = runner_for(queues, history, importer, deleter, max_receive_count=1)
    assert len(runner.run(receive_as_lambda(sqs, url, arn)).failures) == 1
    failures = list(history.failures_since(clock.now - timedelta(minutes=1)))
    assert "a b.jpg" in {f.key for f in failures}
    assert all("deregistration refused" in f.reason for f in failures)


def test_no_message_is_started_without_enough_time_left(queues, s3, history, importer, deleter, face_index):
    sqs, url, arn, _ = queues
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    _send(sqs, url, dump_message(import_message(obj)))
    runner = runner_for(queues, history, importer, deleter, time_margin_ms=10_000)
    result = runner.run(receive_as_lambda(sqs, url, arn), remaining_ms=lambda: 5_000)
    assert result.labels == ["retry:time"] and len(result.failures) == 1
    assert face_index.register_calls == 0


def test_eventbridge_delete_events_are_processed_with_their_raw_keys(
    queues, s3, history, importer, deleter, face_index
):
    sqs, url, arn, _ = queues
    key = "photos/a b+c%20d.jpg"  # as given: the raw reading of an EventBridge key matches the record
    obj = put_image(s3, key, jpeg_bytes("x"))
    importer.process(import_message(obj), _attempt())
    marker = s3.delete_object(Bucket=IMAGE_BUCKET, Key=key)["VersionId"]
    event = {
        "version": "0",
        "id": "ev-1",
        "detail-type": "Object Deleted",
        "source": "aws.s3",
        "time": "2026-11-21T06:00:00Z",
        "detail": {
            "bucket": {"name": IMAGE_BUCKET},
            "object": {"key": key, "version-id": marker, "sequencer": "0062E99A88DC407460"},
            "deletion-type": "Delete Marker Created",
        },
    }
    _send(sqs, url, json.dumps(event))
    result = runner_for(queues, history, importer, deleter).run(receive_as_lambda(sqs, url, arn))
    assert result.labels == ["deleted"] and face_index.faces == {}
    assert history.get(obj).raw["delete_event_id"] == "ev-1"


def test_retry_delays_grow_jitter_and_respect_limits():
    delays = [retry_delay(n, base_seconds=60, max_seconds=3600, rng=lambda: 1.0) for n in range(1, 9)]
    assert delays == [60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert retry_delay(3, base_seconds=60, max_seconds=3600, rng=lambda: 0.0) == 120  # at least half
    assert retry_delay(1, base_seconds=60, max_seconds=3600, retry_after=500, rng=lambda: 1.0) == 500
    assert retry_delay(1, base_seconds=60, max_seconds=3600, retry_after=10**9) == VISIBILITY_CEILING
    assert retry_delay(100, base_seconds=60, max_seconds=10**9, rng=lambda: 1.0) == VISIBILITY_CEILING


def test_queue_url_from_the_event_source_arn():
    assert (
        queue_url_from_arn("arn:aws:sqs:eu-west-1:123456789012:indexer-input")
        == "https://sqs.eu-west-1.amazonaws.com/123456789012/indexer-input"
    )
    with pytest.raises(ValueError, match="QUEUE_URL"):
        queue_url_from_arn("arn:aws:sns:eu-west-1:1:t")


def _attempt():
    from indexer_fixtures import first_attempt

    return first_attempt()
