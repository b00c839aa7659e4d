"""`bulk-loader redrive`: the DLQ back to the input queue (re-send against moto; SQS's message move task
through a Stubber, as moto lacks it), failed inventory invocations invoked again (Lambda: a Stubber)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from handlers.common.contracts import ImportMessage, ObjectRef, dump_message
from tests.cli.conftest import REGION, Stack, read_json

ATTRIBUTES = {
    "indexer-deliveries": {"DataType": "Number", "StringValue": "7"},
    "indexer-first-sent": {"DataType": "Number", "StringValue": "1764590000"},
    "indexer-error": {"DataType": "String", "StringValue": "gateway answered 503"},
}


def _message(key: str) -> str:
    obj = ObjectRef(bucket="images-bucket", key=key, version_id="v1", etag="e1")
    return dump_message(ImportMessage(object=obj, user_id="user-1", run_id="images-bucket/inv-1"))


def _fill_dlq(stack: Stack, count: int) -> list[str]:
    bodies = [_message(f"k {i}+é.jpg") for i in range(count)]
    for body in bodies:
        stack.sqs.send_message(
            QueueUrl=stack.outputs["dlq_url"], MessageBody=body, MessageAttributes=ATTRIBUTES
        )
    return bodies


def test_resend_moves_every_message_with_its_attributes(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    bodies = _fill_dlq(stack, 13)
    assert stack.cli("redrive", "--dlq", "--method", "resend", "--json") == 0
    result = read_json(capsys)["results"][0]
    assert result["method"] == "resend"
    assert result["moved"] == 13
    assert stack.depth(stack.outputs["dlq_url"]) == 0
    moved = stack.receive_all(stack.outputs["queue_url"])
    assert sorted(m["Body"] for m in moved) == sorted(bodies)
    for message in moved:
        got = {
            k: {"DataType": v["DataType"], "StringValue": v["StringValue"]}
            for k, v in message["MessageAttributes"].items()
        }
        assert got == ATTRIBUTES


def test_max_messages_moves_only_that_many(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    _fill_dlq(stack, 5)
    assert stack.cli("redrive", "--dlq", "--max-messages", "2", "--json") == 0  # auto: a limit re-sends
    assert read_json(capsys)["results"][0]["moved"] == 2
    assert stack.depth(stack.outputs["dlq_url"]) == 3
    assert stack.depth(stack.outputs["queue_url"]) == 2


def test_dry_run_moves_nothing(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    _fill_dlq(stack, 3)
    assert stack.cli("redrive", "--dlq", "--dry-run", "--json") == 0
    result = read_json(capsys)["results"][0]
    assert result["waiting"] == 3
    assert result["moved"] == 0
    assert {s["error"] for s in result["sample"]} == {"gateway answered 503"}
    assert {s["type"] for s in result["sample"]} == {"import"}
    assert stack.depth(stack.outputs["dlq_url"]) == 3
    assert stack.depth(stack.outputs["queue_url"]) == 0


def test_a_failed_send_keeps_the_message_in_the_dlq(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    _fill_dlq(stack, 2)
    gone = stack.outputs["queue_url"].replace("indexer-queue", "deleted-queue")
    assert stack.cli("redrive", "--dlq", "--method", "resend", "--queue-url", gone) == 1
    assert "SendMessage" in capsys.readouterr().out
    assert _held(stack, stack.outputs["dlq_url"]) == 2


def _held(stack: Stack, url: str) -> int:
    """Messages in a queue, visible or not."""
    attributes = stack.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def _sqs_stub(stack: Stack) -> tuple[object, Stubber, str, str]:
    client = boto3.client("sqs", region_name=REGION)
    stub = Stubber(client)
    dlq_arn = "arn:aws:sqs:us-east-1:123456789012:indexer-dlq"
    queue_arn = "arn:aws:sqs:us-east-1:123456789012:indexer-queue"
    dlq, queue = stack.outputs["dlq_url"], stack.outputs["queue_url"]
    stub.add_response(
        "get_queue_attributes",
        {"Attributes": {"ApproximateNumberOfMessages": "40"}},
        {"QueueUrl": dlq, "AttributeNames": ["ApproximateNumberOfMessages"]},
    )
    stub.add_response("list_dead_letter_source_queues", {"queueUrls": [queue]}, {"QueueUrl": dlq})
    stub.add_response(
        "get_queue_attributes",
        {"Attributes": {"QueueArn": dlq_arn}},
        {"QueueUrl": dlq, "AttributeNames": ["QueueArn"]},
    )
    stub.add_response(
        "get_queue_attributes",
        {"Attributes": {"QueueArn": queue_arn}},
        {"QueueUrl": queue, "AttributeNames": ["QueueArn"]},
    )
    return client, stub, dlq_arn, queue_arn


def test_auto_uses_the_message_move_task(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    client, stub, dlq_arn, queue_arn = _sqs_stub(stack)
    stub.add_response(
        "start_message_move_task",
        {"TaskHandle": "handle-1"},
        {"SourceArn": dlq_arn, "DestinationArn": queue_arn, "MaxNumberOfMessagesPerSecond": 50},
    )
    with stub:
        assert stack.cli("redrive", "--dlq", "--rate", "50", "--json", sqs=client) == 0
        stub.assert_no_pending_responses()
    result = read_json(capsys)["results"][0]
    assert (result["method"], result["task_handle"], result["moved"]) == ("move-task", "handle-1", 40)


def test_a_running_move_task_is_reported_as_a_failure(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    client, stub, _, _ = _sqs_stub(stack)
    stub.add_client_error("start_message_move_task", "AWS.SimpleQueueService.UnsupportedOperation", "FIFO")
    with stub:
        assert stack.cli("redrive", "--dlq", "--method", "move-task", sqs=client) == 1
    assert "does not apply to this DLQ" in capsys.readouterr().out
    client, stub, _, _ = _sqs_stub(stack)
    stub.add_client_error("start_message_move_task", "InvalidParameterValue", "a task is already running")
    with stub:
        assert stack.cli("redrive", "--dlq", sqs=client) == 1
    assert "InvalidParameterValue: a task is already running" in capsys.readouterr().err


def test_rate_out_of_bounds_is_bad_usage(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert stack.cli("redrive", "--rate", "501") == 2
    assert "between 1 and 500" in capsys.readouterr().err


def _failure_record(payload: object | None) -> str:
    record = {
        "version": "1.0",
        "timestamp": "2026-12-01T11:00:00.000Z",
        "requestContext": {
            "requestId": "r1",
            "functionArn": "arn:aws:lambda:...:$LATEST",
            "condition": "RetriesExhausted",
        },
        "responsePayload": {"errorMessage": "manifest checksum mismatch", "errorType": "ManifestError"},
    }
    if payload is not None:
        record["requestPayload"] = payload
    return json.dumps(record)


def test_failed_inventory_invocations_are_invoked_again(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    event = {"Records": [{"Sns": {"Message": '{"Records": []}'}}]}
    failures = stack.outputs["inventory_failure_queue_url"]
    stack.sqs.send_message(QueueUrl=failures, MessageBody=_failure_record(event))
    stack.sqs.send_message(QueueUrl=failures, MessageBody=_failure_record(None))
    assert stack.cli("redrive", "--inventory", "--dry-run", "--json") == 0
    sample = read_json(capsys)["results"][0]["sample"]
    assert {s["error"] for s in sample} == {"manifest checksum mismatch"}
    stack.expect_async_invoke(event)
    assert stack.cli("redrive", "--inventory", "--json") == 1  # the record without its event stays
    result = read_json(capsys)["results"][0]
    assert result["moved"] == 1
    assert len(result["failed"]) == 1
    assert "holds no requestPayload" in result["failed"][0]
    stack.stubs["lambda"].assert_no_pending_responses()
    assert _held(stack, failures) == 1  # hidden for the rest of this run, then visible again


def test_redrive_both_by_default(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert stack.cli("redrive", "--dry-run", "--json") == 0
    assert [r["source"] for r in read_json(capsys)["results"]] == ["dlq", "inventory-failures"]


def test_a_stack_without_the_pipeline_redrives_its_dlq_only(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = {k: v for k, v in stack.outputs.items() if not k.startswith("inventory_")}
    stack.outputs_file.write_text(json.dumps(outputs))
    _fill_dlq(stack, 1)
    assert stack.cli("redrive", "--method", "resend", "--json") == 0
    assert [r["source"] for r in read_json(capsys)["results"]] == ["dlq"]
    assert stack.cli("redrive", "--inventory") == 2  # asked for by flag: the stack must have it
    assert "'inventory_failure_queue_url'" in capsys.readouterr().err
