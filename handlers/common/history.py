"""The import-history access layer (ARCHITECTURE section 4, "Import history"), shared by the functions.

One item per object version (keys in `handlers.common.history_schema`). Every write is conditional where two
writers can race: the batch qualifier's `queued` never overwrites an object version that is already indexed,
being indexed or deleted, and a worker only finishes an import it still holds the claim for.

Item attributes: status, reason, user_id, run_id, job_id, task_id, etag, fingerprint (SHA-256 hex), face_ids /
image_id (gateway ids), external_image_id, attempts, created_at, updated_at; `failure` (sparse index key) and
`expires_at` (TTL) only on non-success records; properties inline, or gzip-compressed when large;
`gateway_call_started` while a registration may exist that the record does not show yet (see
`mark_gateway_call`).
"""

from __future__ import annotations

import gzip
import json
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from handlers.common.contracts import EXPIRING_STATUSES, HistoryStatus, ImportMessage, ObjectRef
from handlers.common.history_schema import (
    BY_RUN_INDEX,
    BY_USER_INDEX,
    FAILURE_ATTRIBUTE,
    FAILURES_INDEX,
    PARTITION_KEY,
    RUN_ATTRIBUTE,
    SORT_KEY,
    TIME_ATTRIBUTE,
    TTL_ATTRIBUTE,
    USER_ATTRIBUTE,
    object_pk,
    version_sk,
)

DEFAULT_TTL_DAYS = 14
# Properties whose JSON is larger than this are stored gzip-compressed (binary): keeps items well under
# DynamoDB's 400 KB and reads/writes cheap.
COMPRESS_OVER_BYTES = 4_096
# Statuses that end in the sparse `failures` index (skipped is a decision, not a failure).
FAILURE_STATUSES = frozenset({HistoryStatus.INVALID, HistoryStatus.FAILED})
# A record in one of these states is never overwritten by a queued / skipped / invalid / failed outcome.
_FINAL_STATES = (HistoryStatus.INDEXED.value, HistoryStatus.DELETED.value)
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# Other item kinds in the same table (history_schema: "their own pk prefix"):
# - per key, the newest S3 delete event seen (and a delete no history record matched, or a delete that gave
#   up): pk = obj#<bucket>/<key>, sk = DELETE_EVENTS_SK;
# - fingerprint claims (one image per user and SHA-256): pk = fp#<user id>#<sha256>, sk = FINGERPRINT_SK.
# Neither carries the index attributes, so they stay out of the by-run / by-user / failures indexes.
DELETE_EVENTS_SK = "delete-events"
FINGERPRINT_SK = "fp"
TIME_SEEN_ATTRIBUTE = "seen_at"
# S3 sequencers are hex strings of varying length (16 and 18 digits in AWS's samples, either case); padded to
# this width they compare as strings.
SEQUENCER_WIDTH = 64
# On the delete-events item: the newest sequencer in the current rule's encoding (`pad_sequencer`), and as S3
# sent it (for people reading the item). Items written before the rule changed hold a left-padded value under
# LEGACY_SEQUENCER_ATTRIBUTE: left-padding lost the value's length (leading zeros of the value and of the
# padding look alike), so it cannot be re-encoded. It is ignored for ordering and removed by the next write;
# the items expire by TTL anyway. Ordering is the second guard only: the deleter acts on S3's liveness
# (HeadObject), the importer reads the image as the current version with the qualified ETag.
SEQUENCER_ORDER_ATTRIBUTE = "sequencer_order"
SEQUENCER_SEEN_ATTRIBUTE = "sequencer_seen"
LEGACY_SEQUENCER_ATTRIBUTE = "sequencer"
# Set (conditionally on the claim) just before a worker calls the gateway, removed by whoever settles what the
# call did: a record still carrying it may hide a registration whose answer was lost with its worker.
GATEWAY_CALL_ATTRIBUTE = "gateway_call_started"


def format_time(moment: datetime) -> str:
    """UTC, fixed width, so that string order is time order in the indexes."""
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=UTC)


def pad_sequencer(sequencer: str) -> str:
    """A key that orders the sequencers of one object key by S3's rule, as plain string comparison.

    S3 User Guide, "Event message structure"
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html): "The
    sequencers can be of different lengths. So, to compare these values, first right pad the shorter value
    with zeros, and then do a lexicographical comparison." (Older revisions said left pad.) Right-padding
    every value to one width does that for any pair; hex digits are compared in one case (samples use both).
    """
    text = sequencer.strip().upper()
    if not text or len(text) > SEQUENCER_WIDTH or any(c not in "0123456789ABCDEF" for c in text):
        raise ValueError(f"not an S3 sequencer (hex, at most {SEQUENCER_WIDTH} digits): {sequencer!r}")
    return text.ljust(SEQUENCER_WIDTH, "0")


def fingerprint_pk(user_id: str, fingerprint: str) -> str:
    return f"fp#{user_id}#{fingerprint}"


def failure_partition(status: str, day: datetime) -> str:
    """Value of the sparse `failure` attribute: status and UTC day, so failures spread over partitions and a
    "failures since T" query reads only the days it needs."""
    return f"{status}#{day.astimezone(UTC):%Y-%m-%d}"


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


class HistoryError(RuntimeError):
    """The history table refused or failed a write in a way the caller must handle."""


class HistoryStore:
    """Reads and writes the import-history table. `table` is a boto3 DynamoDB Table resource."""

    def __init__(
        self,
        table,
        ttl_days: int = DEFAULT_TTL_DAYS,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        compress_over_bytes: int = COMPRESS_OVER_BYTES,
    ) -> None:
        if ttl_days < 1:
            raise ValueError(f"ttl_days must be at least 1, got {ttl_days}")
        self.table = table
        self.ttl_days = ttl_days
        self._clock = clock
        self._compress_over = compress_over_bytes

    # ------------------------------------------------------------------------------------------- writes
    def record_queued(self, message: ImportMessage) -> bool:
        """Record that `message` was put on the indexer's queue.

        Never overwrites an object version that is indexed, deleted or being indexed (a re-run of the
        inventory, a retried batch task); returns False in that case, True when the record was written.
        """
        now = self._clock()
        names = {"#status": "status"}
        values: dict[str, Any] = {
            ":indexing": HistoryStatus.INDEXING.value,
        }
        sets = {
            "status": HistoryStatus.QUEUED.value,
            "reason": "queued",
            USER_ATTRIBUTE: message.user_id,
            RUN_ATTRIBUTE: message.run_id,
            TIME_ATTRIBUTE: format_time(now),
            TTL_ATTRIBUTE: self._expiry(now),
            "enqueued_at": format_time(message.enqueued_at),
            "bucket": message.object.bucket,
            "object_key": message.object.key,
        }
        optional = {
            "version_id": message.object.version_id,
            "etag": message.object.etag,
            "job_id": message.job_id,
            "task_id": message.task_id,
            "properties_ref": message.properties_ref,
        }
        sets.update({k: v for k, v in optional.items() if v is not None})
        sets.update(self._properties_attributes(message.properties))
        # Whichever form (inline / compressed) was not written this time must not linger from an older write.
        removes = [FAILURE_ATTRIBUTE, "claim_token", "lease_until", "properties", "properties_gz"]
        for i, value in enumerate(_FINAL_STATES):
            values[f":final{i}"] = value
        condition = f"attribute_not_exists({PARTITION_KEY}) OR NOT (#status IN (:final0, :final1, :indexing))"
        return self._update(
            message.object, sets, removes, condition, names, values, created_at=now, add_attempts=False
        )

    def record_outcome(
        self,
        obj: ObjectRef,
        status: HistoryStatus,
        reason: str,
        *,
        user_id: str | None,
        run_id: str | None,
        fingerprint: str | None = None,
        face_ids: Iterable[str] | None = None,
        image_id: str | None = None,
        external_image_id: str | None = None,
        details: dict[str, Any] | None = None,
        claim_token: str | None = None,
        expect_status: str | None = None,
        extra: dict[str, Any] | None = None,
        settles_gateway_call: bool | None = None,
    ) -> bool:
        """Record the outcome of processing one object version.

        - With `claim_token` (the worker's claim from `claim`): written only while that claim still holds;
          returns False when someone else changed the record (e.g. a deletion while the import was in flight).
        - Without: queued / skipped / invalid / failed never overwrite an indexed or deleted record (an old or
          duplicate message must not undo newer state); indexed never overwrites deleted; deleted always wins.
        - With `expect_status` (and, for `indexing`, `claim_token`): written only if the record is still in
          that state (compare-and-set, e.g. the deleter moving an indexed record to deleted).
        `details` (JSON-serialisable) is stored compressed when large, e.g. Rekognition's unindexed reasons;
        `extra` are further plain attributes (e.g. the sequencer of the deleting event).
        `settles_gateway_call` removes the `gateway_call_started` mark (default: when writing with
        `claim_token`, i.e. the claimant, who knows what its gateway call did). Others keep it, so the
        next claimant still looks for a registration a dead worker may have left.
        """
        status = HistoryStatus(status)
        now = self._clock()
        names = {"#status": "status"}
        values: dict[str, Any] = {}
        sets: dict[str, Any] = {
            "status": status.value,
            "reason": reason,
            TIME_ATTRIBUTE: format_time(now),
            "bucket": obj.bucket,
            "object_key": obj.key,
        }
        optional: dict[str, Any] = {
            USER_ATTRIBUTE: user_id,
            RUN_ATTRIBUTE: run_id,
            "version_id": obj.version_id,
            "etag": obj.etag,
            "fingerprint": fingerprint,
            "image_id": image_id,
            "external_image_id": external_image_id,
        }
        sets.update({k: v for k, v in optional.items() if v is not None})
        if face_ids is not None:
            face_list = list(face_ids)
            if face_list:
                sets["face_ids"] = face_list
        if details is not None:
            sets.update(self._blob_attributes("details", details))
        if extra:
            sets.update(extra)
        removes = ["claim_token", "lease_until"]
        if details is not None:
            removes += ["details", "details_gz"]
        if settles_gateway_call if settles_gateway_call is not None else claim_token is not None:
            removes.append(GATEWAY_CALL_ATTRIBUTE)
        if status in EXPIRING_STATUSES:
            sets[TTL_ATTRIBUTE] = self._expiry(now)
        else:
            removes.append(TTL_ATTRIBUTE)
        if status in FAILURE_STATUSES:
            sets[FAILURE_ATTRIBUTE] = failure_partition(status.value, now)
        else:
            removes.append(FAILURE_ATTRIBUTE)
        if expect_status is not None:
            values[":expected"] = expect_status
            condition = "#status = :expected"
            if claim_token is not None:
                values[":token"] = claim_token
                condition += " AND claim_token = :token"
        elif claim_token is not None:
            values.update({":token": claim_token, ":indexing": HistoryStatus.INDEXING.value})
            condition = "#status = :indexing AND claim_token = :token"
        elif status is HistoryStatus.DELETED:
            condition = None
        elif status is HistoryStatus.INDEXED:
            values[":deleted"] = HistoryStatus.DELETED.value
            condition = f"attribute_not_exists({PARTITION_KEY}) OR #status <> :deleted"
        else:
            values.update({":final0": _FINAL_STATES[0], ":final1": _FINAL_STATES[1]})
            condition = f"attribute_not_exists({PARTITION_KEY}) OR NOT (#status IN (:final0, :final1))"
        return self._update(obj, sets, removes, condition, names, values, created_at=now, add_attempts=False)

    # ------------------------------------------------------------------------------------------- claims
    def claim(
        self, obj: ObjectRef, *, lease_seconds: int, allow_indexed: bool = False
    ) -> tuple[str | None, HistoryRecord | None]:
        """Claim an object version for indexing: status `indexing`, a random token and a lease.

        Succeeds when the record is absent, queued, skipped, invalid or failed, or `indexing` under an expired
        lease (a worker that died). Returns (token, record as it was before the claim, or None) on success,
        (None, current record) when someone else holds it or it is already indexed / deleted.
        `allow_indexed` lets a re-index take an indexed or deleted record (the caller restores it with
        `restore` if the re-registration does not happen).
        In an unversioned bucket the one record (`v#null`) is reused: a deleted record whose ETag differs from
        `obj.etag` belongs to content that is gone, so new content under the same key may be claimed.
        """
        now = self._clock()
        token = secrets.token_hex(16)
        names = {"#status": "status"}
        values: dict[str, Any] = {
            ":indexing": HistoryStatus.INDEXING.value,
            ":deleted": HistoryStatus.DELETED.value,
            ":indexed": HistoryStatus.INDEXED.value,
            ":now": format_time(now),
        }
        sets: dict[str, Any] = {
            "status": HistoryStatus.INDEXING.value,
            "reason": "indexing",
            "claim_token": token,
            "lease_until": format_time(now + timedelta(seconds=lease_seconds)),
            TIME_ATTRIBUTE: format_time(now),
            TTL_ATTRIBUTE: self._expiry(now),
            "bucket": obj.bucket,
            "object_key": obj.key,
        }
        if obj.version_id is not None:
            sets["version_id"] = obj.version_id
        if obj.etag is not None:
            sets["etag"] = obj.etag
        condition = (
            f"attribute_not_exists({PARTITION_KEY}) OR (#status = :indexing AND lease_until < :now) OR "
        )
        if allow_indexed:
            condition += "#status <> :indexing"
        else:
            condition += "(#status <> :indexing AND NOT (#status IN (:deleted, :indexed)))"
        if obj.version_id is None and obj.etag is not None:
            values[":etag"] = obj.etag
            condition += " OR (#status = :deleted AND attribute_not_exists(version_id) AND etag <> :etag)"
        # A re-index keeps the face ids of the registration it replaces until it has a new one: a deletion
        # meanwhile must still find them. Otherwise no registration exists and no ids may linger.
        removes = [FAILURE_ATTRIBUTE, "tagged"] + ([] if allow_indexed else ["face_ids", "image_id"])
        before: dict[str, Any] = {}
        written = self._update(
            obj, sets, removes, condition, names, values, created_at=now, add_attempts=True, previous=before
        )
        if written:
            return token, (self._record(before) if before else None)
        return None, self.get(obj)

    def mark_gateway_call(self, obj: ObjectRef, claim_token: str, *, user_id: str, fingerprint: str) -> bool:
        """Record, on the claim this worker holds, that it is about to call the gateway for `user_id` with the
        image of SHA-256 `fingerprint`: enough for whoever finds the mark later to look the registration
        up. False when the claim is no longer ours (e.g. a deletion took the record)."""
        now = self._clock()
        sets = {
            GATEWAY_CALL_ATTRIBUTE: format_time(now),
            USER_ATTRIBUTE: user_id,
            "fingerprint": fingerprint,
            TIME_ATTRIBUTE: format_time(now),
        }
        return self._update(
            obj,
            sets,
            [],
            "#status = :indexing AND claim_token = :token",
            {"#status": "status"},
            {":indexing": HistoryStatus.INDEXING.value, ":token": claim_token},
            created_at=now,
            add_attempts=False,
        )

    def release(
        self, obj: ObjectRef, claim_token: str, reason: str, *, may_have_registered: bool = True
    ) -> bool:
        """Give a claim back after a transient failure: the record returns to `queued` with the reason, so
        the next delivery of the message can claim it again at once. A `gateway_call_started` mark stays
        unless the caller knows that nothing was registered (`may_have_registered=False`)."""
        now = self._clock()
        sets = {
            "status": HistoryStatus.QUEUED.value,
            "reason": reason,
            TIME_ATTRIBUTE: format_time(now),
            TTL_ATTRIBUTE: self._expiry(now),
        }
        values = {":indexing": HistoryStatus.INDEXING.value, ":token": claim_token}
        condition = "#status = :indexing AND claim_token = :token"
        return self._update(
            obj,
            sets,
            ["claim_token", "lease_until"] + ([] if may_have_registered else [GATEWAY_CALL_ATTRIBUTE]),
            condition,
            {"#status": "status"},
            values,
            created_at=now,
            add_attempts=False,
        )

    def restore(self, record: HistoryRecord, claim_token: str, *, may_have_registered: bool = False) -> bool:
        """Put a record back as it was before `claim` took it (a re-registration that did not happen), while
        the claim still holds. False when the record changed meanwhile (e.g. a deletion).
        `may_have_registered`: the re-registration's gateway call may have succeeded unseen; the restored
        record carries the `gateway_call_started` mark, so the next re-index looks for it."""
        item = dict(record.raw)
        if may_have_registered:
            item[GATEWAY_CALL_ATTRIBUTE] = format_time(self._clock())
        try:
            self.table.put_item(
                Item=item,
                ConditionExpression="#status = :indexing AND claim_token = :token",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":indexing": HistoryStatus.INDEXING.value, ":token": claim_token},
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def clear_attribute(self, obj: ObjectRef, name: str) -> None:
        """Remove one bookkeeping attribute (e.g. a finished follow-up) from a record."""
        self.table.update_item(
            Key=self._key(obj), UpdateExpression="REMOVE #a", ExpressionAttributeNames={"#a": name}
        )

    def settle_gateway_call(self, record: HistoryRecord, facts: dict[str, Any] | None = None) -> bool:
        """Remove the `gateway_call_started` mark seen on `record`, unless a newer call replaced it;
        `facts` (plain attributes: what was found and done about it) are written with it."""
        seen = record.raw.get(GATEWAY_CALL_ATTRIBUTE)
        if seen is None:
            return False
        names = {"#mark": GATEWAY_CALL_ATTRIBUTE}
        values: dict[str, Any] = {":seen": seen}
        sets = []
        for i, (name, value) in enumerate((facts or {}).items()):
            names[f"#f{i}"] = name
            values[f":f{i}"] = value
            sets.append(f"#f{i} = :f{i}")
        expression = ("SET " + ", ".join(sets) + " " if sets else "") + "REMOVE #mark"
        try:
            self.table.update_item(
                Key=self._key(record.object_ref()),
                UpdateExpression=expression,
                ConditionExpression="#mark = :seen",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def mark_tagged(self, obj: ObjectRef) -> None:
        """Remember that the object carries `Indexed=True`, so a redelivery does not tag it again."""
        self.table.update_item(
            Key=self._key(obj),
            UpdateExpression="SET tagged = :true",
            ConditionExpression=f"attribute_exists({PARTITION_KEY})",
            ExpressionAttributeValues={":true": True},
        )

    # ------------------------------------------------------------------------------------------- deletes
    def note_delete_event(self, bucket: str, key: str, sequencer: str | None) -> tuple[bool, str | None]:
        """Remember the newest S3 delete event seen for a key (its `sequencer`, ordered by `pad_sequencer`).

        Returns (newest, previous): `newest` is False when an event with a greater sequencer was already
        seen, i.e. this event is older than state the history already reflects; `previous` is the newest
        sequencer seen before, as S3 sent it. An event without a sequencer counts as newest (nothing to
        compare it with). A legacy left-padded value on the item does not take part (see
        LEGACY_SEQUENCER_ATTRIBUTE) and is removed, so the item holds one encoding.
        """
        if not sequencer:
            return True, None
        order = pad_sequencer(sequencer)
        now = self._clock()
        try:
            response = self.table.update_item(
                Key={PARTITION_KEY: object_pk(bucket, key), SORT_KEY: DELETE_EVENTS_SK},
                # Expires like other non-success records: every deletion in the image bucket writes one, and
                # its only later use is ordering events that arrive within days of each other.
                UpdateExpression="SET #order = :order, #seen = :seen, #at = :now, #ttl = :ttl REMOVE #legacy",
                ConditionExpression="attribute_not_exists(#order) OR #order <= :order",
                ExpressionAttributeNames={
                    "#order": SEQUENCER_ORDER_ATTRIBUTE,
                    "#seen": SEQUENCER_SEEN_ATTRIBUTE,
                    "#legacy": LEGACY_SEQUENCER_ATTRIBUTE,
                    "#at": TIME_SEEN_ATTRIBUTE,
                    "#ttl": TTL_ATTRIBUTE,
                },
                ExpressionAttributeValues={
                    ":order": order,
                    ":seen": sequencer,
                    ":now": format_time(now),
                    ":ttl": self._expiry(now),
                },
                ReturnValues="UPDATED_OLD",
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                item = self._get_item(object_pk(bucket, key), DELETE_EVENTS_SK) or {}
                return False, item.get(SEQUENCER_SEEN_ATTRIBUTE)
            raise
        return True, response.get("Attributes", {}).get(SEQUENCER_SEEN_ATTRIBUTE)

    def record_unmatched_delete(
        self, bucket: str, key: str, *, readings: Iterable[str], event_id: str | None, sequencer: str | None
    ) -> None:
        """A delete event for which no history record exists under any reading of its key: kept on the key's
        delete-events item (status `deleted`, reason `no-history-record`, the readings tried), so a person
        looking the key up finds what happened. Expires like the item's other facts."""
        now = self._clock()
        sets: dict[str, Any] = {
            "status": HistoryStatus.DELETED.value,
            "reason": "no-history-record",
            "bucket": bucket,
            "object_key": key,
            "key_readings": list(readings),
            TIME_ATTRIBUTE: format_time(now),
            TTL_ATTRIBUTE: self._expiry(now),
        }
        if event_id:
            sets["delete_event_id"] = event_id
        if sequencer:
            sets["delete_sequencer"] = sequencer
        names = {f"#a{i}": name for i, name in enumerate(sets)}
        self.table.update_item(
            Key={PARTITION_KEY: object_pk(bucket, key), SORT_KEY: DELETE_EVENTS_SK},
            UpdateExpression="SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(sets))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={f":a{i}": value for i, value in enumerate(sets.values())},
        )

    def delete_events(self, bucket: str, key: str) -> dict[str, Any] | None:
        """The key's delete-events item as stored (newest sequencer, unmatched delete, delete failure)."""
        return self._get_item(object_pk(bucket, key), DELETE_EVENTS_SK)

    def record_delete_failure(self, bucket: str, key: str, reason: str) -> None:
        """A delete event gave up (it goes to the DLQ): findable with `failures_since` until a later delete
        event for the key succeeds, or it expires like other failures (on the key's delete-events item)."""
        now = self._clock()
        self.table.update_item(
            Key={PARTITION_KEY: object_pk(bucket, key), SORT_KEY: DELETE_EVENTS_SK},
            UpdateExpression="SET #status = :failed, #reason = :reason, #bucket = :bucket, #key = :key, "
            "#failure = :failure, #time = :now, #ttl = :ttl",
            ExpressionAttributeNames={
                "#status": "status",
                "#reason": "reason",
                "#bucket": "bucket",
                "#key": "object_key",
                "#failure": FAILURE_ATTRIBUTE,
                "#time": TIME_ATTRIBUTE,
                "#ttl": TTL_ATTRIBUTE,
            },
            ExpressionAttributeValues={
                ":ttl": self._expiry(now),
                ":failed": HistoryStatus.FAILED.value,
                ":reason": reason[:1000],
                ":bucket": bucket,
                ":key": key,
                ":failure": failure_partition(HistoryStatus.FAILED.value, now),
                ":now": format_time(now),
            },
        )

    def clear_delete_failure(self, bucket: str, key: str) -> None:
        """A delete event for the key succeeded: an earlier failure no longer stands."""
        try:
            self.table.update_item(
                Key={PARTITION_KEY: object_pk(bucket, key), SORT_KEY: DELETE_EVENTS_SK},
                UpdateExpression="SET #status = :deleted REMOVE #failure",
                ConditionExpression="attribute_exists(#failure)",
                ExpressionAttributeNames={"#status": "status", "#failure": FAILURE_ATTRIBUTE},
                ExpressionAttributeValues={":deleted": HistoryStatus.DELETED.value},
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise

    def newest_delete_sequencer(self, bucket: str, key: str) -> str | None:
        """The newest delete event's sequencer seen for a key, padded (`pad_sequencer`), or None. A legacy
        left-padded value is not returned: it cannot be compared under the current rule."""
        item = self._get_item(object_pk(bucket, key), DELETE_EVENTS_SK)
        return item.get(SEQUENCER_ORDER_ATTRIBUTE) if item else None

    # ------------------------------------------------------------------------------------------- fingerprints
    def claim_fingerprint(self, user_id: str, fingerprint: str, obj: ObjectRef) -> HistoryRecord | None:
        """Claim "user `user_id` has the image with SHA-256 `fingerprint`" for one object version.

        Returns None when this object version holds the claim (new, already ours, taken over from an owner
        whose import did not succeed, or from an older version of the same object, which the newer version
        supersedes), or the owner's record when another object of the same user with the same bytes is
        indexed or being indexed: the caller skips as `duplicate`.
        """
        pk = fingerprint_pk(user_id, fingerprint)
        mine = {"owner_pk": object_pk(obj.bucket, obj.key), "owner_sk": version_sk(obj.version_id)}
        for attempt in range(5):
            # First try blind (the common case: new bytes for this user); read only after a refusal.
            current = self._get_item(pk, FINGERPRINT_SK) if attempt else None
            if current is not None and (current["owner_pk"], current["owner_sk"]) != tuple(mine.values()):
                owner_item = self._get_item(current["owner_pk"], current["owner_sk"])
                owner = self._record(owner_item) if owner_item else None
                same_key = current["owner_pk"] == mine["owner_pk"]  # another version of the same object
                if (
                    owner is not None
                    and not same_key
                    and (owner.status == HistoryStatus.INDEXED or owner.lease_live(self._clock()))
                ):
                    return owner
                condition = "owner_pk = :old_pk AND owner_sk = :old_sk"
                values = {":old_pk": current["owner_pk"], ":old_sk": current["owner_sk"]}
            else:
                condition = f"attribute_not_exists({PARTITION_KEY}) OR (owner_pk = :pk AND owner_sk = :sk)"
                values = {":pk": mine["owner_pk"], ":sk": mine["owner_sk"]}
            try:
                self.table.put_item(
                    Item={
                        PARTITION_KEY: pk,
                        SORT_KEY: FINGERPRINT_SK,
                        **mine,
                        "claimed_at": format_time(self._clock()),
                    },
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                )
                return None
            except ClientError as exc:
                if not _is_condition_failure(exc):
                    raise
        raise HistoryError(f"fingerprint claim for user {user_id!r} kept changing under us; retry later")

    def release_fingerprint(self, user_id: str, fingerprint: str, obj: ObjectRef) -> None:
        """Drop the fingerprint claim if this object version holds it (import failed, or deleted)."""
        try:
            self.table.delete_item(
                Key={PARTITION_KEY: fingerprint_pk(user_id, fingerprint), SORT_KEY: FINGERPRINT_SK},
                ConditionExpression="owner_pk = :pk AND owner_sk = :sk",
                ExpressionAttributeValues={
                    ":pk": object_pk(obj.bucket, obj.key),
                    ":sk": version_sk(obj.version_id),
                },
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise

    # ------------------------------------------------------------------------------------------- reads
    def get(self, obj: ObjectRef) -> HistoryRecord | None:
        """The record of one object version (strongly consistent read), or None."""
        item = self._get_item(object_pk(obj.bucket, obj.key), version_sk(obj.version_id))
        return self._record(item) if item else None

    def by_object(self, bucket: str, key: str) -> Iterator[HistoryRecord]:
        """Every recorded version of one object."""
        condition = Key(PARTITION_KEY).eq(object_pk(bucket, key)) & Key(SORT_KEY).begins_with("v#")
        for item in self._query(KeyConditionExpression=condition, ConsistentRead=True):
            yield self._record(item)

    def by_run(
        self, run_id: str, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[HistoryRecord]:
        """Records of one run (inventory run / batch job), last updated within [since, until]."""
        condition = Key(RUN_ATTRIBUTE).eq(run_id) & self._time_range(since, until)
        for item in self._query(IndexName=BY_RUN_INDEX, KeyConditionExpression=condition):
            yield self._record(item)

    def by_user(
        self, user_id: str, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[HistoryRecord]:
        condition = Key(USER_ATTRIBUTE).eq(user_id) & self._time_range(since, until)
        for item in self._query(IndexName=BY_USER_INDEX, KeyConditionExpression=condition):
            yield self._record(item)

    def failures_since(self, since: datetime, until: datetime | None = None) -> Iterator[HistoryRecord]:
        """invalid / failed records updated within [since, until], oldest day first."""
        until = until or self._clock()
        if since > until:
            return
        day = since.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        while day <= until:
            for status in sorted(s.value for s in FAILURE_STATUSES):
                condition = Key(FAILURE_ATTRIBUTE).eq(failure_partition(status, day)) & self._time_range(
                    since, until
                )
                for item in self._query(IndexName=FAILURES_INDEX, KeyConditionExpression=condition):
                    yield self._record(item)
            day += timedelta(days=1)

    # ------------------------------------------------------------------------------------------- helpers
    @staticmethod
    def _key(obj: ObjectRef) -> dict[str, str]:
        return {PARTITION_KEY: object_pk(obj.bucket, obj.key), SORT_KEY: version_sk(obj.version_id)}

    def _get_item(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self.table.get_item(Key={PARTITION_KEY: pk, SORT_KEY: sk}, ConsistentRead=True)
        return response.get("Item")

    def _expiry(self, now: datetime) -> int:
        return int((now + timedelta(days=self.ttl_days)).timestamp())

    def _properties_attributes(self, properties: dict[str, str] | None) -> dict[str, Any]:
        if properties is None:
            return {}
        return self._blob_attributes("properties", properties)

    def _blob_attributes(self, name: str, value: Any) -> dict[str, Any]:
        """`name` as a JSON string, or `name_gz` as gzip bytes when large (caller removes the other)."""
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        encoded = text.encode("utf-8")
        if len(encoded) > self._compress_over:
            return {f"{name}_gz": gzip.compress(encoded, mtime=0)}
        return {name: text}

    @staticmethod
    def _load_blob(item: dict[str, Any], name: str) -> Any:
        if f"{name}_gz" in item:
            raw = item[f"{name}_gz"]
            data = raw.value if hasattr(raw, "value") else bytes(raw)
            return json.loads(gzip.decompress(data).decode("utf-8"))
        if name in item:
            return json.loads(item[name])
        return None

    @staticmethod
    def _time_range(since: datetime | None, until: datetime | None):
        low = format_time(since) if since else "0"
        high = format_time(until) if until else "9"
        return Key(TIME_ATTRIBUTE).between(low, high)

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Page through a query lazily: results stream, never one big list."""
        while True:
            response = self.table.query(**kwargs)
            yield from response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def _update(
        self,
        obj: ObjectRef,
        sets: dict[str, Any],
        removes: list[str],
        condition: str | None,
        names: dict[str, str],
        values: dict[str, Any],
        *,
        created_at: datetime,
        add_attempts: bool,
        previous: dict[str, Any] | None = None,
    ) -> bool:
        """One conditional UpdateItem; False when the condition failed. With `previous` (a dict), the item as
        it was before the update is put into it (empty if there was none)."""
        names = dict(names)
        values = dict(values)
        parts = []
        for i, (attribute, value) in enumerate(sets.items()):
            names[f"#s{i}"] = attribute
            values[f":s{i}"] = value
            parts.append(f"#s{i} = :s{i}")
        names["#created"] = "created_at"
        values[":created"] = format_time(created_at)
        parts.append("#created = if_not_exists(#created, :created)")
        expression = "SET " + ", ".join(parts)
        removes = [r for r in dict.fromkeys(removes) if r not in sets]
        if removes:
            for i, attribute in enumerate(removes):
                names[f"#r{i}"] = attribute
            expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(removes)))
        if add_attempts:
            names["#attempts"] = "attempts"
            values[":one"] = 1
            expression += " ADD #attempts :one"
        # DynamoDB rejects placeholders that no expression uses; callers share a few across branches.
        used = expression + " " + (condition or "")
        kwargs: dict[str, Any] = {
            "Key": self._key(obj),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": {k: v for k, v in names.items() if _uses(used, k)},
            "ExpressionAttributeValues": {k: v for k, v in values.items() if _uses(used, k)},
        }
        if condition:
            kwargs["ConditionExpression"] = condition
        if previous is not None:
            kwargs["ReturnValues"] = "ALL_OLD"
        try:
            response = self.table.update_item(**kwargs)
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        if previous is not None:
            previous.update(response.get("Attributes") or {})
        return True

    def _record(self, item: dict[str, Any]) -> HistoryRecord:
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
            properties=self._load_blob(item, "properties"),
            claim_token=item.get("claim_token"),
            lease_until=parse_time(lease) if lease else None,
            etag=item.get("etag"),
            tagged=bool(item.get("tagged", False)),
            details=self._load_blob(item, "details"),
            raw=item,
        )


def _uses(expression: str, placeholder: str) -> bool:
    """True when `placeholder` (#name / :value) occurs in `expression` as a whole token."""
    return re.search(re.escape(placeholder) + r"(?![A-Za-z0-9_])", expression) is not None


def _is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
