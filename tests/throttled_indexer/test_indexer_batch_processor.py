"""The SQS loop is Powertools' BatchProcessor (BackPressureProcessor): an all-busy or all-poison batch is
a partial-failure response, never a function error; Powertools' and aws-lambda-go's real SQS samples pass."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, process_partial_response
from indexer_fixtures import (
    Scripted,
    ScriptedGateway,
    http_indexer_env,
    import_message,
    jpeg_bytes,
    load_indexer_app,
    put_image,
    receive_as_lambda,
    runner_for,
)

# Imported before any test: _load_app re-imports the indexer's modules and puts back only those already
# loaded, so the `importer` fixture's Importer and the GatewayBusy raised here stay of one module.
import handlers.throttled_indexer.importer  # noqa: F401
from handlers.common.contracts import dump_message
from handlers.throttled_indexer.batch import BackPressureProcessor
from handlers.throttled_indexer.gateway import GatewayBusy
from tests.lambda_context import context_factory

FakeContext = context_factory("throttled-indexer", memory_mb=512)
REALDATA = Path(__file__).resolve().parents[1] / "events"  # tests/events: the corpus of real AWS samples
SQS_SAMPLES = ["sqs/powertools.sqsEvent.json", "sqs/aws-lambda-go.sqs-event.json"]


def _sample(name: str) -> dict:
    return json.loads((REALDATA / name).read_text())


def _queue(sqs, name: str = "indexer-input") -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def test_an_all_busy_batch_through_the_handler_is_a_partial_failure_not_an_error(
    monkeypatch, s3, history_table
):
    """Powertools' default (raise_on_entire_batch_failure) would raise BatchProcessingError here."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    url, arn = _queue(sqs)
    objs = [put_image(s3, f"busy/{i}.jpg", jpeg_bytes(f"busy{i}")) for i in range(3)]
    for obj in objs:
        sqs.send_message(QueueUrl=url, MessageBody=dump_message(import_message(obj)))
    records = receive_as_lambda(sqs, url, arn)
    with ScriptedGateway() as api:
        api.script.append(Scripted(429, b'{"message": "slow down"}', {"Retry-After": "7"}))
        app = load_indexer_app(monkeypatch, http_indexer_env(api.url, url))
        response = app.handler({"Records": records}, FakeContext())
        assert len(api.received) == 1  # the rest of the batch was deferred, not attempted
    assert response == {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]}
    assert receive_as_lambda(sqs, url, arn) == []  # every message delayed, none back at once


@pytest.mark.parametrize("name", SQS_SAMPLES)
def test_real_sqs_samples_carrying_no_queue_message_are_dead_lettered(
    queues,
    history,
    importer,
    deleter,
    name,
):
    sqs, url, _, dlq_url = queues
    event = _sample(name)
    runner = runner_for(queues, history, importer, deleter, queue_url=url, dlq_url=dlq_url)
    result = runner.run(event["Records"])
    assert result.response() == {"batchItemFailures": []}
    assert result.labels == ["poison:dead-lettered"] * len(event["Records"])
    dead = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    assert sorted(m["Body"] for m in dead["Messages"]) == sorted(r["body"] for r in event["Records"])


@pytest.mark.parametrize("name", SQS_SAMPLES)
def test_real_sqs_samples_without_a_dlq_are_all_reported_failed_not_raised(
    queues,
    history,
    importer,
    deleter,
    name,
):
    event = _sample(name)
    runner = runner_for(queues, history, importer, deleter, queue_url=queues[1])
    result = runner.run(event["Records"])
    assert result.response() == {
        "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]
    }
    assert result.labels == ["poison"] * len(event["Records"])


@pytest.mark.parametrize("name", SQS_SAMPLES)
def test_a_real_sqs_envelope_with_queue_messages_is_indexed(
    queues,
    s3,
    history,
    importer,
    deleter,
    face_index,
    name,
):
    """The samples' envelopes (receive counts, attributes, Binary/StringList message attributes) as published;
    the bodies are this system's messages."""
    event = _sample(name)
    objs = [put_image(s3, f"sample/{i} +.jpg", jpeg_bytes(f"s{i}")) for i in range(len(event["Records"]))]
    for record, obj in zip(event["Records"], objs, strict=True):
        record["body"] = dump_message(import_message(obj))
    runner = runner_for(queues, history, importer, deleter, queue_url=queues[1])
    result = runner.run(event["Records"])
    assert result.response() == {"batchItemFailures": []}
    assert result.labels == ["indexed"] * len(objs)
    assert {history.get(obj).status for obj in objs} == {"indexed"}


def test_busy_then_the_rest_deferred_with_powertools_process_partial_response(
    queues,
    s3,
    history,
    importer,
    deleter,
    face_index,
):
    """The processor is a drop-in Powertools BatchProcessor: Powertools' own entry point drives it."""
    sqs, url, arn, _ = queues
    objs = [put_image(s3, f"p/{i}.jpg", jpeg_bytes(f"p{i}")) for i in range(3)]
    for obj in objs:
        sqs.send_message(QueueUrl=url, MessageBody=dump_message(import_message(obj)))
    face_index.script.append(GatewayBusy("ThrottlingException", retry_after=3))
    records = receive_as_lambda(sqs, url, arn)
    runner = runner_for(queues, history, importer, deleter)
    processor = BackPressureProcessor(runner, remaining_ms=None)
    assert isinstance(processor, BatchProcessor)
    response = process_partial_response(
        event={"Records": records}, record_handler=runner._process, processor=processor
    )
    assert response == {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]}
    assert processor.labels == ["retry:busy", "retry:deferred", "retry:deferred"]
    assert face_index.register_calls == 1
    # The processor is reusable across invocations (Powertools' _prepare): a new batch starts un-busy.
    make_visible = [
        {"Id": str(i), "ReceiptHandle": r["receiptHandle"], "VisibilityTimeout": 0}
        for i, r in enumerate(records)
    ]
    sqs.change_message_visibility_batch(QueueUrl=url, Entries=make_visible)
    again = receive_as_lambda(sqs, url, arn)
    response = process_partial_response(
        event={"Records": again}, record_handler=runner._process, processor=processor
    )
    assert response == {"batchItemFailures": []}
    assert processor.labels == ["indexed"] * 3
