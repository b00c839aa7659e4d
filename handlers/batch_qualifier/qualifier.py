"""Qualify one S3 Batch task: registration data, image check, queue message, import history.

Every task ends with a result; nothing here raises for a per-task problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from handlers.batch_qualifier.image_probe import ImageProbe, probe_image
from handlers.batch_qualifier.outcomes import (
    TRANSIENT_BOTO_ERRORS,
    ResultCode,
    TaskFailure,
    aws_call,
    classify_client_error,
)
from handlers.batch_qualifier.registration import (
    BatchTask,
    Invalid,
    InvalidRegistration,
    RegistrationProvider,
    Skip,
    UserRegistration,
    check_user_record,
)
from handlers.common.contracts import (
    SQS_MAX_MESSAGE_BYTES,
    HistoryStatus,
    ImportMessage,
    ObjectRef,
    dump_message,
)

logger = Logger(child=True)

# SQS accepts only these characters in a body (#x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF); the
# others can only sit inside JSON strings here, where a \u escape keeps the JSON identical in meaning.
_NOT_SQS_SAFE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class HistoryRecorder(Protocol):
    """The part of `handlers.common.history.HistoryStore` the qualifier uses."""

    def record_queued(self, message: ImportMessage) -> object: ...

    def record_outcome(
        self, obj: ObjectRef, status: HistoryStatus, reason: str, *, user_id: str | None, run_id: str | None
    ) -> object: ...


@dataclass(frozen=True)
class TaskResult:
    result_code: ResultCode
    result_string: str
    outcome: str
    """queued | skipped | invalid | missing | temporary | denied | error: one metric per value."""


class Qualifier:
    def __init__(
        self,
        *,
        s3: Any,
        sqs: Any,
        queue_url: str,
        provider: RegistrationProvider,
        image_suffixes: Iterable[str],
        history: HistoryRecorder | None = None,
    ) -> None:
        self._s3 = s3
        self._sqs = sqs
        self._queue_url = queue_url
        self._provider = provider
        self._suffixes = tuple(suffix.lower() for suffix in image_suffixes)
        self._history = history

    def qualify(self, task: BatchTask) -> TaskResult:
        try:
            return self._qualify(task)
        except TaskFailure as failure:
            logger.warning("task failed", extra={"failure": failure.kind, "action": failure.action})
            return TaskResult(failure.result_code, failure.result_string, failure.kind)
        except Exception as exc:
            # A bug (ours or a custom provider's) must not fail the whole invocation; the report names it.
            logger.exception("unexpected error while qualifying the task")
            return TaskResult("PermanentFailure", f"error:internal: {type(exc).__name__}: {exc}", "error")

    def _qualify(self, task: BatchTask) -> TaskResult:
        if not task.key.lower().endswith(self._suffixes):
            return TaskResult("Succeeded", "skipped:suffix", "skipped")
        registration = self._registration_of(task)
        if isinstance(registration, Skip):
            return TaskResult("Succeeded", f"skipped:{registration.reason}", "skipped")
        if isinstance(registration, Invalid):
            return self._invalid(task, registration, user_id=None)
        try:
            check_user_record(registration.user_id, registration.properties)
            probe = probe_image(self._s3, task.bucket, task.key, task.version_id)
            message, body = self._message(task, registration, probe)
        except InvalidRegistration as problem:
            return self._invalid(task, problem.invalid, user_id=registration.user_id, probe=None)
        response = aws_call(
            "sqs:SendMessage", self._sqs.send_message, QueueUrl=self._queue_url, MessageBody=body
        )
        if self._history is not None and not self._record(
            "record queued", self._history.record_queued, message
        ):
            # The history already holds a later state (indexed / deleted / indexing); the indexer skips it.
            logger.info("history already past queued; record kept")
        logger.info(
            "queued", extra={"message_id": response.get("MessageId"), "user_id": registration.user_id}
        )
        return TaskResult("Succeeded", "queued", "queued")

    def _registration_of(self, task: BatchTask) -> UserRegistration | Skip | Invalid:
        try:
            result = self._provider.get_registration_data(task)
        except ClientError as exc:
            raise classify_client_error("registration provider", exc) from exc
        except TRANSIENT_BOTO_ERRORS as exc:
            raise TaskFailure("temporary", "registration provider", type(exc).__name__) from exc
        if not isinstance(result, UserRegistration | Skip | Invalid):
            raise TypeError(
                f"registration provider returned {type(result).__name__}, not a RegistrationResult"
            )
        return result

    def _message(
        self, task: BatchTask, registration: UserRegistration, probe: ImageProbe
    ) -> tuple[ImportMessage, str]:
        """The queue message: properties inline when the whole body fits in SQS, else by reference."""
        obj = _object_ref(task, probe)
        fields: dict[str, Any] = {
            "object": obj,
            "user_id": registration.user_id,
            "run_id": task.run_id,
            "job_id": task.job_id,
            "task_id": task.task_id or None,
            "mode": task.mode,
        }
        properties = dict(registration.properties) if registration.properties is not None else None
        message = ImportMessage(**fields, properties=properties)
        body = _sqs_body(message)
        if _utf8_size(body) <= SQS_MAX_MESSAGE_BYTES:
            return message, body
        if registration.properties_ref is None:
            raise InvalidRegistration(
                "properties-too-large",
                f"the message is {_utf8_size(body)} bytes (SQS takes {SQS_MAX_MESSAGE_BYTES}) and the "
                "registration provider gave no reference to send instead",
            )
        message = ImportMessage(**fields, properties_ref=registration.properties_ref)
        body = _sqs_body(message)
        if _utf8_size(body) > SQS_MAX_MESSAGE_BYTES:
            raise InvalidRegistration(
                "message-too-large", f"even by reference the message is {_utf8_size(body)} bytes"
            )
        return message, body

    def _invalid(
        self, task: BatchTask, invalid: Invalid, *, user_id: str | None, probe: ImageProbe | None = None
    ) -> TaskResult:
        reason = invalid.describe()
        if self._history is not None:
            obj = _object_ref(task, probe)
            self._record(
                "record invalid",
                self._history.record_outcome,
                obj,
                HistoryStatus.INVALID,
                reason,
                user_id=user_id,
                run_id=task.run_id,
            )
        logger.info("invalid registration data", extra={"reason": reason})
        return TaskResult("PermanentFailure", reason, "invalid")

    def _record(self, what: str, call: Any, *args: Any, **kwargs: Any) -> object:
        # The history is DynamoDB: its throttling and outages become TemporaryFailure, so S3 Batch retries the
        # task (a repeated queue message is harmless: the indexer registers each object version once).
        try:
            return call(*args, **kwargs)
        except ClientError as exc:
            raise classify_client_error(f"dynamodb (import history: {what})", exc) from exc
        except TRANSIENT_BOTO_ERRORS as exc:
            raise TaskFailure("temporary", f"dynamodb (import history: {what})", type(exc).__name__) from exc


def _object_ref(task: BatchTask, probe: ImageProbe | None) -> ObjectRef:
    return ObjectRef(
        bucket=task.bucket,
        key=task.key,
        # A task without a version (a generated manifest, an inventory without version ids) in a versioned
        # bucket: the version the probe read, else the indexer sees a newer current version and skips it.
        version_id=task.version_id or (probe.version_id if probe else None),
        etag=probe.etag if probe else None,
        size=probe.size if probe else None,
    )


def _sqs_body(message: ImportMessage) -> str:
    return _NOT_SQS_SAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", dump_message(message))


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))
