"""The contracts between the functions (ARCHITECTURE section 4), in one place.

- object keys: how they are encoded in S3 Batch manifests and decoded from S3 Batch events;
- the queue message that the batch qualifier (and image-bucket delete events) put on the indexer's queue;
- the import-history statuses.

Every producer and consumer imports these; a change here is a change of contract.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Final, Literal
from urllib.parse import quote, unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

MESSAGE_VERSION: Final = 1
# SQS's hard limit for a message body; properties larger than what fits go by reference (properties_ref).
SQS_MAX_MESSAGE_BYTES = 262_144
# A user record (user id + properties) must fit in a DynamoDB item, with room for the history's own fields.
USER_RECORD_MAX_BYTES = 400_000
# S3 User Guide, "Naming Amazon S3 objects": a key name is at most 1024 bytes of UTF-8.
S3_KEY_MAX_BYTES = 1024
# S3's EventBridge detail-types for object tag changes (S3 User Guide, "Using EventBridge", event types): the
# stack's rule matches them, the qualifier re-qualifies the object on each.
TAG_EVENT_TYPES = ("Object Tags Added", "Object Tags Deleted")


# ---------------------------------------------------------------------------------------------- object keys
def encode_manifest_key(key: str) -> str:
    """Encode an object key for an S3BatchOperations_CSV_20180820 manifest row.

    Percent-encodes everything but `/` (space -> %20, `+` -> %2B, `,` and `"` too), never a literal `+`, so
    S3 Batch's decoding and ours (`decode_batch_key`) give the original key back whichever of `unquote` /
    `unquote_plus` semantics is applied.
    """
    return quote(key, safe="/")


def decode_batch_key(s3_key: str) -> str:
    """Decode the URL-encoded `s3Key` of an S3 Batch task, exactly once.

    `unquote_plus` is what S3 Batch's own encoding needs (Powertools' S3BatchOperationTask does the same).
    """
    return unquote_plus(s3_key, encoding="utf-8")


# ---------------------------------------------------------------------------------------------- statuses
class HistoryStatus(StrEnum):
    QUEUED = "queued"
    INDEXING = "indexing"
    """Claimed by an indexer worker under a lease (between queued and the outcome)."""
    INDEXED = "indexed"
    SKIPPED = "skipped"
    INVALID = "invalid"
    FAILED = "failed"
    DELETED = "deleted"


# Statuses whose records expire by TTL (success and deletion records are kept).
EXPIRING_STATUSES = frozenset(
    {
        HistoryStatus.QUEUED,
        HistoryStatus.INDEXING,
        HistoryStatus.SKIPPED,
        HistoryStatus.INVALID,
        HistoryStatus.FAILED,
    }
)


# ---------------------------------------------------------------------------------------------- queue message
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ObjectRef(_Model):
    """One version of one object in the image bucket."""

    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=1024)
    version_id: str | None = None
    """None for unversioned buckets; the literal S3 value 'null' is normalised to None."""
    etag: str | None = None
    """ETag without quotes, as qualified; the indexer reads the image only if it still has this ETag."""
    size: int | None = Field(default=None, ge=0)
    sequencer: str | None = None
    """S3's hex event sequencer, when the message comes from an S3 event; orders events of one key."""


class ImportMessage(_Model):
    """A qualified image to register. Sent by the batch qualifier."""

    v: Literal[1] = MESSAGE_VERSION
    type: Literal["import"] = "import"
    object: ObjectRef
    user_id: str = Field(min_length=1, max_length=128)
    properties: dict[str, str] | None = None
    """Inline properties, when the whole message fits in SQS's limit."""
    properties_ref: str | None = None
    """`s3://bucket/key` of a JSON object of strings, when the properties are too large to inline."""
    run_id: str = Field(min_length=1)
    """Identifies the inventory run / batch job that produced the message (S3 Batch user argument)."""
    job_id: str | None = None
    task_id: str | None = None
    mode: Literal["import", "reindex"] = "import"
    enqueued_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class DeleteMessage(_Model):
    """An image-bucket deletion to deregister. Built from EventBridge "Object Deleted" events."""

    v: Literal[1] = MESSAGE_VERSION
    type: Literal["delete"] = "delete"
    object: ObjectRef
    """`object.key` is the key exactly as the event gave it."""
    decoded_key: str | None = Field(default=None, min_length=1, max_length=1024)
    """The key URL-decoded once (`unquote_plus`), when that differs from `object.key`: AWS's EventBridge pages
    do not say whether `detail.object.key` is encoded (Powertools decodes it), so both readings are kept and
    the deleter matches whichever the history holds."""
    event_id: str | None = None
    event_time: datetime | None = None
    enqueued_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def key_readings(self) -> tuple[str, ...]:
        """The key as given, then its decoded reading when that differs."""
        if self.decoded_key is None or self.decoded_key == self.object.key:
            return (self.object.key,)
        return (self.object.key, self.decoded_key)


QueueMessage = Annotated[ImportMessage | DeleteMessage, Field(discriminator="type")]
_QUEUE_MESSAGE = TypeAdapter(QueueMessage)


class MessageError(ValueError):
    """A queue message that can never be processed; the text says what was wrong."""


def dump_message(message: ImportMessage | DeleteMessage) -> str:
    return message.model_dump_json(exclude_none=True)


def parse_message(body: str) -> ImportMessage | DeleteMessage:
    """Parse a queue message body: our versioned JSON, or a raw EventBridge S3 "Object Deleted" event."""
    try:
        data = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise MessageError(f"message body is not JSON: {exc}") from exc
    if isinstance(data, dict) and data.get("source") == "aws.s3" and "detail-type" in data:
        return delete_message_from_eventbridge(data)
    try:
        return _QUEUE_MESSAGE.validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors())
        raise MessageError(f"invalid queue message: {problems}") from exc


def delete_message_from_eventbridge(event: dict) -> DeleteMessage:
    """Turn an EventBridge S3 "Object Deleted" event (S3 User Guide, "EventBridge event message structure")
    into a DeleteMessage, read with Powertools' S3EventBridgeNotificationEvent. Keeps both readings of the
    key: as given, and decoded once (what Powertools' `detail.object.key` returns)."""
    parsed = S3EventBridgeNotificationEvent(event)
    if parsed.get("detail-type") != "Object Deleted":
        raise MessageError(
            f"unexpected EventBridge event type {parsed.get('detail-type')!r}; expected 'Object Deleted'"
        )
    try:
        detail = parsed.detail
        obj = detail.object
        readings = key_readings(obj["key"])
        return DeleteMessage(
            object=ObjectRef(
                bucket=detail.bucket.name,
                key=readings[0],
                version_id=obj.get("version-id"),
                etag=obj.get("etag"),
                sequencer=obj.get("sequencer"),
            ),
            decoded_key=readings[1] if len(readings) > 1 else None,
            event_id=parsed.get("id"),
            event_time=parsed.get("time"),
        )
    except (KeyError, TypeError) as exc:
        raise MessageError(f"EventBridge 'Object Deleted' event lacks {exc}") from exc
    except ValidationError as exc:
        raise MessageError(f"EventBridge 'Object Deleted' event is invalid: {exc}") from exc


def key_readings(given: object, event: str = "EventBridge 'Object Deleted' event") -> tuple[str, ...]:
    """`detail.object.key` as given, then decoded once, each only if it can be an S3 key (1-1024 UTF-8 bytes;
    a decoding that is not UTF-8 cannot be one). The first is what `object.key` becomes."""
    if not isinstance(given, str):
        raise MessageError(f"{event}: detail.object.key is not a string: {given!r}")
    readings = [given]
    try:
        decoded = unquote_plus(given, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        decoded = given
    if decoded != given:
        readings.append(decoded)
    possible = tuple(k for k in readings if 0 < len(k.encode("utf-8", "surrogatepass")) <= S3_KEY_MAX_BYTES)
    if not possible:
        raise MessageError(
            f"{event}: detail.object.key is not an S3 key under either reading "
            f"(1 to {S3_KEY_MAX_BYTES} bytes of UTF-8): {given[:200]!r}"
        )
    return possible
