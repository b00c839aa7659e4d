"""A claim on one object version in the import history, and how it ends without a new registration.

The importer claims a version before it reads or registers the image (importer.py, steps 1-5). A claim that
does not end in a registration is finished (`finish`: a recorded outcome, or the earlier record restored),
given back for the next delivery (`give_back`), or first rid of what a dead predecessor may have registered
(`take_back_found`, with recovery.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from handlers.common.contracts import HistoryStatus, ImportMessage
from handlers.common.history import HistoryRecord, HistoryStore
from handlers.throttled_indexer import recovery
from handlers.throttled_indexer.gateway import Gateway, Registration, RegistrationUnknown

logger = Logger(child=True)


@dataclass
class Claim:
    token: str
    replacing: HistoryRecord | None = None
    """The indexed / deleted record a re-registration claimed (re-index, unversioned content replaced),
    restored when the re-registration does not happen."""
    earlier_faces: tuple[str, ...] = ()
    """Faces of an earlier registration of this version that a re-registration replaces."""
    unsettled_gateway_call: bool = False
    """A gateway call (a dead predecessor's, or ours) may have registered the image without the record
    showing it: giving the claim back keeps the `gateway_call_started` mark."""
    found: Registration | None = field(default=None, repr=False)


# On a deleted / superseded record: the importer registered the object while it was being deleted (or
# superseded) and still has to take that registration back (set before the gateway call, cleared after it).
PENDING_DEREGISTRATION = "pending_deregistration"
# On an indexed record: faces of an earlier registration that a re-index replaced, still to be removed.
STALE_FACES = "stale_face_ids"


class ClaimEnding:
    """Ends claims that register nothing, against the history and (to take back) the gateway."""

    def __init__(self, history: HistoryStore, gateway: Gateway) -> None:
        self._history = history
        self._gateway = gateway

    def finish(
        self,
        message: ImportMessage,
        claim: Claim,
        status: HistoryStatus,
        reason: str,
        *,
        fingerprint: str | None = None,
        details: dict[str, Any] | None = None,
        facts: dict[str, Any] | None = None,
    ) -> None:
        """`facts`: plain attributes on an unrecorded registration (recovery.DEREGISTERED / UNVERIFIABLE)."""
        if claim.replacing is not None:
            # A re-registration that did not happen: the earlier registration stands, and so does its record
            # (its face ids are what a later deletion deregisters).
            self._history.restore(claim.replacing, claim.token)
            logger.info(
                "re-registration ended without registering; earlier record restored",
                extra={"key": message.object.key, "status": status.value, "reason": reason},
            )
            return
        written = self._history.record_outcome(
            message.object,
            status,
            reason,
            user_id=message.user_id,
            run_id=message.run_id,
            fingerprint=fingerprint,
            details=details,
            claim_token=claim.token,
            extra=facts or None,
        )
        if not written:
            logger.info("record changed while finishing; left as it is", extra={"key": message.object.key})

    def give_back(self, message: ImportMessage, claim: Claim, reason: str) -> None:
        """After a transient failure the record returns to queued, so the next delivery can claim it. Whether
        this was the last try is the batch's decision (it may re-queue a message that only waited); when it
        gives up, it records `failed` with the reason. A gateway call that may have registered keeps (or,
        restoring a re-index, sets) the `gateway_call_started` mark for the next claimant."""
        unsettled = claim.unsettled_gateway_call
        try:
            if claim.replacing is not None:
                self._history.restore(claim.replacing, claim.token, may_have_registered=unsettled)
            else:
                self._history.release(
                    message.object, claim.token, f"retrying: {reason[:500]}", may_have_registered=unsettled
                )
        except ClientError:
            logger.exception(
                "could not give the claim back; its lease will expire", extra={"key": message.object.key}
            )

    def take_back_found(self, message: ImportMessage, claim: Claim) -> dict[str, Any]:
        """The image is not registered after all (gone, stale, invalid, a duplicate): remove what a dead
        predecessor registered for it. Returns facts for the record's details."""
        if claim.unsettled_gateway_call and claim.found is None:
            try:
                claim.found = recovery.find_unrecorded_registration(
                    self._gateway,
                    self._history,
                    message.object,
                    message.user_id,
                    earlier_faces=claim.earlier_faces,
                )
            except RegistrationUnknown as unknown:
                claim.unsettled_gateway_call = False  # recorded in the details instead
                return {recovery.UNVERIFIABLE: str(unknown)[:300]}
        found = claim.found
        if found is None:
            claim.unsettled_gateway_call = False
            return {}
        self._gateway.deregister(message.user_id, found.face_ids, found.image_id)
        claim.found = None
        claim.unsettled_gateway_call = False
        return {recovery.DEREGISTERED: list(found.face_ids)}


def claim_from(token: str, before: HistoryRecord | None) -> Claim:
    """What a claim took over, from the record as the claim found it."""
    if before is None:
        return Claim(token)
    replacing = before if before.status in (HistoryStatus.INDEXED, HistoryStatus.DELETED) else None
    # Face ids on any record but a deleted one (deregistered) belong to a registration of this version that
    # may still exist: an indexed record's, or one a re-index was replacing when its worker died or gave up.
    earlier = before.face_ids if before.status != HistoryStatus.DELETED else ()
    return Claim(token, replacing, earlier_faces=earlier, unsettled_gateway_call=before.gateway_call_started)
