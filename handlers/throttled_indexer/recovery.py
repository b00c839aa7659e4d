"""Registrations that a dead worker made but never recorded (ARCHITECTURE section 4, "Exactly once").

A worker marks its claim `gateway_call_started` (conditionally, on the claim it holds) just before it calls
the gateway; whoever settles what that call did removes the mark. A record that still carries it after its
worker is gone (lease expired, or given back after a timeout) may hide a registration: the next claimant asks
the gateway for it (`Gateway.find_registration`) before registering again, and the deleter asks before it
records a deletion. Only those paths pay the extra call.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aws_lambda_powertools import Logger

from handlers.common.contracts import ObjectRef
from handlers.common.history import HistoryRecord, HistoryStore
from handlers.throttled_indexer.gateway import (
    Gateway,
    Registration,
    RegistrationRequest,
    RegistrationUnknown,
)

# Recorded (details / attribute) when a registration may exist that can no longer be looked up.
UNVERIFIABLE = "unverifiable_unrecorded_registration"
DEREGISTERED = "deregistered_unrecorded_faces"

logger = Logger(child=True)


def find_unrecorded_registration(
    gateway: Gateway,
    history: HistoryStore,
    obj: ObjectRef,
    user_id: str,
    *,
    earlier_faces: tuple[str, ...] = (),
) -> Registration | None:
    """The registration of `obj` for `user_id` that the history does not show, or None.

    The gateway matches by image content, so it can also return faces that belong to other records: another
    (near-identical) photo of the same user, or the earlier registration a re-index of this version replaces
    (`earlier_faces`). Those are left out: only faces no record of this user holds are this version's.
    Raises `RegistrationUnknown` when the image can no longer be read."""
    try:
        found = gateway.find_registration(RegistrationRequest(obj=obj, user_id=user_id, properties={}))
    except RegistrationUnknown:
        # Deleted for good while its worker lay dead after the gateway call: nothing can find that face by
        # image any more. Kept findable for a person: this log line and the record (UNVERIFIABLE).
        logger.error(
            "a dead worker may have registered this image, which can no longer be searched",
            extra={"key": obj.key, "version": obj.version_id, "user_id": user_id},
        )
        raise
    if found is None or not found.face_ids:
        return found
    held = set(earlier_faces)
    this_version = (obj.bucket, obj.key, obj.version_id)
    # A user has a handful of records; the query streams them.
    for record in history.by_user(user_id):
        if (record.bucket, record.key, record.version_id) != this_version:
            held.update(record.face_ids)
    faces = tuple(face for face in found.face_ids if face not in held)
    if not faces:
        return None
    logger.warning(
        "found a registration that a previous worker made but did not record",
        extra={"key": obj.key, "version": obj.version_id, "face_ids": list(faces)},
    )
    return replace(found, face_ids=faces)


def take_back_unrecorded(gateway: Gateway, history: HistoryStore, record: HistoryRecord) -> dict[str, Any]:
    """For a record that must not stay registered (deleted, stale, a duplicate): deregister what a dead
    worker may have registered for it and settle the mark. Returns facts for the record (the faces removed,
    or that the image could no longer be searched), also written on the record as it settles the mark. A
    busy gateway raises `GatewayBusy` and leaves the mark for the next attempt."""
    if not record.gateway_call_started or not record.user_id:
        return {}
    earlier = record.face_ids  # deregistered (or being deregistered) by whoever handles the record's ids
    try:
        found = find_unrecorded_registration(
            gateway, history, record.object_ref(), record.user_id, earlier_faces=earlier
        )
    except RegistrationUnknown as unknown:
        facts: dict[str, Any] = {UNVERIFIABLE: str(unknown)[:300]}
        history.settle_gateway_call(record, facts)
        return facts
    facts = {}
    if found is not None:
        gateway.deregister(record.user_id, found.face_ids, found.image_id)
        facts[DEREGISTERED] = list(found.face_ids)
    history.settle_gateway_call(record, facts)
    return facts
