"""The import-version state machine: one item per object version, moved between queued / indexing / indexed /
skipped / invalid / failed / deleted by conditional writes.

Every write is conditional where two writers can race: the batch qualifier's `queued` never overwrites an
object version that is already indexed, being indexed or deleted, and a worker only finishes an import it
still holds the claim (token + lease) for.

Item attributes: status, reason, user_id, run_id, job_id, task_id, etag, fingerprint (SHA-256 hex), face_ids /
image_id (gateway ids), external_image_id, attempts, created_at, updated_at; `failure` (sparse index key) and
`expires_at` (TTL) only on non-success records; properties inline, or gzip-compressed when large;
`gateway_call_started` while a registration may exist that the record does not show yet (see
`mark_gateway_call`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from handlers.common.contracts import EXPIRING_STATUSES, HistoryStatus, ImportMessage, ObjectRef
from handlers.common.history.codec import (
    FAILURE_STATUSES,
    GATEWAY_CALL_ATTRIBUTE,
    HistoryRecord,
    failure_partition,
    format_time,
    record_from_item,
    version_key,
)
from handlers.common.history.table import HistoryTable, is_condition_failure
from handlers.common.history_schema import (
    FAILURE_ATTRIBUTE,
    PARTITION_KEY,
    RUN_ATTRIBUTE,
    TIME_ATTRIBUTE,
    TTL_ATTRIBUTE,
    USER_ATTRIBUTE,
)

# A record in one of these states is never overwritten by a queued / skipped / invalid / failed outcome.
_FINAL_STATES = (HistoryStatus.INDEXED.value, HistoryStatus.DELETED.value)
# The condition of every write that only the claimant may make.
_HELD_BY_CLAIM = "#status = :indexing AND claim_token = :token"


class ImportVersions(HistoryTable):
    """The object-version items: queued by the qualifier, claimed and settled by the indexer's workers."""

    # ------------------------------------------------------------------------------------------- outcomes
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
        if message.properties is not None:
            sets.update(self._blob_attributes("properties", message.properties))
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
            condition = _HELD_BY_CLAIM
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
            return token, (record_from_item(before) if before else None)
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
            _HELD_BY_CLAIM,
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
        condition = _HELD_BY_CLAIM
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
                ConditionExpression=_HELD_BY_CLAIM,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":indexing": HistoryStatus.INDEXING.value, ":token": claim_token},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def clear_attribute(self, obj: ObjectRef, name: str) -> None:
        """Remove one bookkeeping attribute (e.g. a finished follow-up) from a record."""
        self.table.update_item(
            Key=version_key(obj), UpdateExpression="REMOVE #a", ExpressionAttributeNames={"#a": name}
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
                Key=version_key(record.object_ref()),
                UpdateExpression=expression,
                ConditionExpression="#mark = :seen",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def mark_tagged(self, obj: ObjectRef) -> None:
        """Remember that the object carries `Indexed=True`, so a redelivery does not tag it again."""
        self.table.update_item(
            Key=version_key(obj),
            UpdateExpression="SET tagged = :true",
            ConditionExpression=f"attribute_exists({PARTITION_KEY})",
            ExpressionAttributeValues={":true": True},
        )
