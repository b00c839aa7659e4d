"""`bulk-loader redrive --tag-events`: the qualifier's tag-events DLQ back to the tag-events queue, the same
move-task-or-resend logic as the indexer's DLQ (re-send against moto, SQS's message move task through a
Stubber), and plain `redrive` covering it when the stack has the tag-events outputs."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tests.cli.conftest import IMAGE_BUCKET, REGION, Stack, read_json

HOSTILE_KEYS = ("people/a b+c%20é.jpg", 'quo"te,comma.png', "ünï/çødé.jpeg")


def tag_event(key: str, version_id: str) -> dict[str, Any]:
    """Shaped like AWS's example (S3 User Guide, "EventBridge event message structure")."""
    return {
        "version": "0",
        "id": f"event-{version_id}",
        "detail-type": "Object Tags Added",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-12-01T02:32:07Z",
        "region": REGION,
        "resources": [f"arn:aws:s3:::{IMAGE_BUCKET}"],
        "detail": {
            "version": "0",
            "bucket": {"name": IMAGE_BUCKET},
            "object": {"key": key, "etag": "ef71823e383fd23ea6533c8155cd0129", "version-id": version_id},
            "request-id": "C9HBRQFZ0DTZYN4F",
            "requester": "123456789012",
        },
    }


@pytest.fixture
def tags(stack: Stack) -> Stack:
    """The stack with BatchQualifier's tag-events queue and its DLQ (redrive policy as secure_queue's)."""
    dlq_url = stack.sqs.create_queue(QueueName="qualifier-tag-events-dlq")["QueueUrl"]
    dlq_arn = stack.sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = stack.sqs.create_queue(
        QueueName="qualifier-tag-events",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})},
    )["QueueUrl"]
    stack.outputs.update(tag_events_queue_url=queue_url, tag_events_dlq_url=dlq_url)
    stack.outputs_file.write_text(json.dumps(stack.outputs))
    return stack


def _fill(stack: Stack) -> list[str]:
    bodies = [json.dumps(tag_event(key, f"v{i}")) for i, key in enumerate(HOSTILE_KEYS)]
    bodies.append("not an event")  # a message the qualifier refused goes to the DLQ too
    for body in bodies:
        stack.sqs.send_message(QueueUrl=stack.outputs["tag_events_dlq_url"], MessageBody=body)
    return bodies


def test_resend_moves_every_event_back_to_the_tag_events_queue(
    tags: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    bodies = _fill(tags)
    assert tags.cli("redrive", "--tag-events", "--method", "resend", "--json") == 0
    (result,) = read_json(capsys)["results"]
    assert (result["source"], result["method"], result["moved"]) == ("tag-events-dlq", "resend", 4)
    assert tags.depth(tags.outputs["tag_events_dlq_url"]) == 0
    moved = tags.receive_all(tags.outputs["tag_events_queue_url"])
    assert sorted(m["Body"] for m in moved) == sorted(bodies)
    # The indexer's queue and DLQ are not touched by --tag-events.
    assert tags.depth(tags.outputs["queue_url"]) == 0


def test_dry_run_describes_each_event_with_the_qualifiers_parser(
    tags: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(tags)
    assert tags.cli("redrive", "--tag-events", "--dry-run", "--json") == 0
    (result,) = read_json(capsys)["results"]
    assert (result["waiting"], result["moved"]) == (4, 0)
    described = {s["object"]: s for s in result["sample"] if "object" in s}
    assert set(described) == {f"s3://{IMAGE_BUCKET}/{key}" for key in HOSTILE_KEYS}
    assert {s["type"] for s in described.values()} == {"Object Tags Added"}
    assert {s["version_id"] for s in described.values()} == {"v0", "v1", "v2"}
    (refused,) = [s for s in result["sample"] if "unparseable" in s]
    assert "not JSON" in refused["unparseable"]
    assert tags.depth(tags.outputs["tag_events_dlq_url"]) == 4
    assert tags.depth(tags.outputs["tag_events_queue_url"]) == 0


def test_plain_redrive_covers_the_tag_events_dlq_when_the_stack_has_it(
    tags: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert tags.cli("redrive", "--dry-run", "--json") == 0
    sources = [r["source"] for r in read_json(capsys)["results"]]
    assert sources == ["dlq", "inventory-failures", "tag-events-dlq"]


def test_tag_events_on_a_stack_without_the_route_is_bad_usage(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stack.cli("redrive", "--tag-events") == 2
    err = capsys.readouterr().err
    assert "'tag_events_dlq_url'" in err and "BatchQualifier" in err and "--tag-events-dlq-url" in err


def test_auto_uses_the_message_move_task_to_the_tag_events_queue(
    tags: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    client = boto3.client("sqs", region_name=REGION)
    stub = Stubber(client)
    dlq, queue = tags.outputs["tag_events_dlq_url"], tags.outputs["tag_events_queue_url"]
    dlq_arn = "arn:aws:sqs:us-east-1:123456789012:qualifier-tag-events-dlq"
    queue_arn = "arn:aws:sqs:us-east-1:123456789012:qualifier-tag-events"
    stub.add_response(
        "get_queue_attributes",
        {"Attributes": {"ApproximateNumberOfMessages": "3"}},
        {"QueueUrl": dlq, "AttributeNames": ["ApproximateNumberOfMessages"]},
    )
    stub.add_response("list_dead_letter_source_queues", {"queueUrls": [queue]}, {"QueueUrl": dlq})
    for url, arn in ((dlq, dlq_arn), (queue, queue_arn)):
        stub.add_response(
            "get_queue_attributes",
            {"Attributes": {"QueueArn": arn}},
            {"QueueUrl": url, "AttributeNames": ["QueueArn"]},
        )
    stub.add_response(
        "start_message_move_task",
        {"TaskHandle": "tags-1"},
        {"SourceArn": dlq_arn, "DestinationArn": queue_arn},
    )
    with stub:
        assert tags.cli("redrive", "--tag-events", "--json", sqs=client) == 0
        stub.assert_no_pending_responses()
    (result,) = read_json(capsys)["results"]
    assert (result["method"], result["task_handle"], result["moved"]) == ("move-task", "tags-1", 3)
