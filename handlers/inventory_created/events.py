"""The invocations this function accepts, parsed into typed requests.

1. SNS notification of an S3 event (manifest.checksum or manifest.json created), read with Powertools' event
   source data classes; `s3:TestEvent` and events other than ObjectCreated are ignored. A raw S3 event (no SNS
   envelope) is accepted too.
2. Direct: {"bucket": ..., "key": ".../manifest.json" or ".../manifest.checksum", "mode"?: "import",
   "selection"?: "full" | "incremental"} (default: ONLY_NEW_OBJECTS decides).
3. Direct: the manifest itself ({"destinationBucket", "fileFormat", "files": [{"key"}], ...}, "mode"?,
   "selection"?).
4. Fan-out: {"action": "convert", ...}: one data file of an inventory, sent by this function to itself;
   {"action": "dispatch", ...}: the rest of a long list of data files, to fan out from another invocation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord
from aws_lambda_powertools.utilities.data_classes.sns_event import SNSEventRecord
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handlers.inventory_created.errors import EventError

Mode = Literal["import", "reindex"]
MODES: tuple[Mode, ...] = get_args(Mode)
# A direct invocation may ask for every object ("full") or only what changed ("incremental") whatever
# ONLY_NEW_OBJECTS says; without "selection" the setting decides.
Selection = Literal["full", "incremental"]
SELECTIONS: tuple[Selection, ...] = get_args(Selection)
_CHECKSUM_SUFFIX = "manifest.checksum"
_MANIFEST_SUFFIX = "manifest.json"


@dataclass(frozen=True)
class Ignored:
    reason: str


@dataclass(frozen=True)
class ManifestLocation:
    bucket: str
    manifest_key: str
    checksum_key: str | None
    """Set when the trigger was manifest.checksum: the manifest must match it."""
    mode: Mode = "import"
    selection: Selection | None = None


@dataclass(frozen=True)
class ManifestPayload:
    manifest: dict[str, Any]
    mode: Mode = "import"
    selection: Selection | None = None


class ConvertTask(BaseModel):
    """One data file of an inventory (fan-out payload). `manifest` lists just that file."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    action: Literal["convert"] = "convert"
    manifest: dict[str, Any]
    manifest_key: str | None = Field(default=None, alias="manifestKey")
    inventory_id: str = Field(alias="inventoryId", min_length=1)
    source_bucket: str = Field(alias="sourceBucket", min_length=1)
    part: int = Field(ge=0)
    parts: int = Field(ge=1)
    since_ms: int | None = Field(default=None, alias="sinceMs")
    mode: Mode = "import"
    full: bool = False
    """A full re-scan was asked for: its manifests (and so its jobs) are apart from the incremental ones."""


class DispatchTask(BaseModel):
    """Fan out the data files of an S3-held manifest from `start` on (continuation of a long fan-out)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    action: Literal["dispatch"] = "dispatch"
    bucket: str = Field(min_length=1)
    manifest_key: str = Field(alias="manifestKey", min_length=1)
    start: int = Field(ge=1)
    since_ms: int | None = Field(default=None, alias="sinceMs")
    mode: Mode = "import"
    full: bool = False


Request = Ignored | ManifestLocation | ManifestPayload | ConvertTask | DispatchTask


def parse_event(event: Any) -> list[Request]:
    if not isinstance(event, dict):
        raise EventError(f"event must be a JSON object, got {type(event).__name__}")
    if event.get("Event") == "s3:TestEvent":  # S3 notifying the function directly rather than via SNS
        return [Ignored(f"s3:TestEvent for bucket {event.get('Bucket')!r}")]
    if "Records" in event:
        return [request for record in _records(event) for request in _from_record(record)]
    if event.get("action") in ("convert", "dispatch"):
        model = ConvertTask if event["action"] == "convert" else DispatchTask
        try:
            return [model.model_validate(event)]
        except ValidationError as exc:
            raise EventError(f"invalid fan-out task: {_problems(exc)}") from None
    mode, selection = _mode(event), _selection(event)
    if "fileFormat" in event or "files" in event:
        manifest = {k: v for k, v in event.items() if k not in ("mode", "selection")}
        return [ManifestPayload(manifest, mode, selection)]
    if "bucket" in event or "key" in event:
        bucket, key = event.get("bucket"), event.get("key")
        if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
            raise EventError(
                "a direct invocation needs both 'bucket' and 'key' (of manifest.json or manifest.checksum)"
            )
        return [_location(bucket, key, mode, selection)]
    raise EventError(
        "unrecognised event: expected an SNS/S3 notification (Records), {'bucket', 'key'} of an inventory "
        "manifest, or a manifest (destinationBucket, fileFormat, files)"
    )


def _records(event: dict[str, Any]) -> list[Any]:
    records = event["Records"]
    if not isinstance(records, list):
        raise EventError("event field Records must be a list")
    for record in records:
        if not isinstance(record, dict):
            raise EventError("every event record must be a JSON object")
    return records


def _from_record(record: dict[str, Any]) -> list[Request]:
    # A Records list holds SNS records (SNS -> Lambda) or S3 records (S3 -> Lambda), read with Powertools'
    # event source data classes. Shapes: https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html and
    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
    if "Sns" in record:
        return _from_sns(SNSEventRecord(record))
    if record.get("eventSource") == "aws:s3" or "s3" in record:
        return _from_s3(S3EventRecord(record))
    raise EventError(f"unsupported event record (neither SNS nor S3): keys {sorted(record)[:10]}")


def _from_sns(record: SNSEventRecord) -> list[Request]:
    try:
        message = record.sns.message
    except (KeyError, TypeError):
        message = None
    if not isinstance(message, str):
        raise EventError("SNS record has no Sns.Message string")
    try:
        inner = json.loads(message)
    except ValueError as exc:
        raise EventError(f"SNS message is not JSON: {exc}") from None
    if isinstance(inner, dict) and inner.get("Event") == "s3:TestEvent":
        return [Ignored(f"s3:TestEvent for bucket {inner.get('Bucket')!r}")]
    if not isinstance(inner, dict) or "Records" not in inner:
        raise EventError("SNS message is not an S3 event notification (no Records)")
    # The message is the S3 notification itself; S3Event reads its records.
    _records(inner)
    return [request for rec in S3Event(inner).records for request in _from_s3(rec)]


def _from_s3(record: S3EventRecord) -> list[Request]:
    event_name = record.get("eventName")
    if isinstance(event_name, str) and not event_name.startswith("ObjectCreated:"):
        # A removed or restored manifest is no new inventory (the notification asks for ObjectCreated only).
        return [Ignored(f"S3 event {event_name} is not an object creation")]
    try:
        bucket = record.s3.bucket.name
        raw_key = record.s3.get_object.key  # as S3 sent it: Powertools' S3Object.key does not decode
    except (KeyError, TypeError, AttributeError):
        raise EventError("S3 event record lacks s3.bucket.name or s3.object.key") from None
    if not isinstance(bucket, str) or not bucket or not isinstance(raw_key, str) or not raw_key:
        raise EventError("S3 event record has an empty or non-string s3.bucket.name or s3.object.key")
    try:
        # S3 event keys are URL-encoded with `+` for space: decoded exactly once.
        key = unquote_plus(raw_key, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise EventError(
            f"S3 event s3.object.key {raw_key[:200]!r} does not decode to UTF-8: {exc}"
        ) from None
    return [_location(bucket, key, "import")]


def _location(bucket: str, key: str, mode: Mode, selection: Selection | None = None) -> ManifestLocation:
    if key.endswith(_CHECKSUM_SUFFIX):
        manifest_key = key[: -len(_CHECKSUM_SUFFIX)] + _MANIFEST_SUFFIX
        return ManifestLocation(bucket, manifest_key, key, mode, selection)
    if key.endswith(_MANIFEST_SUFFIX):
        return ManifestLocation(bucket, key, None, mode, selection)
    raise EventError(f"s3://{bucket}/{key} is not an inventory manifest (manifest.json or manifest.checksum)")


def _mode(event: dict[str, Any]) -> Mode:
    mode = event.get("mode", "import")
    if mode not in MODES:
        raise EventError(f"event field mode must be one of {', '.join(MODES)}, got {mode!r}")
    return cast(Mode, mode)


def _selection(event: dict[str, Any]) -> Selection | None:
    selection = event.get("selection")
    if selection is not None and selection not in SELECTIONS:
        raise EventError(f"event field selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
    return cast(Selection | None, selection)


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors())
