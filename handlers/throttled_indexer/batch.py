"""One SQS batch: process each message, report partial failures, back off when the gateway is busy.

The loop is Powertools' `BatchProcessor` (SQS partial batch responses, `batchItemFailures`): the policy below
is `BackPressureProcessor`, a subclass that short-circuits the way Powertools' `SqsFifoPartialProcessor` does.

Why throttling does not burn the redrive count (every receive counts toward the queue's maxReceiveCount):
- the first busy answer (429/5xx/throttling/timeout) closes the gateway for the rest of the batch: the
  remaining messages are not attempted, they only wait;
- every message that is retried gets a visibility timeout growing with its deliveries (backoff.py), so a
  busy gateway sees fewer and fewer calls instead of a retry storm;
- a message that was only *waiting* (busy gateway, not attempted, or another worker holding its claim) and
  is on its last allowed receive is not sent to the DLQ for it: a copy goes back on the queue (SendMessage,
  with attributes counting the earlier deliveries and the first send time) and the original is deleted.
  The copy starts a fresh receive count; its back-off continues from the total. Only when the message has
  been waiting for longer than `max_wait_seconds` is it given up: `failed` in the history, then the DLQ.
- failures of the message itself (unexpected errors) use the receive count as is: after MAX_RECEIVE_COUNT
  deliveries the history records `failed` with the reason and the redrive policy moves it to the DLQ.
A message that cannot be parsed is recorded (in the history when it names an object, else in the log with
its message id) and copied to the DLQ at once (DLQ_URL), then deleted; without DLQ_URL it is failed with no
delay so the redrive policy moves it after MAX_RECEIVE_COUNT quick deliveries.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, cast

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, FailureResponse, SuccessResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError

from handlers.common.contracts import (
    DeleteMessage,
    HistoryStatus,
    ImportMessage,
    MessageError,
    ObjectRef,
    parse_message,
)
from handlers.common.history import HistoryStore
from handlers.throttled_indexer.backoff import paced_delay, retry_delay
from handlers.throttled_indexer.outcome import Attempt, Outcome
from handlers.throttled_indexer.settings import Settings

# The defaults are the settings model's (one declaration); bootstrap passes the deployed values.
_SETTING = Settings.model_fields

logger = Logger(child=True)

# Message attributes on re-queued copies.
DELIVERIES_ATTRIBUTE = "indexer-deliveries"
FIRST_SENT_ATTRIBUTE = "indexer-first-sent"
ERROR_ATTRIBUTE = "indexer-error"
SOURCE_ID_ATTRIBUTE = "indexer-source-message-id"
# SQS allows 10 message attributes; a copy keeps the original's up to this many besides ours.
MAX_COPIED_ATTRIBUTES = 8
MAX_SEND_DELAY = 900  # SendMessage DelaySeconds limit
# Outcomes that mean "waited, was not the message's fault".
_WAITING = ("retry:busy", "retry:deferred", "retry:in-progress", "retry:claimed", "retry:time")


@dataclass(frozen=True)
class BatchConfig:
    max_receive_count: int = _SETTING["max_receive_count"].default
    backoff_base_seconds: int = _SETTING["backoff_base_seconds"].default
    backoff_max_seconds: int = _SETTING["backoff_max_seconds"].default
    max_wait_seconds: int = int(_SETTING["max_wait_hours"].default * 3600)
    """How long a message may keep waiting on a busy gateway before it is given up (failed + DLQ)."""
    queue_url: str | None = None
    dlq_url: str | None = None
    time_margin_ms: int = 15_000
    """No message is started with less time than this left (bootstrap: 2x the gateway timeout + 5 s)."""
    lease_margin_seconds: int = 60
    gateway_rate_per_second: float | None = None
    """The paced gateway's rate (the slowest paced API): a throttled message waits its place in line at this
    rate (backoff.paced_delay) instead of the exponential back-off. None: not paced."""


@dataclass
class BatchResult:
    failures: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def response(self) -> dict[str, list[dict[str, str]]]:
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in self.failures]}


class RetryLater(Exception):
    """A message that comes back: reported in batchItemFailures, visible again after `seconds`."""

    def __init__(self, outcome: Outcome, seconds: int) -> None:
        super().__init__(f"{outcome.label}: {outcome.reason} (back in {seconds} s)")
        self.outcome = outcome
        self.seconds = seconds


class BackPressureProcessor(BatchProcessor):
    """Powertools' SQS `BatchProcessor` with the indexer's back-pressure policy (see the module docstring).

    Like Powertools' `SqsFifoPartialProcessor`, it short-circuits in `_process_record`: after the first
    busy answer the rest of the batch is not handed to the record handler, only deferred. Every record is
    settled here: finished -> `success_handler` (the event source mapping deletes it); coming back ->
    `failure_handler` (batchItemFailures), its visibility delay set by ChangeMessageVisibilityBatch when the
    batch ends.
    """

    def __init__(self, runner: BatchRunner, remaining_ms: Callable[[], int] | None) -> None:
        # An all-busy (or all-deferred) batch is the back-pressure at work, not a function error: Powertools'
        # default raises BatchProcessingError, failing the invocation (a Lambda error, the whole batch back
        # at the queue's visibility timeout instead of after the delays chosen here).
        super().__init__(EventType.SQS, raise_on_entire_batch_failure=False)
        self._runner = runner
        self._remaining_ms = remaining_ms
        self.labels: list[str] = []
        self._busy: Outcome | None = None
        self._throttled = 0
        self._visibility: list[tuple[str, str, int]] = []  # (queue url, receipt handle, seconds)

    def _prepare(self) -> None:
        super()._prepare()
        self.labels, self._busy, self._visibility = [], None, []
        self._throttled = 0  # throttled messages so far in this batch: their places in the gateway's line

    def _process_record(self, record: dict[str, Any]) -> SuccessResponse | FailureResponse:
        runner, message = self._runner, SQSRecord(record)
        attempt = Attempt(
            receive_count=_receive_count(record),
            max_receive_count=runner._config.max_receive_count,
            lease_seconds=runner._lease_seconds(self._remaining_ms),
        )
        with runner._log_context(message_id=message.message_id, receive_count=attempt.receive_count):
            if self._busy is not None:
                busy = self._busy
                outcome = Outcome.retry(
                    "retry:deferred",
                    busy.reason,
                    busy=True,
                    retry_after=busy.retry_after,
                    throttled=busy.throttled,
                )
            elif self._remaining_ms is not None and self._remaining_ms() < runner._config.time_margin_ms:
                outcome = Outcome.retry("retry:time", "not enough time left in this invocation")
            else:
                outcome = self.handler(message, attempt)
            if outcome.busy and self._busy is None:
                self._busy = outcome
                logger.warning(
                    "gateway busy: deferring the rest of the batch", extra={"reason": outcome.reason}
                )
            self.labels.append(outcome.label)
            runner._count(outcome.label)
            if outcome.throttled:
                self._throttled += 1
            seconds = runner._settle(
                record, outcome, attempt, runner._deliveries(record), position=self._throttled
            )
            if seconds is None:
                return self.success_handler(message, outcome)
            self._visibility.append((runner._queue_url(record), message.receipt_handle, seconds))
            error = RetryLater(outcome, seconds)
            return self.failure_handler(message, (RetryLater, error, None))

    def _clean(self) -> None:
        self._runner._change_visibility(self._visibility)
        super()._clean()


class BatchRunner:
    def __init__(
        self,
        *,
        sqs,
        history: HistoryStore,
        process_import: Callable[[ImportMessage, Attempt], Outcome],
        process_delete: Callable[[DeleteMessage], Outcome],
        config: BatchConfig,
        count: Callable[[str], None] = lambda label: None,
        now: Callable[[], float] = time.time,
        rng: Callable[[], float] | None = None,
        root_logger: Logger | None = None,
    ) -> None:
        self._sqs = sqs
        self._history = history
        self._process_import = process_import
        self._process_delete = process_delete
        self._config = config
        self._count = count
        self._now = now
        self._rng = rng
        # The function's root Logger: message ids appended to it show in every module's log lines.
        self._root_logger = root_logger

    def run(
        self, records: list[dict[str, Any]], remaining_ms: Callable[[], int] | None = None
    ) -> BatchResult:
        processor = BackPressureProcessor(self, remaining_ms)
        with processor(records, self._process):
            processor.process()
        # SQS item identifiers are message ids (str); Powertools' type also admits Kafka's form.
        failures = [cast(str, item["itemIdentifier"]) for item in processor.response()["batchItemFailures"]]
        return BatchResult(failures=failures, labels=processor.labels)

    def _settle(
        self,
        record: dict[str, Any],
        outcome: Outcome,
        attempt: Attempt,
        deliveries: int,
        *,
        position: int = 1,
    ) -> int | None:
        """None: the message is finished (the event source mapping deletes it). Otherwise it is reported as a
        failure and comes back after the returned number of seconds."""
        if outcome.done:
            logger.info("message done", extra={"outcome": outcome.label, "reason": outcome.reason})
            return None
        if outcome.label == "poison":
            return 0
        if (
            outcome.label in _WAITING
            and attempt.last
            and self._requeue(record, deliveries, outcome, position)
        ):
            self._count("requeued")
            return None
        if attempt.last:
            # Visible again at once: the next receive moves it to the DLQ (redrive policy).
            self._give_up(record, outcome, deliveries)
            return 0
        delay = self._delay(deliveries, outcome, position)
        logger.info(
            "message retried later",
            extra={"outcome": outcome.label, "reason": outcome.reason, "delay_seconds": delay},
        )
        return delay

    def _delay(self, deliveries: int, outcome: Outcome, position: int) -> int:
        rate = self._config.gateway_rate_per_second
        if outcome.throttled and rate:
            return paced_delay(position, rate_per_second=rate, retry_after=outcome.retry_after)
        retry_after = outcome.retry_after
        return retry_delay(
            deliveries,
            base_seconds=self._config.backoff_base_seconds,
            max_seconds=self._config.backoff_max_seconds,
            retry_after=retry_after,
            **({"rng": self._rng} if self._rng else {}),
        )

    def _log_context(self, **keys: Any) -> AbstractContextManager[Any]:
        if self._root_logger is None:
            return nullcontext()
        return self._root_logger.append_context_keys(**keys)

    # ------------------------------------------------------------------------------------------ one message
    def _process(self, record: SQSRecord, attempt: Attempt) -> Outcome:
        """The record handler: one message's outcome; it never raises (a failure is an outcome)."""
        try:
            message = parse_message(record.get("body") or "")
        except MessageError as exc:
            return self._poison(record.raw_event, str(exc))
        try:
            if isinstance(message, ImportMessage):
                return self._process_import(message, attempt)
            return self._process_delete(message)
        except Exception as exc:  # any failure of one message must not fail the others: logged, retried
            logger.exception("message failed; it will be retried")
            return Outcome.retry("retry:error", f"{type(exc).__name__}: {exc}"[:1000])

    def _poison(self, record: dict[str, Any], error: str) -> Outcome:
        message_id = record.get("messageId", "?")
        logger.error(
            "unparseable queue message", extra={"error": error, "body_excerpt": record.get("body", "")[:500]}
        )
        obj = _object_named_in(record.get("body", ""))
        if obj is not None:
            try:
                self._history.record_outcome(
                    obj,
                    HistoryStatus.INVALID,
                    "unparseable-message",
                    user_id=None,
                    run_id=None,
                    details={"message": error[:2000], "message_id": message_id},
                )
            except (ClientError, BotoCoreError):
                logger.exception("could not record the unparseable message in the history")
        if self._config.dlq_url:
            try:
                self._sqs.send_message(
                    QueueUrl=self._config.dlq_url,
                    MessageBody=record.get("body", "") or "(empty)",
                    MessageAttributes={
                        ERROR_ATTRIBUTE: {"DataType": "String", "StringValue": error[:1000]},
                        SOURCE_ID_ATTRIBUTE: {"DataType": "String", "StringValue": message_id},
                    },
                )
                return Outcome.finished("poison:dead-lettered", error)
            except (ClientError, BotoCoreError):
                logger.exception(
                    "could not copy the unparseable message to the DLQ; leaving it to the redrive"
                )
        return Outcome.retry("poison", error)

    # ------------------------------------------------------------------------------------------ give up
    def _requeue(self, record: dict[str, Any], deliveries: int, outcome: Outcome, position: int) -> bool:
        """Put a copy of a waiting message back on the queue instead of letting it reach the DLQ."""
        first_sent = _first_sent(record)
        if first_sent is not None and self._now() - first_sent > self._config.max_wait_seconds:
            return False
        queue_url = self._queue_url(record)
        attributes = {
            name: {"DataType": value.get("dataType", "String"), "StringValue": value["stringValue"]}
            for name, value in list(record.get("messageAttributes", {}).items())
            if name not in (DELIVERIES_ATTRIBUTE, FIRST_SENT_ATTRIBUTE)
            and value.get("stringValue") is not None
        }
        attributes = dict(list(attributes.items())[:MAX_COPIED_ATTRIBUTES])
        attributes[DELIVERIES_ATTRIBUTE] = {"DataType": "Number", "StringValue": str(deliveries)}
        attributes[FIRST_SENT_ATTRIBUTE] = {
            "DataType": "Number",
            "StringValue": str(int(first_sent if first_sent is not None else self._now())),
        }
        delay = self._delay(deliveries, outcome, position)
        try:
            self._sqs.send_message(
                QueueUrl=queue_url,
                MessageBody=record["body"],
                MessageAttributes=attributes,
                DelaySeconds=min(delay, MAX_SEND_DELAY),
            )
        except (ClientError, BotoCoreError):
            logger.exception("could not re-queue a waiting message; the redrive policy takes it")
            return False
        logger.info("waiting message re-queued", extra={"deliveries": deliveries, "delay_seconds": delay})
        return True

    def _give_up(self, record: dict[str, Any], outcome: Outcome, deliveries: int) -> None:
        """Last delivery failed: the history says why before the redrive policy moves it to the DLQ."""
        reason = f"gave up after {deliveries} deliveries: {outcome.label}: {outcome.reason}"[:1000]
        try:
            message = parse_message(record.get("body", ""))
        except MessageError:
            return
        try:
            if isinstance(message, ImportMessage):
                # Non-overwriting: an indexed / deleted record stays as it is.
                self._history.record_outcome(
                    message.object,
                    HistoryStatus.FAILED,
                    "gave-up",
                    user_id=message.user_id,
                    run_id=message.run_id,
                    details={"message": reason},
                )
            else:
                # Under every reading of an EventBridge key (as given / decoded, see DeleteMessage), so the
                # failure is found under the object's real key whichever reading that is.
                for key in message.key_readings():
                    self._history.record_delete_failure(message.object.bucket, key, reason)
        except (ClientError, BotoCoreError):
            logger.exception("could not record the give-up in the history", extra={"reason": reason})
        logger.error("message goes to the DLQ", extra={"reason": reason})

    # ------------------------------------------------------------------------------------------ SQS plumbing
    def _change_visibility(self, changes: list[tuple[str, str, int]]) -> None:
        by_queue: dict[str, list[tuple[str, int]]] = {}
        for queue_url, handle, seconds in changes:
            by_queue.setdefault(queue_url, []).append((handle, seconds))
        for queue_url, entries in by_queue.items():
            for start in range(0, len(entries), 10):
                chunk = entries[start : start + 10]
                try:
                    response = self._sqs.change_message_visibility_batch(
                        QueueUrl=queue_url,
                        Entries=[
                            {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                            for i, (handle, seconds) in enumerate(chunk)
                        ],
                    )
                except (ClientError, BotoCoreError):
                    # The queue's own visibility timeout still applies: the message comes back, just sooner.
                    logger.exception("could not extend message visibility")
                    continue
                for failed in response.get("Failed", []):
                    logger.warning("visibility not changed", extra={"error": failed})

    def _queue_url(self, record: dict[str, Any]) -> str:
        if self._config.queue_url:
            return self._config.queue_url
        return queue_url_from_arn(record.get("eventSourceARN", ""))

    def _lease_seconds(self, remaining_ms: Callable[[], int] | None) -> int:
        # A claim must outlive this invocation, so that it can only expire once this worker is gone.
        left = remaining_ms() / 1000 if remaining_ms is not None else 900
        return int(left) + self._config.lease_margin_seconds

    @staticmethod
    def _deliveries(record: dict[str, Any]) -> int:
        earlier = record.get("messageAttributes", {}).get(DELIVERIES_ATTRIBUTE, {}).get("stringValue")
        try:
            return _receive_count(record) + (int(earlier) if earlier else 0)
        except ValueError:
            return _receive_count(record)


def queue_url_from_arn(arn: str) -> str:
    """arn:aws:sqs:<region>:<account>:<name> -> https://sqs.<region>.amazonaws.com/<account>/<name>."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise ValueError(f"not an SQS queue ARN: {arn!r}; set QUEUE_URL")
    partition_suffix = "amazonaws.com.cn" if parts[1] == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{parts[3]}.{partition_suffix}/{parts[4]}/{parts[5]}"


def _receive_count(record: dict[str, Any]) -> int:
    try:
        return max(1, int(record.get("attributes", {}).get("ApproximateReceiveCount", "1")))
    except ValueError:
        return 1


def _first_sent(record: dict[str, Any]) -> float | None:
    carried = record.get("messageAttributes", {}).get(FIRST_SENT_ATTRIBUTE, {}).get("stringValue")
    sent_ms = record.get("attributes", {}).get("SentTimestamp")
    try:
        if carried:
            return float(carried)
        return int(sent_ms) / 1000 if sent_ms else None
    except ValueError:
        return None


def _object_named_in(body: str) -> ObjectRef | None:
    """The object an unparseable message is about, when it names one clearly enough."""
    try:
        data = json.loads(body)
        obj = data.get("object") if isinstance(data, dict) else None
        if isinstance(obj, dict):
            return ObjectRef(bucket=obj["bucket"], key=obj["key"], version_id=obj.get("version_id"))
    except (ValueError, KeyError, TypeError):  # includes pydantic's ValidationError (a ValueError)
        return None
    return None
