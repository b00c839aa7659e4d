"""SQS event source mappings as Lambda runs them: a poller per mapping with the FUNCTION'S role credentials,
batch size, batching window, maximum concurrency, ReportBatchItemFailures, visibility timeout on failure and
DLQ redrive (moto's)."""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from offline.deployment.deployed import Deployment, MappingSpec
from offline.lambda_runtime.pool import FunctionPool


@dataclass
class MappingStats:
    batches: int = 0
    messages: int = 0
    deleted: int = 0
    partial_failures: int = 0
    batch_failures: int = 0
    throttled: int = 0


class SqsPoller:
    """One SQS event source mapping: poll with the function's role, invoke, delete what succeeded."""

    def __init__(
        self,
        mapping: MappingSpec,
        pool: FunctionPool,
        sqs_client: Any,
        queue_url: str,
        region: str,
        failed_visibility_timeout_s: int | None = None,
    ) -> None:
        self.mapping = mapping
        self.pool = pool
        self.sqs = sqs_client
        self.queue_url = queue_url
        self.region = region
        self.failed_visibility_timeout_s = failed_visibility_timeout_s
        limits = [n for n in (mapping.maximum_concurrency, pool.spec.reserved_concurrency) if n]
        # Lambda scales SQS pollers up to 1000 concurrent batches; maximum or reserved concurrency caps them.
        self.concurrency = max(1, min(limits) if limits else 5)
        self.stats = MappingStats()
        self._active = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(self.concurrency):
            thread = threading.Thread(
                target=self._loop, name=f"esm-{self.mapping.uuid[:8]}-{index}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._active > 0

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self._receive()
            except Exception as exc:  # e.g. the role lost sqs:ReceiveMessage: keep trying, loudly
                print(f"offline events: mapping {self.mapping.uuid} cannot receive: {exc}", file=sys.stderr)
                self._stop.wait(1.0)
                continue
            if not messages:
                continue
            with self._lock:
                self._active += 1
            try:
                self._process(messages)
            except Exception as exc:
                print(f"offline events: mapping {self.mapping.uuid} batch failed: {exc}", file=sys.stderr)
            finally:
                with self._lock:
                    self._active -= 1

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.mapping.batching_window_s
        while len(messages) < self.mapping.batch_size and not self._stop.is_set():
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.mapping.batch_size - len(messages)),
                WaitTimeSeconds=1,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received = response.get("Messages", [])
            messages.extend(received)
            if not received or time.monotonic() >= deadline:
                break
        return messages

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        attributes = message.get("Attributes", {})
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {
                k: attributes[k]
                for k in (
                    "ApproximateReceiveCount",
                    "SentTimestamp",
                    "SenderId",
                    "ApproximateFirstReceiveTimestamp",
                    "AWSTraceHeader",
                    "MessageGroupId",
                    "MessageDeduplicationId",
                    "SequenceNumber",
                )
                if k in attributes
            },
            "messageAttributes": {
                name: {
                    "stringValue": value.get("StringValue"),
                    "binaryValue": value.get("BinaryValue"),
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": value.get("DataType"),
                }
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324 (SQS's checksum)
            "eventSource": "aws:sqs",
            "eventSourceARN": self.mapping.queue_arn,
            "awsRegion": self.region,
        }

    def _process(self, messages: list[dict[str, Any]]) -> None:
        self.stats.batches += 1
        self.stats.messages += len(messages)
        payload = json.dumps({"Records": [self._record(m) for m in messages]}).encode()
        for attempt in range(6):
            result = self.pool.invoke_sync(payload, source=f"sqs:{self.mapping.queue_arn.split(':')[-1]}")
            if result.status != 429:
                break
            # Throttled by reserved concurrency: Lambda's poller backs off and retries the same batch.
            self.stats.throttled += 1
            self._stop.wait(0.1 * 2**attempt)
        by_id = {m["MessageId"]: m for m in messages}
        failed_ids: set[str]
        if result.status != 200 or result.function_error is not None:
            failed_ids = set(by_id)
            self.stats.batch_failures += 1
        elif self.mapping.report_batch_item_failures:
            failed_ids = self._reported_failures(result.payload, set(by_id))
            if failed_ids and failed_ids != set(by_id):
                self.stats.partial_failures += 1
            elif failed_ids:
                self.stats.batch_failures += 1
        else:
            failed_ids = set()
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            self.stats.deleted += len(chunk)
        if failed_ids and self.failed_visibility_timeout_s is not None:
            # Offline time compression (off by default): failed messages come back sooner than the queue's
            # visibility timeout would let them.
            for message_id in failed_ids:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url,
                    ReceiptHandle=by_id[message_id]["ReceiptHandle"],
                    VisibilityTimeout=self.failed_visibility_timeout_s,
                )

    @staticmethod
    def _reported_failures(payload: bytes, batch_ids: set[str]) -> set[str]:
        """Lambda's rules: null/empty -> all succeeded; an invalid response fails the whole batch."""
        try:
            response = json.loads(payload or b"null")
        except ValueError:
            return batch_ids
        if response is None or response == {} or response == "":
            return set()
        if not isinstance(response, dict):
            return set()
        failures = response.get("batchItemFailures")
        if failures is None or failures == []:
            return set()
        if not isinstance(failures, list):
            return batch_ids
        ids = set()
        for item in failures:
            identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not identifier or identifier not in batch_ids:
                return batch_ids
            ids.add(identifier)
        return ids


def start_pollers(
    deployment: Deployment,
    workers: Any,
    sqs_client_for_role: Callable[[str], Any],
    queue_url: Callable[[str], str],
    sqs_backend: Any,
    region: str,
    failed_visibility_timeout_s: int | None,
) -> list[SqsPoller]:
    """One started poller per enabled SQS event source mapping, polling with its function's role; other event
    sources are recorded in `deployment.not_created` (only SQS ones run offline)."""
    pollers = []
    for mapping in deployment.mappings:
        if not mapping.enabled:
            continue
        if ":sqs:" not in mapping.queue_arn:
            deployment.not_created.append(
                {
                    "urn": "",
                    "type": "event source",
                    "name": mapping.queue_arn,
                    "reason": "only SQS event sources run offline",
                }
            )
            continue
        pool = workers.pool(mapping.function_name)
        queue_name = mapping.queue_arn.split(":")[-1]
        sqs_backend.get_queue(queue_name)  # fails loudly if the mapping names a queue that does not exist
        poller = SqsPoller(
            mapping,
            pool,
            sqs_client_for_role(pool.spec.role_arn),
            queue_url(queue_name),
            region,
            failed_visibility_timeout_s,
        )
        poller.start()
        pollers.append(poller)
    return pollers
