"""SQS event source mappings: batch size, partial batch failures, whole-batch failures, redrive to the DLQ."""

from __future__ import annotations

import json

from offline.runtime import OfflineRuntime
from tests.offline.conftest import wait_for


def _seen(runtime: OfflineRuntime) -> list[dict]:
    """What the echo function recorded: one item per (message, receive count)."""
    items = runtime.client("dynamodb").scan(TableName=runtime.deployment.outputs["table"])["Items"]
    return [
        {"pk": i["pk"]["S"], "body": i["body"]["S"], "record": json.loads(i["record"]["S"])} for i in items
    ]


def _dlq_bodies(runtime: OfflineRuntime) -> list[str]:
    sqs = runtime.client("sqs")
    bodies = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=runtime.deployment.outputs["dlq_url"], MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            return bodies
        bodies.extend(m["Body"] for m in messages)


def test_partial_failures_are_retried_then_redriven_to_the_dlq(tiny: OfflineRuntime):
    sqs = tiny.client("sqs")
    url = tiny.deployment.outputs["queue_url"]
    bodies = [f"ok-{i}" for i in range(12)] + ["fail-a", "fail-b"]
    for start in range(0, len(bodies), 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[start : start + 10])],
        )
    # maxReceiveCount 2 and a 2 s visibility timeout: each failing message is received twice, then the redrive
    # moves it to the DLQ on the next receive.
    dlq: list[str] = []
    wait_for(lambda: dlq.extend(_dlq_bodies(tiny)) or len(dlq) >= 2, timeout_s=30, what="redrive to the DLQ")
    tiny.run_until_idle(30)
    assert sorted(dlq) == ["fail-a", "fail-b"]
    seen = _seen(tiny)
    ok = [s for s in seen if s["body"].startswith("ok-")]
    assert sorted(s["body"] for s in ok) == sorted(
        bodies[:12]
    )  # each succeeded message processed exactly once
    receives = sorted(s["pk"].rsplit("#", 1)[1] for s in seen if s["body"] == "fail-a")
    assert receives == ["1", "2"]
    record = ok[0]["record"]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == tiny.deployment.mappings[0].queue_arn
    assert record["awsRegion"] == "us-east-1"
    assert {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    } <= set(record["attributes"])
    assert record["receiptHandle"] and record["md5OfBody"]
    stats = tiny.stats()["mappings"][tiny.deployment.mappings[0].uuid]
    assert stats["partial_failures"] >= 1
    assert tiny.stats()["queues"][url.rsplit("/", 1)[1]] == {"visible": 0, "in_flight": 0, "delayed": 0}


def test_batches_respect_the_batch_size(tiny: OfflineRuntime):
    pool = tiny.workers.pool(tiny.deployment.outputs["function_name"])
    before = pool.stats.by_source.copy()
    sqs = tiny.client("sqs")
    url = tiny.deployment.outputs["queue_url"]
    for i in range(0, 20, 10):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": f"size-{i + j}"} for j in range(10)]
        )
    tiny.run_until_idle(30)
    stats = tiny.stats()["mappings"][tiny.deployment.mappings[0].uuid]
    assert stats["batches"] >= 4  # 20 messages, batch size 5
    sizes = [len(s["record"]) for s in _seen(tiny) if s["body"].startswith("size-")]
    assert len(sizes) == 20
    source = f"sqs:{url.rsplit('/', 1)[1]}"
    assert pool.stats.by_source[source] - before.get(source, 0) >= 4


def test_a_failed_batch_is_retried_whole(tiny: OfflineRuntime):
    sqs = tiny.client("sqs")
    url = tiny.deployment.outputs["queue_url"]
    sqs.send_message(QueueUrl=url, MessageBody="raise-once")
    # The handler raises for the whole batch: nothing is deleted, the message returns, then goes to the DLQ.
    dlq: list[str] = []
    wait_for(
        lambda: dlq.extend(_dlq_bodies(tiny)) or "raise-once" in dlq,
        timeout_s=30,
        what="the failed batch in the DLQ",
    )
    tiny.run_until_idle(30)
    assert tiny.stats()["mappings"][tiny.deployment.mappings[0].uuid]["batch_failures"] >= 2
