"""Tag changes as events: S3's EventBridge "Object Tags Added" / "Object Tags Deleted" (through the
tag-events queue) re-qualify that object version with the same Qualifier as an inventory row's S3 Batch task.

Event shape (S3 User Guide, "EventBridge event message structure" / "Using EventBridge"):
`detail.bucket.name`, `detail.object.key`, `detail.object.etag`, `detail.object.version-id` (versioned
buckets), `request-id`, `requester`; no size and no sequencer.
Read with Powertools' S3EventBridgeNotificationEvent.

- The indexer's own `Indexed=True` tag write is such an event too: the provider answers `skipped:indexed`, so
  it never causes a second import or a loop (and, as for an inventory row, an object queued twice is
  de-duplicated by the indexer's history).
- Only the object's current version is re-qualified (an inventory selects only latest versions too): an event
  for an older version, or for an object deleted since, is `skipped:not-latest` / `skipped:gone`.
- AWS's pages do not say whether `detail.object.key` is URL-encoded: the key as given is tried first, then its
  `unquote_plus` reading (handlers.common.contracts.key_readings), whichever names an object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent

from handlers.batch_qualifier.outcomes import TaskFailure, aws_call
from handlers.batch_qualifier.qualifier import Qualifier, TaskResult
from handlers.batch_qualifier.registration import BatchTask
from handlers.common.contracts import TAG_EVENT_TYPES, MessageError, key_readings

# Outcomes a retry can change (throttling; a role or bug fixed later): the message goes back to the queue and,
# after its maxReceiveCount, to the DLQ. Every other outcome is final (the history records invalid ones).
RETRIED_OUTCOMES = frozenset({"temporary", "denied", "error"})


class TagEventError(ValueError):
    """A queue message that is not an S3 tag event for this function (kept by the DLQ)."""


class RetryTagEvent(Exception):
    """The event's outcome may change on a retry: the batch reports this message as failed."""


@dataclass(frozen=True)
class TagEvent:
    event_id: str
    detail_type: str
    bucket: str
    keys: tuple[str, ...]
    """The key as given, then its decoded reading when that differs."""
    version_id: str | None
    time: str | None


def parse_tag_event(body: str) -> TagEvent:
    try:
        raw = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise TagEventError(f"tag-events message is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise TagEventError(f"tag-events message is a JSON {type(raw).__name__}, not an EventBridge event")
    event = S3EventBridgeNotificationEvent(raw)
    detail_type = raw.get("detail-type")
    if raw.get("source") != "aws.s3" or detail_type not in TAG_EVENT_TYPES:
        raise TagEventError(
            f"not an S3 tag event: source {raw.get('source')!r}, detail-type {detail_type!r} "
            f"(expected aws.s3 and one of {', '.join(TAG_EVENT_TYPES)})"
        )
    try:
        obj = event.detail.object
        bucket = event.detail.bucket.name
        readings = key_readings(obj["key"], f"EventBridge {detail_type!r} event")
    except (KeyError, TypeError, AttributeError) as exc:
        raise TagEventError(f"S3 {detail_type!r} event lacks detail field {exc}") from None
    except MessageError as exc:
        raise TagEventError(str(exc)) from None
    if not isinstance(bucket, str) or not bucket:
        raise TagEventError(f"S3 {detail_type!r} event has no detail.bucket.name")
    version = obj.get("version-id") or None
    return TagEvent(str(raw.get("id") or ""), detail_type, bucket, readings, version, raw.get("time"))


class TagEventQualifier:
    """Turns one tag event into the BatchTask an inventory row of that object version would have been."""

    def __init__(self, qualifier: Qualifier, s3: Any) -> None:
        self._qualifier = qualifier
        self._s3 = s3

    def requalify(self, event: TagEvent) -> TaskResult:
        try:
            current = self._current(event)
        except TaskFailure as failure:
            return TaskResult(failure.result_code, failure.result_string, failure.kind)
        if current is None:
            return TaskResult("Succeeded", "skipped:gone", "skipped")
        key, current_version = current
        if event.version_id and current_version and event.version_id != current_version:
            return TaskResult("Succeeded", "skipped:not-latest", "skipped")
        day = (event.time or datetime.now(UTC).isoformat())[:10]
        task = BatchTask(
            task_id=event.event_id,
            bucket=event.bucket,
            key=key,
            version_id=event.version_id or current_version,
            # One run per day of tag events: `bulk-loader history --run tag-events/<date>` lists them.
            run_id=f"tag-events/{day}",
            job_id=f"tag-event:{event.event_id}" if event.event_id else "tag-event",
            mode="import",
        )
        return self._qualifier.qualify(task)

    def _current(self, event: TagEvent) -> tuple[str, str | None] | None:
        """The first key reading that names an object, with its current version id (None: unversioned)."""
        for key in event.keys:
            try:
                head = aws_call("s3:HeadObject", self._s3.head_object, Bucket=event.bucket, Key=key)
            except TaskFailure as failure:
                if failure.kind == "missing":  # a bare 404 (HeadObject has no body) or a delete marker
                    continue
                raise
            version = head.get("VersionId")
            return key, (None if version in (None, "", "null") else version)
        return None
