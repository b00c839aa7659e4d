"""Deregister the faces of a deleted image and record `deleted` (EventBridge "Object Deleted" events).

Which records a delete event touches:
- the event names a version the history knows (a version permanently deleted): that record;
- otherwise (a delete marker, an unversioned bucket): every recorded version of the key.
Either way a record is only touched when its version is not *live*: S3 (HeadObject, strongly consistent)
says the key's current version is another one, or there is none. So an event that is older than the state
S3 and the history now hold (a re-upload after the deletion, S3 `sequencer` order) never undoes it, in
whatever order events arrive. The newest sequencer seen per key is kept in the history too: imports that
carry a sequencer (from S3 events) and are older than it are skipped as stale.

EventBridge keys: AWS's pages do not say whether `detail.object.key` is URL-encoded (Powertools decodes it).
When the key as given and its decoded reading differ, the delete goes to whichever reading the history holds
records for (both, if both do: liveness keeps a live object's registration); when neither does, the delete
is still recorded on both keys' delete-events items (reason `no-history-record`). The sequencer is noted only
for a key the event certainly names, as sequencers of different keys do not compare.

An `indexing` record (an import in flight) is moved to `deleted` with a compare-and-set on its claim; the
importer's final conditional write then fails and it deregisters what it registered. A record whose worker
called the gateway and is gone (its `gateway_call_started` mark left, no live lease) may hide a registration
that was never recorded: it is looked up by image and deregistered first (recovery.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from aws_lambda_powertools import Logger

from handlers.common.contracts import DeleteMessage, HistoryStatus, ObjectRef
from handlers.common.history import HistoryRecord, HistoryStore
from handlers.throttled_indexer import images, recovery
from handlers.throttled_indexer.gateway import Gateway, GatewayBusy
from handlers.throttled_indexer.outcome import Outcome

logger = Logger(child=True)
# A record that keeps changing under us (an import finishing, another delete) is re-read this many times.
MAX_ROUNDS = 5


class Deleter:
    def __init__(
        self,
        *,
        s3,
        history: HistoryStore,
        gateway: Gateway,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._s3 = s3
        self._history = history
        self._gateway = gateway
        self._clock = clock

    def process(self, message: DeleteMessage) -> Outcome:
        obj = message.object
        readings = message.key_readings()
        keys = list(readings)
        if len(readings) > 1:  # act on the readings the history has records for
            matched = [key for key in readings if self._targets(message, key)]
            _log_readings(message, matched)
            keys = matched or keys
        # The sequencer is noted only for a key the event certainly names: one reading, or the one matched.
        sequencer = obj.sequencer if len(keys) == 1 else None
        deleted = found = 0
        try:
            for key in keys:
                done, seen = self._process_key(message, key, sequencer, reading=_reading_name(message, key))
                deleted, found = deleted + done, found + seen
        except GatewayBusy as busy:
            return Outcome.gateway_busy(busy.reason, busy.retry_after, busy.throttled)
        if not found:
            for key in keys:
                self._history.record_unmatched_delete(
                    obj.bucket, key, readings=readings, event_id=message.event_id, sequencer=obj.sequencer
                )
        label = "deleted" if deleted else "deleted:nothing-registered"
        return Outcome.finished(label, f"{deleted} record(s) moved to deleted")

    def _process_key(
        self, message: DeleteMessage, key: str, sequencer: str | None, *, reading: str | None
    ) -> tuple[int, int]:
        """Apply the delete to one reading of its key (the versions that are not live). Returns (records
        moved to deleted, records found)."""
        bucket = message.object.bucket
        try:
            newest, previous = self._history.note_delete_event(bucket, key, sequencer)
        except ValueError:  # not a hex sequencer: ordering falls back on liveness alone
            newest, previous = True, None
        # HeadObject before the records are read: a version that S3 no longer has as current then is not live.
        current = images.current_version(self._s3, bucket, key)
        records = self._targets(message, key)
        deleted = sum(self._delete(r, message, reading=reading) for r in records if not _live(r, current))
        self._history.clear_delete_failure(bucket, key)
        if not newest:
            logger.info(
                "delete event older than one already processed; applied to versions that are not live only",
                extra={"key": key, "sequencer": message.object.sequencer, "newest": previous},
            )
        return deleted, len(records)

    def retire_superseded(self, registered: ObjectRef) -> int:
        """After `registered` (the key's current version, just read) was indexed: older versions of the key
        are superseded, their registrations go (status `skipped`, reason `superseded`: a version that
        becomes current again, e.g. when the newer one is deleted, can be imported again)."""
        current = images.CurrentVersion(images.normalise_version(registered.version_id), registered.etag)
        retired = 0
        for record in self._history.by_object(registered.bucket, registered.key):
            if record.status in _RETIRABLE and not _live(record, current):
                retired += self._delete(record, None, superseded=True)
        return retired

    def _targets(self, message: DeleteMessage, key: str) -> list[HistoryRecord]:
        obj = message.object.model_copy(update={"key": key})
        if obj.version_id:
            named = self._history.get(obj)
            if named is not None:
                return [named]
        # One image key holds a handful of versions: the list is small.
        return list(self._history.by_object(obj.bucket, obj.key))

    def _delete(
        self,
        record: HistoryRecord,
        message: DeleteMessage | None,
        *,
        superseded: bool = False,
        reading: str | None = None,
    ) -> int:
        """Move one record to deleted (or skipped:superseded), deregistering its faces first. Returns 1 if it
        changed, else 0. `reading`: which reading of the event's key named the record."""
        extra: dict[str, str] = {}
        if message is not None and message.object.sequencer:
            extra["delete_sequencer"] = message.object.sequencer
        if message is not None and message.event_id:
            extra["delete_event_id"] = message.event_id
        if reading is not None:
            extra["delete_key_reading"] = reading
        for _ in range(MAX_ROUNDS):
            if record.status == HistoryStatus.DELETED or (superseded and record.status not in _RETIRABLE):
                return 0
            keeps_registration = superseded and not self._gateway.registers_per_image
            if (
                not keeps_registration
                and record.gateway_call_started
                and not record.lease_live(self._clock())
            ):
                # Its worker is gone: it may have registered without recording it. (A live worker finds
                # its claim taken when it finishes and takes back what it registered itself.)
                recovery.take_back_unrecorded(self._gateway, self._history, record)
            if keeps_registration:
                # The user's registration lives on with the newer version's record (HTTP API).
                reason = "superseded"
            elif record.status == HistoryStatus.INDEXED or (
                record.status == HistoryStatus.INDEXING and record.face_ids
            ):
                # (An indexing record with face ids is a re-index: the earlier registration still exists.)
                # Deregister before recording: if this fails, the record still says indexed and the message is
                # retried; deregistering twice is harmless (nothing left to remove).
                self._gateway.deregister(record.user_id or "", record.face_ids, record.image_id)
                reason = "deregistered"
                if record.status == HistoryStatus.INDEXING:
                    reason = "deleted-while-indexing"
            elif record.status == HistoryStatus.INDEXING:
                reason = "deleted-while-indexing"
            else:
                reason = "deleted-before-indexing"
            changed = self._history.record_outcome(
                record.object_ref(),
                HistoryStatus.SKIPPED if superseded else HistoryStatus.DELETED,
                "superseded" if superseded else reason,
                user_id=None,
                run_id=None,
                expect_status=record.status,
                claim_token=record.claim_token if record.status == HistoryStatus.INDEXING else None,
                extra=extra,
                # A live worker's mark stays until it settles its own call (see above).
                settles_gateway_call=False,
            )
            if changed:
                if (
                    record.fingerprint
                    and record.user_id
                    and record.status == HistoryStatus.INDEXED
                    and not keeps_registration
                ):
                    self._history.release_fingerprint(record.user_id, record.fingerprint, record.object_ref())
                return 1
            fresh = self._history.get(record.object_ref())
            if fresh is None:
                return 0
            record = fresh
        raise RuntimeError(f"history record for {record.key} kept changing while deleting it; retry later")


def _reading_name(message: DeleteMessage, key: str) -> str | None:
    """`as-given` / `decoded` when the event's key has two readings (else None: nothing to tell apart)."""
    if len(message.key_readings()) == 1:
        return None
    return "as-given" if key == message.object.key else "decoded"


def _log_readings(message: DeleteMessage, matched: list[str]) -> None:
    readings = message.key_readings()
    facts = {"key_as_given": readings[0], "key_decoded": readings[1], "event_id": message.event_id}
    if len(matched) == 2:
        logger.warning(
            "both readings of the delete event's key have history records; each is applied to its versions "
            "that are not live",
            extra=facts,
        )
    elif matched:
        logger.info(
            "delete event's key matched the history "
            + ("as given" if matched[0] == readings[0] else "decoded"),
            extra=facts | {"matched": _reading_name(message, matched[0])},
        )
    else:
        logger.warning(
            "no history record under either reading of the delete event's key; recorded under both",
            extra=facts,
        )


# Records whose registration a newer version supersedes (registered, or being registered).
_RETIRABLE = (HistoryStatus.INDEXED, HistoryStatus.INDEXING)


def _live(record: HistoryRecord, current: images.CurrentVersion | None) -> bool:
    """The record's version is the key's current version, with the same content."""
    if current is None:
        return False
    if images.normalise_version(record.version_id) != current.version_id:
        return False
    return record.etag is None or current.etag is None or record.etag == current.etag
