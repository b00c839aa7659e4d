"""The importer against moto S3 + DynamoDB and the in-memory face index: one image, one registration."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from indexer_fixtures import (
    HOSTILE_KEYS,
    IMAGE_BUCKET,
    QUARANTINE_BUCKET,
    first_attempt,
    import_message,
    jpeg_bytes,
    put_image,
)

from handlers.common.contracts import HistoryStatus, ObjectRef
from handlers.throttled_indexer.gateway import GatewayBusy, GatewayRejected


def _tags(s3, obj: ObjectRef) -> dict[str, str]:
    version = {"VersionId": obj.version_id} if obj.version_id else {}
    response = s3.get_object_tagging(Bucket=obj.bucket, Key=obj.key, **version)
    return {t["Key"]: t["Value"] for t in response["TagSet"]}


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_indexes_a_new_image_records_it_and_tags_it(s3, history, importer, face_index, key):
    obj = put_image(s3, key, jpeg_bytes(key), tags="UserId=user-1&Team=blue")
    outcome = importer.process(import_message(obj, properties={"name": "Zoë"}), first_attempt())
    assert (outcome.label, outcome.done) == ("indexed", True)
    assert face_index.registered_keys() == [key]
    record = history.get(obj)
    assert record.status == "indexed" and record.reason == "registered"
    assert record.face_ids and record.face_ids[0] in face_index.faces
    assert record.fingerprint and len(record.fingerprint) == 64
    assert record.tagged and "expires_at" not in record.raw
    assert _tags(s3, obj) == {"UserId": "user-1", "Team": "blue", "Indexed": "True"}


def test_redelivery_registers_once(s3, importer, face_index):
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    message = import_message(obj)
    assert importer.process(message, first_attempt()).label == "indexed"
    again = importer.process(message, first_attempt(receive_count=2))
    assert (again.label, again.done) == ("skipped:already-indexed", True)
    assert face_index.register_calls == 1 and len(face_index.faces) == 1


def test_a_newer_version_makes_the_qualified_one_stale(s3, history, importer, face_index):
    old = put_image(s3, "a.jpg", jpeg_bytes("old"))
    put_image(s3, "a.jpg", jpeg_bytes("new"))
    outcome = importer.process(import_message(old), first_attempt())
    assert (outcome.label, outcome.done) == ("skipped:stale", True)
    assert history.get(old).status == "skipped" and history.get(old).reason == "stale"
    assert face_index.register_calls == 0


def test_a_deleted_image_is_missing(s3, history, importer, face_index):
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    s3.delete_object(Bucket=IMAGE_BUCKET, Key="a.jpg")  # a delete marker: the version still exists
    assert importer.process(import_message(obj), first_attempt()).label == "skipped:missing"
    assert history.get(obj).reason == "missing" and face_index.register_calls == 0


def test_unversioned_bucket_uses_the_etag(s3, history, importer, face_index):
    obj = put_image(s3, "u.jpg", jpeg_bytes("one"), bucket="flat")
    assert obj.version_id is None
    put_image(s3, "u.jpg", jpeg_bytes("two"), bucket="flat")  # overwritten in place
    assert importer.process(import_message(obj), first_attempt()).label == "skipped:stale"
    fresh = put_image(s3, "u.jpg", jpeg_bytes("three"), bucket="flat")
    assert importer.process(import_message(fresh), first_attempt()).label == "indexed"


def test_same_bytes_for_the_same_user_are_registered_once(s3, history, importer, face_index):
    data = jpeg_bytes("same")
    first = put_image(s3, "one.jpg", data)
    second = put_image(s3, "two.jpg", data)
    other_user = put_image(s3, "three.jpg", data)
    assert importer.process(import_message(first), first_attempt()).label == "indexed"
    outcome = importer.process(import_message(second), first_attempt())
    assert outcome.label == "skipped:duplicate"
    record = history.get(second)
    assert (record.status, record.reason) == ("skipped", "duplicate")
    assert "one.jpg" in json.dumps(record.details)
    assert importer.process(import_message(other_user, user_id="user-2"), first_attempt()).label == "indexed"
    assert face_index.registered_keys() == ["one.jpg", "three.jpg"]


def test_a_permanent_refusal_is_recorded_and_quarantined(s3, history, face_index, clock, make_importer):
    importer = make_importer(quarantine_bucket=QUARANTINE_BUCKET, quarantine_prefix="failed/")
    obj = put_image(s3, "noface.jpg", jpeg_bytes("x"))
    face_index.script.append(GatewayRejected("no-face", "no face", {"unindexed_reasons": ["LOW_CONFIDENCE"]}))
    outcome = importer.process(import_message(obj), first_attempt())
    assert (outcome.label, outcome.done) == ("invalid:no-face", True)
    record = history.get(obj)
    assert (record.status, record.reason) == ("invalid", "no-face")
    details = record.details
    assert details["unindexed_reasons"] == ["LOW_CONFIDENCE"]
    copy = details["quarantined_to"]
    assert copy.startswith(f"s3://{QUARANTINE_BUCKET}/failed/{IMAGE_BUCKET}/noface.jpg")
    key = copy.removeprefix(f"s3://{QUARANTINE_BUCKET}/")
    assert s3.get_object(Bucket=QUARANTINE_BUCKET, Key=key)["Body"].read() == jpeg_bytes("x")
    assert [r.key for r in history.failures_since(clock.now - timedelta(minutes=1))] == ["noface.jpg"]
    # the fingerprint claim was released: the same bytes elsewhere are tried again, not "duplicate"
    again = put_image(s3, "noface-copy.jpg", jpeg_bytes("x"))
    assert importer.process(import_message(again), first_attempt()).label == "indexed"


def test_an_image_over_the_size_limit_is_invalid(s3, face_index, make_importer):
    importer = make_importer(max_image_bytes=1000)
    obj = put_image(s3, "big.jpg", jpeg_bytes("big", size=5000))
    assert importer.process(import_message(obj), first_attempt()).label == "invalid:too-large"
    assert face_index.register_calls == 0


def test_a_busy_gateway_gives_the_claim_back(s3, history, importer, face_index):
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    face_index.script.append(GatewayBusy("HTTP 429", retry_after=30))
    outcome = importer.process(import_message(obj), first_attempt())
    assert (outcome.done, outcome.busy, outcome.retry_after) == (False, True, 30)
    record = history.get(obj)
    assert record.status == "queued" and "HTTP 429" in record.reason and record.claim_token is None
    assert importer.process(import_message(obj), first_attempt(receive_count=2)).label == "indexed"


def test_busy_on_the_last_attempt_still_gives_the_claim_back(s3, history, importer, face_index):
    """Whether a last attempt ends in the DLQ is the batch's decision (it may re-queue a waiting message)."""
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    face_index.script.append(GatewayBusy("ThrottlingException"))
    outcome = importer.process(import_message(obj), first_attempt(receive_count=5, max_receive_count=5))
    assert (outcome.done, outcome.busy) == (False, True)
    assert history.get(obj).status == "queued"


def test_an_unexpected_error_gives_the_claim_back_and_propagates(s3, history, importer, face_index):
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    face_index.script.append(RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        importer.process(import_message(obj), first_attempt())
    assert history.get(obj).status == "queued"


def test_properties_by_reference(s3, face_index, make_importer):
    captured = []
    face_index.on_register = captured.append
    importer = make_importer()
    s3.put_object(Bucket=IMAGE_BUCKET, Key="props/u1.json", Body=json.dumps({"dept": "R&D", "name": "Ann"}))
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    message = import_message(obj, properties_ref=f"s3://{IMAGE_BUCKET}/props/u1.json")
    assert importer.process(message, first_attempt()).label == "indexed"
    assert captured[0].properties == {"dept": "R&D", "name": "Ann"}
    missing = put_image(s3, "b.jpg", jpeg_bytes("b"))
    message = import_message(missing, properties_ref=f"s3://{IMAGE_BUCKET}/props/nobody.json")
    assert importer.process(message, first_attempt()).label == "invalid:properties-missing"
    s3.put_object(Bucket=IMAGE_BUCKET, Key="props/bad.json", Body=b'{"n": 1}')
    bad = put_image(s3, "c.jpg", jpeg_bytes("c"))
    message = import_message(bad, properties_ref=f"s3://{IMAGE_BUCKET}/props/bad.json")
    assert importer.process(message, first_attempt()).label == "invalid:properties-invalid"


def test_keeps_other_tags_and_tolerates_a_full_tag_set(s3, history, importer):
    ten = "&".join(f"T{i}=v{i}" for i in range(10))
    obj = put_image(s3, "full.jpg", jpeg_bytes("full"), tags=ten)
    assert importer.process(import_message(obj), first_attempt()).label == "indexed"
    assert "Indexed" not in _tags(s3, obj) and len(_tags(s3, obj)) == 10
    assert history.get(obj).tagged is False


def test_redelivery_sets_a_missing_tag(s3, history, importer, face_index):
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    history.record_outcome(obj, HistoryStatus.INDEXED, "registered", user_id="user-1", run_id="r")
    assert importer.process(import_message(obj), first_attempt()).label == "skipped:already-indexed"
    assert _tags(s3, obj)["Indexed"] == "True" and history.get(obj).tagged
    assert face_index.register_calls == 0


def test_needs_bytes_gateways_get_the_exact_image(s3, make_importer):
    from indexer_fixtures import FakeFaceIndex

    gateway = FakeFaceIndex(needs_bytes=True)
    seen = []
    gateway.on_register = lambda request: seen.append(request.image)
    importer = make_importer(gateway=gateway)
    data = jpeg_bytes("exact", size=700_000)  # several streaming chunks
    obj = put_image(s3, "big.jpg", data)
    assert importer.process(import_message(obj), first_attempt()).label == "indexed"
    assert seen == [data]


def test_reindex_registers_again_and_removes_the_earlier_faces(s3, history, importer, face_index):
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    assert importer.process(import_message(obj), first_attempt()).label == "indexed"
    first_faces = history.get(obj).face_ids
    outcome = importer.process(import_message(obj, mode="reindex"), first_attempt())
    assert outcome.label == "indexed" and face_index.register_calls == 2
    record = history.get(obj)
    assert record.face_ids != first_faces and record.attempts == 2
    assert list(face_index.faces) == list(record.face_ids)  # the earlier face was deregistered


def test_unversioned_content_overwritten_in_place_replaces_the_registration(
    s3, history, importer, face_index
):
    first = put_image(s3, "u.jpg", jpeg_bytes("one"), bucket="flat")
    assert importer.process(import_message(first), first_attempt()).label == "indexed"
    second = put_image(s3, "u.jpg", jpeg_bytes("two"), bucket="flat")
    assert importer.process(import_message(second), first_attempt()).label == "indexed"
    record = history.get(second)
    assert record.etag == second.etag and list(face_index.faces) == list(record.face_ids)
    # the late message of the first content is stale, and changes nothing
    assert importer.process(import_message(first), first_attempt()).label == "skipped:stale"
    assert list(face_index.faces) == list(history.get(second).face_ids)


def test_a_reindex_that_cannot_remove_the_earlier_faces_finishes_on_redelivery(
    s3, history, importer, face_index
):
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    importer.process(import_message(obj), first_attempt())
    face_index.deregister_script.append(GatewayBusy("HTTP 503"))
    outcome = importer.process(import_message(obj, mode="reindex"), first_attempt())
    assert outcome.busy and len(face_index.faces) == 2  # the earlier face is still there
    record = history.get(obj)
    assert record.status == "indexed" and record.raw["stale_face_ids"]
    assert (
        importer.process(import_message(obj), first_attempt(receive_count=2)).label
        == "skipped:already-indexed"
    )
    assert list(face_index.faces) == list(history.get(obj).face_ids)
    assert "stale_face_ids" not in history.get(obj).raw


def test_a_reindex_that_finds_the_image_changed_keeps_the_earlier_record(s3, history, importer, face_index):
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    importer.process(import_message(obj), first_attempt())
    before = history.get(obj)
    put_image(s3, "a.jpg", jpeg_bytes("newer"))
    assert importer.process(import_message(obj, mode="reindex"), first_attempt()).label == "skipped:stale"
    after = history.get(obj)
    assert (after.status, after.face_ids, after.claim_token) == ("indexed", before.face_ids, None)


def test_reindex_of_a_deleted_version_registers_only_if_it_is_current_again(
    s3, history, importer, deleter, face_index
):
    from handlers.common.contracts import DeleteMessage

    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    importer.process(import_message(obj), first_attempt())
    marker = s3.delete_object(Bucket=IMAGE_BUCKET, Key="a.jpg")["VersionId"]
    deleter.process(DeleteMessage(object=ObjectRef(bucket=IMAGE_BUCKET, key="a.jpg", sequencer="01")))
    assert history.get(obj).status == "deleted" and face_index.faces == {}
    assert importer.process(import_message(obj), first_attempt()).label == "skipped:deleted"
    # still deleted: the re-index finds it missing and the deleted record stays as it was
    assert importer.process(import_message(obj, mode="reindex"), first_attempt()).label == "skipped:missing"
    assert (history.get(obj).status, history.get(obj).reason) == ("deleted", "deregistered")
    # the delete marker is removed: the version is current again and a re-index registers it
    s3.delete_object(Bucket=IMAGE_BUCKET, Key="a.jpg", VersionId=marker)
    assert importer.process(import_message(obj, mode="reindex"), first_attempt()).label == "indexed"
    assert len(face_index.faces) == 1 and history.get(obj).status == "indexed"


def test_the_same_bytes_uploaded_again_as_a_new_version_supersede_the_old_version(
    s3, history, importer, face_index
):
    data = jpeg_bytes("same photo")
    v1 = put_image(s3, "a.jpg", data)
    assert importer.process(import_message(v1), first_attempt()).label == "indexed"
    v2 = put_image(s3, "a.jpg", data)  # re-uploaded: same bytes, new version
    assert importer.process(import_message(v2), first_attempt()).label == "indexed"
    assert [version for _, _, version in face_index.faces.values()] == [v2.version_id]
    assert (history.get(v1).status, history.get(v1).reason) == ("skipped", "superseded")
