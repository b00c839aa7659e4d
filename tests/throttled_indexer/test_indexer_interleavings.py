"""Exactly once under concurrency: two workers on one object, and deletions interleaved with imports at
every step of the import. Each interleaving is driven step by step (hooks inside the import), so the runs
are deterministic; the invariant checked at the end is the one ARCHITECTURE states: a deleted object never
stays registered, a live object is registered once."""

from __future__ import annotations

import pytest
from indexer_fixtures import IMAGE_BUCKET, first_attempt, import_message, jpeg_bytes, put_image

from handlers.common.contracts import DeleteMessage, ObjectRef
from handlers.common.history import pad_sequencer
from handlers.throttled_indexer.gateway import GatewayBusy


def _delete_event(s3, obj: ObjectRef, sequencer: str, *, version: str | None = None) -> DeleteMessage:
    """Delete in S3 (delete marker unless a version is given) and build the EventBridge message."""
    if version:
        response = s3.delete_object(Bucket=obj.bucket, Key=obj.key, VersionId=version)
    else:
        response = s3.delete_object(Bucket=obj.bucket, Key=obj.key)
    return DeleteMessage(
        object=ObjectRef(
            bucket=obj.bucket, key=obj.key, version_id=response.get("VersionId"), sequencer=sequencer
        )
    )


def test_two_workers_on_the_same_object_register_it_once(s3, face_index, make_importer):
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    message = import_message(obj)
    worker_a = make_importer()
    worker_b = make_importer()
    seen_by_b = []
    # B receives a duplicate of the message while A is inside the gateway call.
    face_index.on_register = lambda request: seen_by_b.append(worker_b.process(message, first_attempt()))
    outcome_a = worker_a.process(message, first_attempt())
    assert outcome_a.label == "indexed"
    assert [(o.label, o.done) for o in seen_by_b] == [("retry:in-progress", False)]
    assert seen_by_b[0].retry_after and seen_by_b[0].retry_after > 0
    # B's retry sees the finished import
    assert worker_b.process(message, first_attempt(receive_count=2)).label == "skipped:already-indexed"
    assert face_index.register_calls == 1 and face_index.registered_keys() == ["a.jpg"]


def test_a_worker_that_died_is_taken_over_after_its_lease(s3, history, clock, make_importer):
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    _token, _ = history.claim(obj, lease_seconds=120)  # a worker claimed, then its invocation died
    importer = make_importer()
    assert importer.process(import_message(obj), first_attempt()).label == "retry:in-progress"
    clock.advance(121)
    assert importer.process(import_message(obj), first_attempt(receive_count=2)).label == "indexed"


def test_delete_before_the_import_starts(s3, history, importer, deleter, face_index):
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    history.record_queued(import_message(obj))
    event = _delete_event(s3, obj, "0A")
    assert deleter.process(event).label == "deleted"
    assert history.get(obj).status == "deleted"
    assert importer.process(import_message(obj), first_attempt()).label == "skipped:deleted"
    assert face_index.faces == {} and face_index.register_calls == 0


def test_delete_after_the_import_finished(s3, history, importer, deleter, face_index):
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    assert importer.process(import_message(obj), first_attempt()).label == "indexed"
    assert deleter.process(_delete_event(s3, obj, "0A")).label == "deleted"
    record = history.get(obj)
    assert (record.status, record.reason) == ("deleted", "deregistered")
    assert face_index.faces == {}
    # the same event again (at-least-once delivery) changes nothing
    assert deleter.process(
        DeleteMessage(object=ObjectRef(bucket=IMAGE_BUCKET, key="a.jpg", sequencer="0A"))
    ).label == ("deleted:nothing-registered")
    assert face_index.deregister_calls == 1


def test_delete_while_reading_the_image_before_the_gateway_call(
    s3, history, face_index, deleter, make_importer
):
    """The S3 delete and the delete event are processed after the claim, before the gateway call."""
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    real_claim = history.claim_fingerprint

    def claim_then_delete(user_id, fingerprint, ref):
        result = real_claim(user_id, fingerprint, ref)
        assert deleter.process(_delete_event(s3, obj, "0B")).label == "deleted"
        return result

    importer = make_importer(history=_Spy(history, claim_fingerprint=claim_then_delete))
    outcome = importer.process(import_message(obj), first_attempt())
    assert outcome.done and outcome.label == "skipped:deleted"
    assert face_index.register_calls == 0 and face_index.faces == {}
    assert history.get(obj).status == "deleted"


def test_delete_during_the_gateway_call_is_undone_by_the_importer(
    s3, history, face_index, deleter, make_importer
):
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    face_index.on_register = lambda request: deleter.process(_delete_event(s3, obj, "0C"))
    importer = make_importer()
    outcome = importer.process(import_message(obj), first_attempt())
    assert (outcome.label, outcome.done) == ("deleted:while-indexing", True)
    assert face_index.faces == {} and face_index.deregister_calls == 1
    record = history.get(obj)
    assert (record.status, record.reason) == ("deleted", "deleted-while-indexing")
    assert "pending_deregistration" not in record.raw


def test_delete_between_the_gateway_call_and_the_final_write(s3, history, face_index, deleter, make_importer):
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    importer = make_importer(before_finish=lambda ref: deleter.process(_delete_event(s3, obj, "0D")))
    assert importer.process(import_message(obj), first_attempt()).label == "deleted:while-indexing"
    assert face_index.faces == {} and history.get(obj).status == "deleted"


def test_a_failed_take_back_is_finished_by_the_next_delivery(s3, history, face_index, deleter, make_importer):
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    face_index.deregister_script.append(GatewayBusy("HTTP 503"))
    importer = make_importer(before_finish=lambda ref: deleter.process(_delete_event(s3, obj, "0E")))
    outcome = importer.process(import_message(obj), first_attempt())
    assert outcome.busy and not outcome.done
    assert len(face_index.faces) == 1  # still registered: the take-back is pending
    assert history.get(obj).raw["pending_deregistration"] is True
    plain = make_importer()
    assert plain.process(import_message(obj), first_attempt(receive_count=2)).label == "skipped:deleted"
    assert face_index.faces == {} and "pending_deregistration" not in history.get(obj).raw


def test_an_old_delete_event_never_undoes_a_newer_upload(s3, history, importer, deleter, face_index):
    v1 = put_image(s3, "a.jpg", jpeg_bytes("v1"))
    assert importer.process(import_message(v1), first_attempt()).label == "indexed"
    marker = s3.delete_object(Bucket=IMAGE_BUCKET, Key="a.jpg")["VersionId"]
    v2 = put_image(s3, "a.jpg", jpeg_bytes("v2"))
    assert importer.process(import_message(v2), first_attempt()).label == "indexed"
    # the delete event of the marker arrives late, after the re-upload was indexed
    late = DeleteMessage(
        object=ObjectRef(bucket=IMAGE_BUCKET, key="a.jpg", version_id=marker, sequencer="10")
    )
    assert deleter.process(late).label == "deleted"  # v1: no longer current
    assert history.get(v1).status == "deleted"
    assert history.get(v2).status == "indexed"
    assert (
        face_index.registered_keys() == ["a.jpg"]
        and next(iter(face_index.faces.values()))[2] == v2.version_id
    )


def test_delete_events_in_reverse_sequencer_order(s3, history, importer, deleter, face_index):
    v1 = put_image(s3, "a.jpg", jpeg_bytes("v1"))
    importer.process(import_message(v1), first_attempt())
    v2 = put_image(s3, "a.jpg", jpeg_bytes("v2"))
    importer.process(import_message(v2), first_attempt())
    # both versions are deleted permanently; the newer event is processed first
    s3.delete_object(Bucket=IMAGE_BUCKET, Key="a.jpg", VersionId=v2.version_id)
    s3.delete_object(Bucket=IMAGE_BUCKET, Key="a.jpg", VersionId=v1.version_id)
    # 16 and 18 digits, two cases: right-padded, "0062e99a88dc4075" is "...407500" > "...4074F0".
    newer = DeleteMessage(
        object=ObjectRef(
            bucket=IMAGE_BUCKET, key="a.jpg", version_id=v1.version_id, sequencer="0062e99a88dc4075"
        )
    )
    older = DeleteMessage(
        object=ObjectRef(
            bucket=IMAGE_BUCKET, key="a.jpg", version_id=v2.version_id, sequencer="0062E99A88DC4074F0"
        )
    )
    assert deleter.process(newer).label == "deleted"
    assert deleter.process(older).label == "deleted"  # older, but v2 is gone too: its face goes as well
    assert face_index.faces == {}
    assert history.newest_delete_sequencer(IMAGE_BUCKET, "a.jpg") == pad_sequencer("0062E99A88DC4075")


def test_an_import_from_an_s3_event_older_than_a_seen_delete_is_stale(s3, history, importer, face_index):
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    history.note_delete_event(IMAGE_BUCKET, "a.jpg", "0062E99A88DC407460")
    # S3's rule right-pads the shorter: "0062e99a88dc4074" is "...407400", older than "...407460" (the old
    # left-pad rule called it newer); "617f08299329d189" is newer (the old rule called it older).
    old = obj.model_copy(update={"sequencer": "0062e99a88dc4074"})
    assert importer.process(import_message(old), first_attempt()).label == "skipped:stale"
    newer = obj.model_copy(update={"sequencer": "617f08299329d189"})
    assert importer.process(import_message(newer), first_attempt()).label == "indexed"


def test_unversioned_delete_then_new_content_under_the_same_key(s3, history, importer, deleter, face_index):
    first = put_image(s3, "u.jpg", jpeg_bytes("one"), bucket="flat")
    assert importer.process(import_message(first), first_attempt()).label == "indexed"
    s3.delete_object(Bucket="flat", Key="u.jpg")
    second = put_image(s3, "u.jpg", jpeg_bytes("two"), bucket="flat")
    event = DeleteMessage(object=ObjectRef(bucket="flat", key="u.jpg", sequencer="01"))
    assert deleter.process(event).label == "deleted"  # the live content has another ETag
    assert face_index.faces == {}
    assert importer.process(import_message(second), first_attempt()).label == "indexed"
    assert len(face_index.faces) == 1
    # the same delete event again: the current content is live and stays registered
    assert deleter.process(event).label == "deleted:nothing-registered"
    assert len(face_index.faces) == 1


@pytest.mark.parametrize("step", ["before-claim", "after-claim", "after-fingerprint", "gateway", "finish"])
def test_a_delete_at_any_step_leaves_no_face(s3, history, face_index, deleter, step, make_importer):
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    fired = []

    def delete_now(*_args, **_kw):
        if not fired:
            fired.append(step)
            deleter.process(_delete_event(s3, obj, "0F"))

    # after-claim: the deletion lands before the importer reads the image (it must see it gone)
    hooks = {
        "before-claim": {"get": delete_now},
        "after-claim": {"claim": delete_now},
        "after-fingerprint": {"claim_fingerprint": delete_now},
    }.get(step, {})
    spy = _Spy(history, before=hooks)
    if step == "gateway":
        face_index.on_register = delete_now
    importer = make_importer(history=spy, before_finish=delete_now if step == "finish" else None)
    outcome = importer.process(import_message(obj), first_attempt())
    assert fired == [step]
    assert outcome.done
    assert face_index.faces == {}, f"a face stayed registered when the delete came at {step}"
    assert history.get(obj).status in ("deleted", "skipped")


class _Spy:
    """Delegates to the real HistoryStore; runs hooks before (or instead of wrapping) chosen methods.

    Used only to schedule the deleter at a precise point of an import; every call still reaches the real
    store, so nothing of the code under test is replaced."""

    def __init__(self, store, before=None, **replacements):
        self._store = store
        self._before = before or {}
        self._replacements = replacements

    def __getattr__(self, name):
        if name in self._replacements:
            return self._replacements[name]
        real = getattr(self._store, name)
        hook = self._before.get(name)
        if hook is None:
            return real

        def wrapped(*args, **kwargs):
            result = real(*args, **kwargs)
            hook()
            return result

        return wrapped


def test_a_delete_during_a_reindex_removes_old_and_new_faces(s3, history, face_index, deleter, make_importer):
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    importer = make_importer()
    assert importer.process(import_message(obj), first_attempt()).label == "indexed"
    face_index.on_register = lambda request: deleter.process(_delete_event(s3, obj, "10"))
    outcome = importer.process(import_message(obj, mode="reindex"), first_attempt())
    assert outcome.label == "deleted:while-indexing"
    assert face_index.faces == {} and history.get(obj).status == "deleted"


def test_a_newer_version_indexed_while_an_older_one_registers(
    s3, history, face_index, deleter, make_importer
):
    """Per-image gateways (Rekognition): the older version's face is taken back."""
    v1 = put_image(s3, "a.jpg", jpeg_bytes("v1"))
    importer = make_importer(retire_superseded=deleter.retire_superseded)
    v2_holder = []

    def upload_and_index_v2(request):
        if request.obj.version_id == v1.version_id:
            v2 = put_image(s3, "a.jpg", jpeg_bytes("v2"))
            v2_holder.append(v2)
            assert importer.process(import_message(v2), first_attempt()).label == "indexed"

    face_index.on_register = upload_and_index_v2
    outcome = importer.process(import_message(v1), first_attempt())
    assert outcome.label == "skipped:while-indexing"
    assert [version for _, _, version in face_index.faces.values()] == [v2_holder[0].version_id]
    assert (history.get(v1).status, history.get(v1).reason) == ("skipped", "superseded")


def test_superseding_keeps_a_user_level_registration(s3, history, make_importer):
    """HTTP-like gateways register the user, not the image: a newer version carries the registration on."""
    from indexer_fixtures import FakeFaceIndex

    from handlers.throttled_indexer.deleter import Deleter

    gateway = FakeFaceIndex(registers_per_image=False)
    deleter = Deleter(s3=s3, history=history, gateway=gateway)
    importer = make_importer(gateway=gateway, retire_superseded=deleter.retire_superseded)
    v1 = put_image(s3, "a.jpg", jpeg_bytes("v1"))
    importer.process(import_message(v1), first_attempt())
    v2 = put_image(s3, "a.jpg", jpeg_bytes("v2"))
    importer.process(import_message(v2), first_attempt())
    assert gateway.deregister_calls == 0
    assert (history.get(v1).status, history.get(v1).reason) == ("skipped", "superseded")
    assert history.get(v2).status == "indexed"
