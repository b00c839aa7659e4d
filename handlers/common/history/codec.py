"""The import-history record codec: the table's item layout (keys of every item kind, time and blob encodings)
and the conversion of a stored object-version item into a `HistoryRecord`.

The layout is ARCHITECTURE section 4's contract ("Import history"); the table's keys and indexes are in
`handlers.common.history_schema`. Item kinds, each under its own key:
- object versions: pk = obj#<bucket>/<key>, sk = v#<version id or 'null'> (`version_key`);
- per key, the newest S3 delete event seen (and a delete no history record matched, or a delete that gave
  up): pk = obj#<bucket>/<key>, sk = DELETE_EVENTS_SK (`delete_events_key`);
- fingerprint claims (one image per user and SHA-256): pk = fp#<user id>#<sha256>, sk = FINGERPRINT_SK.
Only object versions carry the by-run / by-user attributes, and only failures (an object version's, or a
delete that gave up) the sparse `failure` one; fingerprint claims are in no index.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from handlers.common.contracts import HistoryStatus, ObjectRef
from handlers.common.history_schema import (
    PARTITION_KEY,
    RUN_ATTRIBUTE,
    SORT_KEY,
    TIME_ATTRIBUTE,
    USER_ATTRIBUTE,
    object_pk,
    version_sk,
)

# Properties whose JSON is larger than this are stored gzip-compressed (binary): keeps items well under
# DynamoDB's 400 KB and reads/writes cheap.
COMPRESS_OVER_BYTES = 4_096
# Statuses that end in the sparse `failures` index (skipped is a decision, not a failure).
FAILURE_STATUSES = frozenset({HistoryStatus.INVALID, HistoryStatus.FAILED})
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
DELETE_EVENTS_SK = "delete-events"
FINGERPRINT_SK = "fp"
# Set (conditionally on the claim) just before a worker calls the gateway, removed by whoever settles what the
# call did: a record still carrying it may hide a registration whose answer was lost with its worker.
GATEWAY_CALL_ATTRIBUTE = "gateway_call_started"


def format_time(moment: datetime) -> str:
    """UTC, fixed width, so that string order is time order in the indexes."""
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=UTC)


def version_key(obj: ObjectRef) -> dict[str, str]:
    """The key of one object version's item."""
    return {PARTITION_KEY: object_pk(obj.bucket, obj.key), SORT_KEY: version_sk(obj.version_id)}


def delete_events_key(bucket: str, key: str) -> dict[str, str]:
    """The key of an object key's delete-events item (beside its versions, under the same pk)."""
    return {PARTITION_KEY: object_pk(bucket, key), SORT_KEY: DELETE_EVENTS_SK}


def fingerprint_key(user_id: str, fingerprint: str) -> dict[str, str]:
    """The key of the claim "user `user_id` has the image of SHA-256 `fingerprint`"."""
    return {PARTITION_KEY: f"fp#{user_id}#{fingerprint}", SORT_KEY: FINGERPRINT_SK}


def failure_partition(status: str, day: datetime) -> str:
    """Value of the sparse `failure` attribute: status and UTC day, so failures spread over partitions and a
    "failures since T" query reads only the days it needs."""
    return f"{status}#{day.astimezone(UTC):%Y-%m-%d}"


def encode_blob(name: str, value: Any, compress_over_bytes: int) -> dict[str, Any]:
    """`name` as a JSON string, or `name_gz` as gzip bytes when large (caller removes the other)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    encoded = text.encode("utf-8")
    if len(encoded) > compress_over_bytes:
        return {f"{name}_gz": gzip.compress(encoded, mtime=0)}
    return {name: text}


def decode_blob(item: dict[str, Any], name: str) -> Any:
    """What `encode_blob` stored under `name` (inline or compressed), or None."""
    if f"{name}_gz" in item:
        raw = item[f"{name}_gz"]
        data = raw.value if hasattr(raw, "value") else bytes(raw)
        return json.loads(gzip.decompress(data).decode("utf-8"))
    if name in item:
        return json.loads(item[name])
    return None


@dataclass(frozen=True)
class HistoryRecord:
    """One object version's history, as stored (properties decompressed)."""

    bucket: str
    key: str
    version_id: str | None
    status: str
    reason: str | None = None
    user_id: str | None = None
    run_id: str | None = None
    updated_at: datetime | None = None
    fingerprint: str | None = None
    face_ids: tuple[str, ...] = ()
    image_id: str | None = None
    external_image_id: str | None = None
    attempts: int = 0
    properties: dict[str, str] | None = None
    claim_token: str | None = None
    lease_until: datetime | None = None
    etag: str | None = None
    tagged: bool = False
    details: dict[str, Any] | None = None
    """Extra facts of the outcome (a message, Rekognition's unindexed reasons, the duplicate's original)."""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def object_ref(self) -> ObjectRef:
        return ObjectRef(bucket=self.bucket, key=self.key, version_id=self.version_id, etag=self.etag)

    @property
    def gateway_call_started(self) -> bool:
        """A worker called the gateway for this version and nobody has settled what the call did."""
        return GATEWAY_CALL_ATTRIBUTE in self.raw

    def lease_live(self, now: datetime) -> bool:
        """True while a worker's claim on this record still holds."""
        return (
            self.status == HistoryStatus.INDEXING and self.lease_until is not None and self.lease_until > now
        )


def record_from_item(item: dict[str, Any]) -> HistoryRecord:
    """The record of a stored item (an object version's, or a delete-events item read by `failures_since`)."""
    updated = item.get(TIME_ATTRIBUTE)
    lease = item.get("lease_until")
    return HistoryRecord(
        bucket=item.get("bucket", ""),
        key=item.get("object_key", ""),
        version_id=item.get("version_id"),
        status=item["status"],
        reason=item.get("reason"),
        user_id=item.get(USER_ATTRIBUTE),
        run_id=item.get(RUN_ATTRIBUTE),
        updated_at=parse_time(updated) if updated else None,
        fingerprint=item.get("fingerprint"),
        face_ids=tuple(item.get("face_ids") or ()),
        image_id=item.get("image_id"),
        external_image_id=item.get("external_image_id"),
        attempts=int(item.get("attempts", 0)),
        properties=decode_blob(item, "properties"),
        claim_token=item.get("claim_token"),
        lease_until=parse_time(lease) if lease else None,
        etag=item.get("etag"),
        tagged=bool(item.get("tagged", False)),
        details=decode_blob(item, "details"),
        raw=item,
    )
