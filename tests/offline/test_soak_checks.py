"""The soak's checks (benchmarks/soak_checks.py) fail on each state they guard against: a check that cannot
fail proves nothing. States are planted by hand, as a perfect run would leave them, then broken one way."""

from __future__ import annotations

import json

import pytest

from benchmarks.soak_checks import (
    DLQ_EXPLAINED,
    EVERY_OBJECT,
    NO_DELETED_FACE,
    NO_DENIAL,
    NOT_TWICE,
    ObjectState,
    SoakState,
    VersionRecord,
    run_checks,
)
from offline.gateways.limits import Registry

BUCKET = "images"


def _import_body(key: str, version: str = "v1", mode: str = "import") -> str:
    return json.dumps(
        {
            "v": 1,
            "type": "import",
            "object": {"bucket": BUCKET, "key": key, "version_id": version, "etag": "e"},
            "user_id": "user",
            "run_id": "run-1",
            "mode": mode,
        }
    )


def _perfect() -> SoakState:
    """Three indexed images and one deleted after it was indexed (its face removed)."""
    registry = Registry()
    objects, records = {}, {}
    for n in range(3):
        key = f"soak/{n}.png"
        face = registry.add(f"user-{n}", f"fp{n}", f"{BUCKET}/{key}#v1")
        objects[key] = ObjectState(key, {f"fp{n}"}, user_ids={f"user-{n}"})
        records[key] = [VersionRecord(key, "v1", "indexed", "registered", (face.id,))]
    gone = registry.add("user-9", "fp9")
    registry.remove(gone.id)
    objects["soak/9.png"] = ObjectState("soak/9.png", {"fp9"}, deleted=True, user_ids={"user-9"})
    records["soak/9.png"] = [VersionRecord("soak/9.png", "v1", "deleted", "object-deleted", (gone.id,))]
    return SoakState(objects, records, {}, {}, registry, [], bucket=BUCKET)


def _failed(state: SoakState) -> dict[str, str]:
    return {c.name: c.detail for c in run_checks(state) if not c.passed}


def test_a_perfect_end_state_passes_every_check():
    assert _failed(_perfect()) == {}


@pytest.mark.parametrize("status", ["queued", "indexing"])
def test_an_object_left_in_flight_fails(status):
    state = _perfect()
    state.records["soak/1.png"] = [VersionRecord("soak/1.png", "v1", status, "retrying: gateway busy")]
    failed = _failed(state)
    assert EVERY_OBJECT in failed and "soak/1.png" in failed[EVERY_OBJECT]


def test_an_object_without_any_record_or_reason_fails():
    state = _perfect()
    del state.records["soak/2.png"]
    assert "no history record" in _failed(state)[EVERY_OBJECT]
    state.records["soak/2.png"] = [VersionRecord("soak/2.png", "v1", "failed", "")]
    assert "no reason" in _failed(state)[EVERY_OBJECT]


def test_a_skip_recorded_only_in_the_completion_report_passes():
    state = _perfect()
    registration = state.records.pop("soak/2.png")[0].registration_ids[0]
    state.registry.remove(registration)
    state.report_rows["soak/2.png"] = ("succeeded", "skipped:ignored")
    assert _failed(state) == {}


def test_a_face_registered_twice_fails():
    state = _perfect()
    state.registry.add("user-0", "fp0", f"{BUCKET}/soak/0.png#v1")
    failed = _failed(state)
    assert NOT_TWICE in failed and "soak/0.png" in failed[NOT_TWICE]


def test_a_second_face_of_one_object_fails_and_a_face_of_no_object_too():
    # Not a registry duplicate (no active one with the same user and bytes), still two faces for one object.
    state = _perfect()
    state.registry.add("other", "fp1", f"{BUCKET}/soak/1.png#v2")
    assert "2 active registrations" in _failed(state)[NOT_TWICE]
    state = _perfect()
    state.registry.add("someone-else", "fp1")
    assert "of no object in S3" in _failed(state)[NOT_TWICE]


def test_the_same_photo_of_two_users_is_two_objects():
    # The default soak's images repeat every 256 users: one user's deletion leaves the other's face.
    state = _perfect()
    twin = state.registry.add("user-7", "fp0")  # no S3 source (the HTTP API): known by user and bytes
    state.objects["soak/7.png"] = ObjectState("soak/7.png", {"fp0"}, user_ids={"user-7"})
    state.records["soak/7.png"] = [VersionRecord("soak/7.png", "v1", "indexed", "registered", (twin.id,))]
    state.objects["soak/0.png"].deleted = True
    state.registry.remove(state.records["soak/0.png"][0].registration_ids[0])
    state.records["soak/0.png"][0].status = "deleted"
    assert _failed(state) == {}
    state.registry.remove(twin.id)  # and the live twin's face gone is caught
    assert "not registered" in _failed(state)[NOT_TWICE]


def test_rekognition_faces_are_known_by_their_external_image_id():
    state = _perfect()
    state.objects["soak/u.png"] = ObjectState("soak/u.png", {"fpu"}, deleted=True, user_ids={"user é"})
    state.registry.add("user:20:c3:a9", "fpu")  # external_image_id("user é"), no source
    assert "soak/u.png" in _failed(state)[NO_DELETED_FACE]


def test_an_indexed_record_whose_face_is_gone_fails():
    state = _perfect()
    state.registry.remove(state.records["soak/0.png"][0].registration_ids[0])
    assert "not registered" in _failed(state)[NOT_TWICE]


def test_a_face_of_a_deleted_object_left_fails():
    state = _perfect()
    state.objects["soak/1.png"].deleted = True
    state.records["soak/1.png"][0].status = "deleted"
    failed = _failed(state)
    assert NO_DELETED_FACE in failed and "soak/1.png" in failed[NO_DELETED_FACE]


def test_a_deleted_object_still_recorded_indexed_fails():
    state = _perfect()
    state.registry.remove(state.records["soak/1.png"][0].registration_ids[0])
    state.objects["soak/1.png"].deleted = True
    assert "still indexed" in _failed(state)[NO_DELETED_FACE]


def test_a_dlq_message_needs_a_recorded_failure():
    state = _perfect()
    state.dlq_bodies.append(_import_body("soak/0.png"))  # indexed: a redundant copy, nothing lost
    assert _failed(state) == {}
    state.dlq_bodies[:] = [_import_body("soak/0.png", mode="reindex")]  # a re-index that never happened
    assert "history says indexed" in _failed(state)[DLQ_EXPLAINED]
    state.objects["soak/5.png"] = ObjectState("soak/5.png", {"fp5"}, user_ids={"user-5"})
    state.records["soak/5.png"] = [VersionRecord("soak/5.png", "v1", "failed", "gave-up")]
    state.dlq_bodies[:] = [_import_body("soak/5.png")]
    assert _failed(state) == {}
    state.dlq_bodies.append(_import_body("soak/5.png", version="v2"))  # another version: no record
    assert "no record" in _failed(state)[DLQ_EXPLAINED]


def test_an_unparseable_or_unexplained_delete_in_the_dlq_fails():
    state = _perfect()
    state.dlq_bodies.append("not json")
    assert "unparseable" in _failed(state)[DLQ_EXPLAINED]
    delete = json.dumps({"v": 1, "type": "delete", "object": {"bucket": BUCKET, "key": "soak/9.png"}})
    state.dlq_bodies[:] = [delete]
    assert "no delete failure" in _failed(state)[DLQ_EXPLAINED]
    state.delete_failures["soak/9.png"] = "gave up after 3 deliveries: retry:error: boom"
    assert _failed(state) == {}


def test_an_access_denial_fails():
    state = _perfect()
    state.access_denied.append({"caller": "indexer", "action": "s3:GetObject", "resource": "arn:aws:s3:::x"})
    assert "s3:GetObject" in _failed(state)[NO_DENIAL]
