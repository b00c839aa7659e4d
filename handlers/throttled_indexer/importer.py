"""Register one qualified image exactly once (ARCHITECTURE section 4, "Exactly once").

The order of the steps is what makes it safe against redelivery, a second worker and a concurrent deletion:
1. claim the object version in the history (conditional write, `indexing` + lease): one worker at a time;
2. only then read the image, as the current version with the qualified ETag: a deletion or change that
   happened before the claim is seen here (S3 is strongly consistent) and the image is skipped;
3. claim the (user, SHA-256) fingerprint: the same bytes for the same user are registered once;
4. mark the claim `gateway_call_started` (conditional on still holding it), then call the gateway;
5. finish with a write conditional on still holding the claim. A deletion that happened after step 2 has
   moved the record to `deleted` (the deleter sees the claim), so this write fails and the importer
   deregisters what it has just registered: no face of a deleted object remains.
A worker that dies between steps 4 and 5 leaves the mark: the next claimant first asks the gateway for the
registration it may have made (recovery.py) and records that one instead of registering the image again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from handlers.common.contracts import HistoryStatus, ImportMessage, ObjectRef
from handlers.common.history import HistoryRecord, HistoryStore, pad_sequencer
from handlers.throttled_indexer import images, recovery
from handlers.throttled_indexer.claims import (
    PENDING_DEREGISTRATION,
    STALE_FACES,
    Claim,
    ClaimEnding,
    claim_from,
)
from handlers.throttled_indexer.gateway import (
    Gateway,
    GatewayBusy,
    GatewayRejected,
    Registration,
    RegistrationRequest,
    RegistrationUnknown,
)
from handlers.throttled_indexer.outcome import Attempt, Outcome

logger = Logger(child=True)


SUPERSEDED = "superseded"


class Importer:
    def __init__(
        self,
        *,
        s3,
        history: HistoryStore,
        gateway: Gateway,
        max_image_bytes: int,
        quarantine_bucket: str | None = None,
        quarantine_prefix: str = "quarantine/",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        before_finish: Callable[[ObjectRef], None] | None = None,
        retire_superseded: Callable[[ObjectRef], int] | None = None,
    ) -> None:
        self._s3 = s3
        self._history = history
        self._gateway = gateway
        self._claims = ClaimEnding(history, gateway)
        self._max_image_bytes = max_image_bytes
        self._quarantine_bucket = quarantine_bucket
        self._quarantine_prefix = quarantine_prefix
        self._clock = clock
        # A test hook between the gateway call and the final write, to run interleavings deterministically.
        self._before_finish = before_finish
        # Deregisters older versions of the key once a newer one is indexed (Deleter.retire_superseded).
        self._retire_superseded = retire_superseded

    def process(self, message: ImportMessage, attempt: Attempt) -> Outcome:
        obj = message.object
        existing = self._history.get(obj)
        # An unversioned object overwritten in place keeps its one history record (v#null): new content
        # (another ETag) is registered again and replaces the earlier registration, like a re-index.
        replaced = (
            existing is not None
            and existing.status == HistoryStatus.INDEXED
            and obj.version_id is None
            and obj.etag is not None
            and existing.etag is not None
            and existing.etag != obj.etag
        )
        reindex = message.mode == "reindex" or replaced
        try:
            done = self._already_handled(existing, obj, reindex)
        except GatewayBusy as busy:  # finishing a pending deregistration
            return Outcome.gateway_busy(busy.reason, busy.retry_after, busy.throttled)
        if done is not None:
            return done
        stale = self._older_than_a_seen_delete(message)
        if stale is not None:
            return stale

        token, record = self._history.claim(obj, lease_seconds=attempt.lease_seconds, allow_indexed=reindex)
        if token is None:
            return self._already_handled(record, obj, reindex) or Outcome.retry(
                "retry:claimed", "the record changed while claiming it"
            )
        # `record` is the item exactly as the claim found it (not as read above: it may have changed since).
        claim = claim_from(token, record)
        try:
            return self._import_claimed(message, claim)
        except GatewayBusy as busy:
            self._claims.give_back(message, claim, f"gateway busy: {busy.reason}")
            return Outcome.gateway_busy(busy.reason, busy.retry_after, busy.throttled)
        except Exception as exc:
            self._claims.give_back(message, claim, f"{type(exc).__name__}: {exc}")
            raise

    # -------------------------------------------------------------------------------------------- steps
    def _already_handled(self, record: HistoryRecord | None, obj: ObjectRef, reindex: bool) -> Outcome | None:
        if record is None:
            return None
        if record.status == HistoryStatus.INDEXED and record.raw.get(STALE_FACES):
            self._remove_stale_faces(obj, record.user_id or "", tuple(record.raw[STALE_FACES]))
        if record.gateway_call_started and (
            record.status == HistoryStatus.DELETED or (record.status == HistoryStatus.INDEXED and not reindex)
        ):
            # A worker called the gateway and died (or timed out) before recording what it registered, and
            # the record was deleted meanwhile, or a re-index was given back: that registration goes.
            recovery.take_back_unrecorded(self._gateway, self._history, record)
        if record.status == HistoryStatus.INDEXED and not reindex:
            if not record.tagged:
                self._tag(obj)
            return Outcome.finished("skipped:already-indexed", "this object version is already indexed")
        if record.raw.get(PENDING_DEREGISTRATION):
            self._deregister_pending(obj, record.user_id or "", record.face_ids, record.image_id)
        if record.status == HistoryStatus.DELETED:
            new_content = obj.version_id is None and obj.etag is not None and record.etag != obj.etag
            if not (reindex or new_content):
                # A re-index may try again: it registers only if the version is current again (read check).
                return Outcome.finished("skipped:deleted", "this object version was deleted")
        if record.lease_live(self._clock()):
            wait = (record.lease_until - self._clock()).total_seconds() if record.lease_until else None
            return Outcome.retry("retry:in-progress", "another worker is indexing it", retry_after=wait)
        return None

    def _older_than_a_seen_delete(self, message: ImportMessage) -> Outcome | None:
        """An import from an S3 event carries its sequencer: an older one never undoes a deletion. Ordered by
        S3's rule (`pad_sequencer`: right-padded, case-insensitive), so 16- and 18-digit values compare."""
        if not message.object.sequencer:
            return None
        newest_delete = self._history.newest_delete_sequencer(message.object.bucket, message.object.key)
        try:
            older = newest_delete is not None and pad_sequencer(message.object.sequencer) < newest_delete
        except ValueError:
            return None
        if not older:
            return None
        self._history.record_outcome(
            message.object,
            HistoryStatus.SKIPPED,
            "stale",
            user_id=message.user_id,
            run_id=message.run_id,
            details={"message": "an S3 delete event newer than this import was already processed"},
        )
        return Outcome.finished("skipped:stale", "older than a processed delete event")

    def _import_claimed(self, message: ImportMessage, claim: Claim) -> Outcome:
        obj = message.object
        try:
            image = images.read_image(
                self._s3, obj, keep_bytes=self._gateway.needs_bytes, max_bytes=self._max_image_bytes
            )
            properties = self._properties(message)
        except images.ImageUnavailable as gone:
            facts = self._claims.take_back_found(message, claim)
            details = {"message": gone.message}
            self._claims.finish(
                message, claim, HistoryStatus.SKIPPED, gone.reason, details=details, facts=facts
            )
            return Outcome.finished(f"skipped:{gone.reason}", gone.message)
        except images.ImageInvalid as invalid:
            facts = self._claims.take_back_found(message, claim)
            return self._reject(message, claim, invalid.reason, invalid.message, {}, facts=facts)

        if claim.unsettled_gateway_call:
            # A predecessor called the gateway and died before recording what the call did.
            try:
                claim.found = recovery.find_unrecorded_registration(
                    self._gateway, self._history, obj, message.user_id, earlier_faces=claim.earlier_faces
                )
            except RegistrationUnknown as unknown:  # deleted since we read it
                facts = {recovery.UNVERIFIABLE: str(unknown)[:300]}
                details = {"message": str(unknown)}
                self._claims.finish(
                    message, claim, HistoryStatus.SKIPPED, "missing", details=details, facts=facts
                )
                return Outcome.finished("skipped:missing", "deleted while recovering its registration")
            claim.unsettled_gateway_call = claim.found is not None
        owner = self._history.claim_fingerprint(message.user_id, image.fingerprint, obj)
        if owner is not None:
            duplicate_of = f"s3://{owner.bucket}/{owner.key}" + (
                f"?versionId={owner.version_id}" if owner.version_id else ""
            )
            taken_back = self._claims.take_back_found(message, claim)
            self._claims.finish(
                message,
                claim,
                HistoryStatus.SKIPPED,
                "duplicate",
                fingerprint=image.fingerprint,
                details={"duplicate_of": duplicate_of, "duplicate_status": owner.status},
                facts=taken_back,
            )
            return Outcome.finished("skipped:duplicate", f"same image as {duplicate_of}")

        # A registration that recovery found is recorded now, not registered again (a Registration is truthy).
        registration = claim.found or self._register(message, claim, properties, image)
        if isinstance(registration, Outcome):
            return registration

        if self._before_finish is not None:
            self._before_finish(obj)
        return self._record_registration(message, claim, registration, image.fingerprint)

    def _register(
        self, message: ImportMessage, claim: Claim, properties: dict[str, str], image: images.ImageRead
    ) -> Registration | Outcome:
        """Mark the claim, then call the gateway: a Registration, or the Outcome when it did not register."""
        obj = message.object
        # Conditional on still holding the claim: a deletion may have taken the record while we read, and
        # then the gateway is not called for nothing.
        if not self._history.mark_gateway_call(
            obj, claim.token, user_id=message.user_id, fingerprint=image.fingerprint
        ):
            self._history.release_fingerprint(message.user_id, image.fingerprint, obj)
            current = self._history.get(obj)
            return self._already_handled(current, obj, False) or Outcome.finished(
                "skipped:superseded", "the claim was taken over"
            )
        claim.unsettled_gateway_call = True
        request = RegistrationRequest(
            obj=obj, user_id=message.user_id, properties=properties, image=image.body
        )
        # Busy or unexpected errors propagate: the message is retried. The fingerprint claim stays ours but
        # counts only while our record is indexing under a live lease or indexed, so it blocks nobody.
        try:
            return self._gateway.register(request)
        except GatewayBusy as busy:
            claim.unsettled_gateway_call = busy.may_have_registered
            raise
        except GatewayRejected as rejected:
            claim.unsettled_gateway_call = False
            self._history.release_fingerprint(message.user_id, image.fingerprint, obj)
            return self._reject(
                message,
                claim,
                rejected.code,
                rejected.message,
                rejected.details,
                fingerprint=image.fingerprint,
            )

    def _record_registration(
        self, message: ImportMessage, claim: Claim, registration: Registration, fingerprint: str
    ) -> Outcome:
        obj = message.object
        if registration is claim.found:
            reason = "recovered"
        else:
            reason = "already-registered" if registration.already_registered else "registered"
        stale_faces = tuple(f for f in claim.earlier_faces if f not in registration.face_ids)
        finished = self._history.record_outcome(
            obj,
            HistoryStatus.INDEXED,
            reason,
            user_id=message.user_id,
            run_id=message.run_id,
            fingerprint=fingerprint,
            face_ids=registration.face_ids,
            image_id=registration.image_id,
            external_image_id=registration.external_image_id,
            details=registration.details or None,
            claim_token=claim.token,
            # Written with the outcome, so a failure while removing them is finished by the next delivery.
            extra={STALE_FACES: list(stale_faces)} if stale_faces else None,
        )
        if not finished:
            return self._lost_claim_after_registering(message, registration, fingerprint)
        if stale_faces:
            # A re-index registered the image again: the faces of the earlier registration go, so the index
            # holds the image once. (Only face ids: an HTTP registration is replaced by the API itself.)
            self._remove_stale_faces(obj, message.user_id, stale_faces)
        if self._retire_superseded is not None and obj.version_id is not None:
            self._retire_superseded(obj)
        self._tag(obj)
        return Outcome.finished("indexed", reason)

    def _lost_claim_after_registering(
        self, message: ImportMessage, registration: Registration, fingerprint: str
    ) -> Outcome:
        obj = message.object
        record = self._history.get(obj)
        status = record.status if record is not None else None
        if record is not None and (
            status == HistoryStatus.DELETED
            or (status == HistoryStatus.SKIPPED and record.reason == SUPERSEDED)
        ):
            # Deleted (or superseded by a newer version) while we were registering it: take our registration
            # back. The pending deregistration is written first, so a failure here is finished by the next
            # delivery (see _already_handled). An HTTP registration superseded by a newer version of the same
            # key is the user's registration that the newer version carries on: it stays.
            taken = HistoryStatus(status)
            if taken == HistoryStatus.DELETED or self._gateway.registers_per_image:
                self._history.record_outcome(
                    obj,
                    taken,
                    record.reason or "",
                    user_id=message.user_id,
                    run_id=message.run_id,
                    fingerprint=fingerprint,
                    face_ids=registration.face_ids,
                    image_id=registration.image_id,
                    extra={PENDING_DEREGISTRATION: True},
                    settles_gateway_call=True,  # what was registered is known, and being taken back
                )
                self._deregister_pending(obj, message.user_id, registration.face_ids, registration.image_id)
                self._history.release_fingerprint(message.user_id, fingerprint, obj)
            logger.info("record taken while indexing", extra={"key": obj.key, "status": taken.value})
            return Outcome.finished(f"{taken.value}:while-indexing", f"{record.reason} while indexing")
        # Cannot happen while leases outlive invocations; left registered and logged for a person to check.
        logger.error(
            "lost the claim after registering",
            extra={"key": obj.key, "version": obj.version_id, "status": status},
        )
        return Outcome.finished("conflict:claim-lost", "claim lost after registering")

    # -------------------------------------------------------------------------------------------- helpers
    def _properties(self, message: ImportMessage) -> dict[str, str]:
        if message.properties is not None:
            return dict(message.properties)
        if message.properties_ref:
            return images.load_properties(self._s3, message.properties_ref)
        return {}

    def _reject(
        self,
        message: ImportMessage,
        claim: Claim,
        code: str,
        text: str,
        details: dict[str, Any],
        *,
        fingerprint: str | None = None,
        facts: dict[str, Any] | None = None,
    ) -> Outcome:
        details = {"message": text, **details}
        if self._quarantine_bucket:
            try:
                details["quarantined_to"] = images.quarantine_copy(
                    self._s3, message.object, self._quarantine_bucket, self._quarantine_prefix
                )
            except ClientError as exc:
                details["quarantine_error"] = str(exc)[:300]
        self._claims.finish(
            message, claim, HistoryStatus.INVALID, code, fingerprint=fingerprint, details=details, facts=facts
        )
        return Outcome.finished(f"invalid:{code}", text)

    def _deregister_pending(
        self, obj: ObjectRef, user_id: str, face_ids: tuple[str, ...], image_id: str | None
    ) -> None:
        self._gateway.deregister(user_id, face_ids, image_id)
        self._history.clear_attribute(obj, PENDING_DEREGISTRATION)

    def _remove_stale_faces(self, obj: ObjectRef, user_id: str, face_ids: tuple[str, ...]) -> None:
        self._gateway.deregister(user_id, face_ids, None)
        self._history.clear_attribute(obj, STALE_FACES)

    def _tag(self, obj: ObjectRef) -> None:
        try:
            tagged = images.tag_indexed(self._s3, obj)
        except ClientError as exc:
            # The history is the source of truth; the tag is a convenience the next run sets again.
            logger.warning("could not tag the object Indexed=True", extra={"key": obj.key, "error": str(exc)})
            return
        if tagged:
            self._history.mark_tagged(obj)
        else:
            logger.warning("object has 10 tags already; Indexed=True not set", extra={"key": obj.key})
