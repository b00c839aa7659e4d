"""A worker that dies mid-import never makes an image registered twice (issue 5, and issue 6's e2e case
"a worker crash after the gateway succeeded but before the history write: nothing twice").

A crash is `WorkerDied`, a BaseException raised inside the import: like a killed Lambda worker, nothing of the
importer runs after it (no give-back, no final write); the next delivery comes after the claim's lease.
Rekognition is botocore's Stubber: every call the importer makes must be the next stubbed one, so a second
IndexFaces where a SearchFacesByImage is expected fails the test; the HTTP gateway is a real local server."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from indexer_fixtures import (
    Scripted,
    ScriptedGateway,
    first_attempt,
    import_message,
    jpeg_bytes,
    put_image,
)

from handlers.common.contracts import DeleteMessage, ObjectRef
from handlers.common.history import GATEWAY_CALL_ATTRIBUTE
from handlers.throttled_indexer.deleter import Deleter
from handlers.throttled_indexer.gateway import GatewayBusy, RegistrationRequest, RegistrationUnknown
from handlers.throttled_indexer.http_gateway import HttpGateway
from handlers.throttled_indexer.recovery import UNVERIFIABLE
from handlers.throttled_indexer.rekognition_gateway import (
    SEARCH_MAX_FACES,
    SEARCH_THRESHOLD,
    RekognitionGateway,
    external_image_id,
)

LEASE_SECONDS = 900  # first_attempt()'s lease
FACE = "11111111-1111-1111-1111-111111111111"
OTHER_FACE = "22222222-2222-2222-2222-222222222222"
NEW_FACE = "33333333-3333-3333-3333-333333333333"
USER = "José García"


class WorkerDied(BaseException):
    """The worker process was killed: no `except Exception` of ours sees it."""


def die(*_args, **_kwargs):
    raise WorkerDied()


@pytest.fixture
def rekognition():
    client = boto3.client("rekognition", region_name="us-east-1", config=Config(retries={"max_attempts": 1}))
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _s3_object(obj: ObjectRef) -> dict:
    return {"Bucket": obj.bucket, "Name": obj.key, "Version": obj.version_id}


def _index_params(obj: ObjectRef, user_id: str = USER) -> dict:
    return {
        "CollectionId": "faces",
        "Image": {"S3Object": _s3_object(obj)},
        "ExternalImageId": external_image_id(user_id),
        "MaxFaces": 1,
        "QualityFilter": "AUTO",
        "DetectionAttributes": [],
    }


def _search_params(obj: ObjectRef) -> dict:
    return {
        "CollectionId": "faces",
        "Image": {"S3Object": _s3_object(obj)},
        "MaxFaces": SEARCH_MAX_FACES,
        "FaceMatchThreshold": SEARCH_THRESHOLD,
        "QualityFilter": "NONE",
    }


def _indexed(face_id: str, user_id: str = USER) -> dict:
    face = {
        "FaceId": face_id,
        "ImageId": f"image-{face_id[:4]}",
        "ExternalImageId": external_image_id(user_id),
    }
    return {"FaceRecords": [{"Face": face, "FaceDetail": {}}], "FaceModelVersion": "7.0"}


def _matches(*faces: tuple[str, str]) -> dict:
    """SearchFacesByImage answer: (face id, user id) pairs, identical image -> similarity 100."""
    return {
        "SearchedFaceConfidence": 99.9,
        "FaceMatches": [
            {
                "Similarity": 100.0,
                "Face": {
                    "FaceId": face_id,
                    "ImageId": f"image-{face_id[:4]}",
                    "ExternalImageId": external_image_id(user_id),
                },
            }
            for face_id, user_id in faces
        ],
        "FaceModelVersion": "7.0",
    }


def _tags(s3, obj: ObjectRef) -> dict[str, str]:
    response = s3.get_object_tagging(Bucket=obj.bucket, Key=obj.key, VersionId=obj.version_id)
    return {t["Key"]: t["Value"] for t in response["TagSet"]}


# ------------------------------------------------------------------------------------ rekognition, importer
def test_crash_after_index_faces_is_recovered_without_a_second_registration(
    s3, history, clock, rekognition, make_importer
):
    client, stubber = rekognition
    obj = put_image(s3, "photos/a b+c.jpg", jpeg_bytes("a"))
    message = import_message(obj, user_id=USER)
    stubber.add_response("index_faces", _indexed(FACE), _index_params(obj))
    crashing = make_importer(gateway=RekognitionGateway(client, "faces"), before_finish=die)
    with pytest.raises(WorkerDied):
        crashing.process(message, first_attempt())
    marked = history.get(obj)
    assert (marked.status, marked.face_ids, marked.gateway_call_started) == ("indexing", (), True)

    # The redelivery waits for the dead worker's lease, then asks Rekognition instead of indexing again.
    worker = make_importer(gateway=RekognitionGateway(client, "faces"))
    assert worker.process(message, first_attempt(receive_count=2)).label == "retry:in-progress"
    clock.advance(LEASE_SECONDS + 1)
    stubber.add_response("search_faces_by_image", _matches((FACE, USER)), _search_params(obj))
    outcome = worker.process(message, first_attempt(receive_count=3))

    assert (outcome.label, outcome.reason) == ("indexed", "recovered")
    record = history.get(obj)
    assert (record.status, record.reason, record.face_ids) == ("indexed", "recovered", (FACE,))
    assert record.external_image_id == external_image_id(USER) and record.fingerprint
    assert record.details["recovered_by"] == "SearchFacesByImage"
    assert GATEWAY_CALL_ATTRIBUTE not in record.raw
    assert _tags(s3, obj)["Indexed"] == "True"
    # A further redelivery is a plain skip: no Rekognition call at all (the Stubber has nothing queued).
    assert worker.process(message, first_attempt(receive_count=4)).label == "skipped:already-indexed"


def test_crash_before_the_gateway_call_indexes_normally_without_a_search(
    s3, history, clock, rekognition, make_importer
):
    client, stubber = rekognition
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    message = import_message(obj, user_id=USER)
    s3.meta.events.register("before-call.s3.GetObject", die, unique_id="crash")
    with pytest.raises(WorkerDied):
        make_importer(gateway=RekognitionGateway(client, "faces")).process(message, first_attempt())
    s3.meta.events.unregister("before-call.s3.GetObject", unique_id="crash")
    assert history.get(obj).gateway_call_started is False

    clock.advance(LEASE_SECONDS + 1)
    stubber.add_response("index_faces", _indexed(FACE), _index_params(obj))
    worker = make_importer(gateway=RekognitionGateway(client, "faces"))
    assert worker.process(message, first_attempt(receive_count=2)).label == "indexed"
    record = history.get(obj)
    assert (record.reason, record.face_ids) == ("registered", (FACE,))


def test_crash_after_the_mark_before_rekognition_got_the_call(s3, history, clock, rekognition, make_importer):
    """The mark says "maybe": the search finds nothing, so IndexFaces runs once."""
    client, stubber = rekognition
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    message = import_message(obj, user_id=USER)
    client.meta.events.register("provide-client-params.rekognition.IndexFaces", die, unique_id="crash")
    with pytest.raises(WorkerDied):
        make_importer(gateway=RekognitionGateway(client, "faces")).process(message, first_attempt())
    client.meta.events.unregister("provide-client-params.rekognition.IndexFaces", unique_id="crash")
    assert history.get(obj).gateway_call_started

    clock.advance(LEASE_SECONDS + 1)
    stubber.add_response("search_faces_by_image", _matches(), _search_params(obj))
    stubber.add_response("index_faces", _indexed(FACE), _index_params(obj))
    worker = make_importer(gateway=RekognitionGateway(client, "faces"))
    outcome = worker.process(message, first_attempt(receive_count=2))
    assert (outcome.label, outcome.reason) == ("indexed", "registered")
    assert history.get(obj).face_ids == (FACE,)


def test_search_finding_no_face_in_the_image_continues_with_index_faces(
    s3, history, clock, rekognition, make_importer
):
    client, stubber = rekognition
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    message = import_message(obj, user_id=USER)
    token, _ = history.claim(obj, lease_seconds=60)
    assert history.mark_gateway_call(
        obj, token, user_id=USER, fingerprint="f" * 64
    )  # a worker marked, then died
    clock.advance(61)
    stubber.add_client_error(
        "search_faces_by_image",
        service_error_code="InvalidParameterException",
        service_message="There are no faces in the image. Should be at least 1.",
        expected_params=_search_params(obj),
    )
    stubber.add_response(
        "index_faces",
        {"FaceRecords": [], "UnindexedFaces": [{"Reasons": ["LOW_CONFIDENCE"]}]},
        _index_params(obj),
    )
    outcome = make_importer(gateway=RekognitionGateway(client, "faces")).process(message, first_attempt())
    assert outcome.label == "invalid:no-face"
    record = history.get(obj)
    assert record.status == "invalid" and GATEWAY_CALL_ATTRIBUTE not in record.raw


def test_faces_of_other_records_and_other_users_are_not_taken_for_this_image(
    s3, history, clock, rekognition, make_importer
):
    """The search matches by content: a near-identical photo of the same user (another record's face) and the
    same photo registered for another user are not this version's registration."""
    client, stubber = rekognition
    gateway = RekognitionGateway(client, "faces")
    other = put_image(s3, "other.jpg", jpeg_bytes("other"))
    stubber.add_response("index_faces", _indexed(OTHER_FACE), _index_params(other))
    assert make_importer(gateway=gateway).process(import_message(other, user_id=USER), first_attempt())

    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    message = import_message(obj, user_id=USER)
    stubber.add_response("index_faces", _indexed(FACE), _index_params(obj))
    with pytest.raises(WorkerDied):
        make_importer(gateway=gateway, before_finish=die).process(message, first_attempt())
    clock.advance(LEASE_SECONDS + 1)
    stubber.add_response(
        "search_faces_by_image",
        _matches((OTHER_FACE, USER), (FACE, USER), (NEW_FACE, "someone else")),
        _search_params(obj),
    )
    assert make_importer(gateway=gateway).process(message, first_attempt(receive_count=2)).reason == (
        "recovered"
    )
    assert history.get(obj).face_ids == (FACE,)
    assert history.get(other).face_ids == (OTHER_FACE,)


def test_only_other_records_faces_match_so_the_image_is_indexed(
    s3, history, clock, rekognition, make_importer
):
    client, stubber = rekognition
    gateway = RekognitionGateway(client, "faces")
    other = put_image(s3, "other.jpg", jpeg_bytes("other"))
    stubber.add_response("index_faces", _indexed(OTHER_FACE), _index_params(other))
    make_importer(gateway=gateway).process(import_message(other, user_id=USER), first_attempt())
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    token, _ = history.claim(obj, lease_seconds=60)
    history.mark_gateway_call(obj, token, user_id=USER, fingerprint="f" * 64)
    clock.advance(61)
    stubber.add_response("search_faces_by_image", _matches((OTHER_FACE, USER)), _search_params(obj))
    stubber.add_response("index_faces", _indexed(FACE), _index_params(obj))
    outcome = make_importer(gateway=gateway).process(import_message(obj, user_id=USER), first_attempt())
    assert (outcome.reason, history.get(obj).face_ids) == ("registered", (FACE,))


def test_a_throttled_index_faces_settles_the_mark_a_timeout_keeps_it(s3, history, rekognition, make_importer):
    client, stubber = rekognition
    gateway = RekognitionGateway(client, "faces")
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    message = import_message(obj, user_id=USER)
    # Throttled on the only attempt: Rekognition did nothing, the next attempt needs no search.
    stubber.add_client_error("index_faces", service_error_code="ThrottlingException", http_status_code=400)
    assert make_importer(gateway=gateway).process(message, first_attempt()).busy
    assert (history.get(obj).status, history.get(obj).gateway_call_started) == ("queued", False)
    # A server error may hide a registration: the mark stays and the next attempt searches first.
    stubber.add_client_error("index_faces", service_error_code="InternalServerError", http_status_code=500)
    assert make_importer(gateway=gateway).process(message, first_attempt(receive_count=2)).busy
    assert history.get(obj).gateway_call_started is True
    stubber.add_response("search_faces_by_image", _matches((FACE, USER)), _search_params(obj))
    outcome = make_importer(gateway=gateway).process(message, first_attempt(receive_count=3))
    assert (outcome.label, outcome.reason, history.get(obj).face_ids) == ("indexed", "recovered", (FACE,))


# ------------------------------------------------------------------------------------ deletions
def _delete_marker_event(s3, obj: ObjectRef, sequencer: str) -> DeleteMessage:
    marker = s3.delete_object(Bucket=obj.bucket, Key=obj.key)["VersionId"]
    return DeleteMessage(
        object=ObjectRef(bucket=obj.bucket, key=obj.key, version_id=marker, sequencer=sequencer)
    )


def test_deleted_while_the_crashed_worker_lay_dead_no_face_remains(
    s3, history, clock, rekognition, make_importer
):
    client, stubber = rekognition
    gateway = RekognitionGateway(client, "faces")
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    message = import_message(obj, user_id=USER)
    stubber.add_response("index_faces", _indexed(FACE), _index_params(obj))
    with pytest.raises(WorkerDied):
        make_importer(gateway=gateway, before_finish=die).process(message, first_attempt())
    clock.advance(LEASE_SECONDS + 1)
    # The deleter finds a dead claim that called Rekognition: it looks the face up by image and removes it.
    stubber.add_response("search_faces_by_image", _matches((FACE, USER)), _search_params(obj))
    stubber.add_response(
        "delete_faces", {"DeletedFaces": [FACE]}, {"CollectionId": "faces", "FaceIds": [FACE]}
    )
    deleter = Deleter(s3=s3, history=history, gateway=gateway, clock=clock)
    assert deleter.process(_delete_marker_event(s3, obj, "0A")).label == "deleted"
    record = history.get(obj)
    assert record.status == "deleted" and GATEWAY_CALL_ATTRIBUTE not in record.raw
    # The import's redelivery: nothing left to do, no Rekognition call.
    assert make_importer(gateway=gateway).process(message, first_attempt(2)).label == "skipped:deleted"


def test_deleted_while_the_dead_workers_lease_still_ran(s3, history, clock, rekognition, make_importer):
    """Before the lease ends the deleter cannot tell a dead worker from a slow one: it leaves the mark, and
    the import's redelivery takes the face back."""
    client, stubber = rekognition
    gateway = RekognitionGateway(client, "faces")
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    message = import_message(obj, user_id=USER)
    stubber.add_response("index_faces", _indexed(FACE), _index_params(obj))
    with pytest.raises(WorkerDied):
        make_importer(gateway=gateway, before_finish=die).process(message, first_attempt())
    deleter = Deleter(s3=s3, history=history, gateway=gateway, clock=clock)
    assert deleter.process(_delete_marker_event(s3, obj, "0A")).label == "deleted"
    assert history.get(obj).gateway_call_started
    clock.advance(LEASE_SECONDS + 1)
    stubber.add_response("search_faces_by_image", _matches((FACE, USER)), _search_params(obj))
    stubber.add_response(
        "delete_faces", {"DeletedFaces": [FACE]}, {"CollectionId": "faces", "FaceIds": [FACE]}
    )
    assert make_importer(gateway=gateway).process(message, first_attempt(2)).label == "skipped:deleted"
    assert GATEWAY_CALL_ATTRIBUTE not in history.get(obj).raw


# ------------------------------------------------------------------------------------ fake index: outcomes
def test_crash_then_the_version_became_stale_its_face_is_taken_back(
    s3, history, clock, face_index, make_importer
):
    v1 = put_image(s3, "a.jpg", jpeg_bytes("v1"))
    message = import_message(v1)
    with pytest.raises(WorkerDied):
        make_importer(before_finish=die).process(message, first_attempt())
    put_image(s3, "a.jpg", jpeg_bytes("v2"))  # v1 is no longer current
    clock.advance(LEASE_SECONDS + 1)
    outcome = make_importer().process(message, first_attempt(2))
    assert outcome.label == "skipped:stale"
    assert face_index.faces == {} and face_index.register_calls == 1
    assert history.get(v1).raw["deregistered_unrecorded_faces"] == ["face-1"]


def test_crash_then_a_duplicate_was_indexed_the_image_stays_registered_once(
    s3, clock, face_index, make_importer
):
    data = jpeg_bytes("same")
    first = put_image(s3, "first.jpg", data)
    with pytest.raises(WorkerDied):
        make_importer(before_finish=die).process(import_message(first), first_attempt())
    clock.advance(LEASE_SECONDS + 1)  # the dead worker's fingerprint claim lapses with its lease
    second = put_image(s3, "second.jpg", data)
    assert make_importer().process(import_message(second), first_attempt()).label == "indexed"
    outcome = make_importer().process(import_message(first), first_attempt(2))
    assert outcome.label == "skipped:duplicate"
    assert face_index.registered_keys() == ["second.jpg"]


def test_crash_during_a_reindex_leaves_the_image_registered_once(
    s3, history, clock, face_index, make_importer
):
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    importer = make_importer()
    assert importer.process(import_message(obj), first_attempt()).label == "indexed"
    reindex = import_message(obj, mode="reindex")
    with pytest.raises(WorkerDied):
        make_importer(before_finish=die).process(reindex, first_attempt())
    assert len(face_index.faces) == 2  # the earlier registration and the dead worker's
    clock.advance(LEASE_SECONDS + 1)
    outcome = importer.process(reindex, first_attempt(2))
    assert (outcome.label, outcome.reason) == ("indexed", "recovered")
    assert list(face_index.faces) == ["face-2"] and history.get(obj).face_ids == ("face-2",)
    assert face_index.register_calls == 2


# ------------------------------------------------------------------------------------ http gateway
def test_http_crash_after_the_api_registered_is_recorded_as_already_registered(
    s3, history, clock, make_importer
):
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    message = import_message(obj, user_id=USER)
    with ScriptedGateway() as api:
        gateway = HttpGateway(api.url, timeout_seconds=5)
        api.script += [Scripted(200, b'{"ImageId": "p-1"}'), Scripted(409, b'{"message": "exists"}')]
        with pytest.raises(WorkerDied):
            make_importer(gateway=gateway, before_finish=die).process(message, first_attempt())
        clock.advance(LEASE_SECONDS + 1)
        outcome = make_importer(gateway=gateway).process(message, first_attempt(2))
        paths = [r.path for r in api.received]
    assert (outcome.label, outcome.reason) == ("indexed", "already-registered")
    record = history.get(obj)
    assert (record.status, record.reason) == ("indexed", "already-registered")
    assert GATEWAY_CALL_ATTRIBUTE not in record.raw
    assert paths == ["/api/register", "/api/register"]  # no lookup call, no deregistration


def test_unversioned_bucket_crash_recovery_searches_without_a_version(
    s3, history, clock, rekognition, make_importer
):
    client, stubber = rekognition
    obj = put_image(s3, "u.jpg", jpeg_bytes("u"), bucket="flat")
    message = import_message(obj, user_id=USER)
    unversioned = {"Bucket": "flat", "Name": "u.jpg"}
    stubber.add_response(
        "index_faces", _indexed(FACE), {**_index_params(obj), "Image": {"S3Object": unversioned}}
    )
    with pytest.raises(WorkerDied):
        make_importer(gateway=RekognitionGateway(client, "faces"), before_finish=die).process(
            message, first_attempt()
        )
    clock.advance(LEASE_SECONDS + 1)
    stubber.add_response(
        "search_faces_by_image",
        _matches((FACE, USER)),
        {**_search_params(obj), "Image": {"S3Object": unversioned}},
    )
    outcome = make_importer(gateway=RekognitionGateway(client, "faces")).process(message, first_attempt(2))
    assert outcome.reason == "recovered" and history.get(obj).face_ids == (FACE,)


# ------------------------------------------------------------------------------------ permanently deleted
def test_a_version_deleted_for_good_while_its_worker_lay_dead_is_recorded_unverifiable(
    s3, history, clock, rekognition, make_importer
):
    """Known limit: Rekognition cannot search a version that no longer exists. It is not silent: the record
    says so (and the log has an error line)."""
    client, stubber = rekognition
    gateway = RekognitionGateway(client, "faces")
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    stubber.add_response("index_faces", _indexed(FACE), _index_params(obj))
    with pytest.raises(WorkerDied):
        make_importer(gateway=gateway, before_finish=die).process(
            import_message(obj, user_id=USER), first_attempt()
        )
    clock.advance(LEASE_SECONDS + 1)
    s3.delete_object(Bucket=obj.bucket, Key=obj.key, VersionId=obj.version_id)
    stubber.add_client_error(
        "search_faces_by_image",
        service_error_code="InvalidS3ObjectException",
        service_message="Unable to get object metadata from S3.",
        expected_params=_search_params(obj),
    )
    event = DeleteMessage(
        object=ObjectRef(bucket=obj.bucket, key=obj.key, version_id=obj.version_id, sequencer="0B")
    )
    assert Deleter(s3=s3, history=history, gateway=gateway, clock=clock).process(event).label == "deleted"
    record = history.get(obj)
    assert record.status == "deleted" and GATEWAY_CALL_ATTRIBUTE not in record.raw
    assert "InvalidS3ObjectException" in record.raw[UNVERIFIABLE]


# ------------------------------------------------------------------------------------ the gateway's lookup
def _request(user_id: str = USER) -> RegistrationRequest:
    obj = ObjectRef(bucket="images", key="photos/a b.jpg", version_id="v-1", etag="e")
    return RegistrationRequest(obj=obj, user_id=user_id, properties={})


def test_find_registration_keeps_only_this_users_faces(rekognition):
    client, stubber = rekognition
    stubber.add_response(
        "search_faces_by_image",
        _matches(("f-other", "someone else"), (FACE, USER), (OTHER_FACE, USER)),
        _search_params(_request().obj),
    )
    found = RekognitionGateway(client, "faces").find_registration(_request())
    assert found.face_ids == (FACE, OTHER_FACE) and found.external_image_id == external_image_id(USER)
    assert found.details == {"recovered_by": "SearchFacesByImage", "similarity": [100.0, 100.0]}


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("InvalidParameterException", None),  # no face in the image
        ("InvalidImageFormatException", None),
        ("ImageTooLargeException", None),
        ("InvalidS3ObjectException", RegistrationUnknown),
        ("ThrottlingException", GatewayBusy),
        ("ProvisionedThroughputExceededException", GatewayBusy),
        ("InternalServerError", GatewayBusy),
        ("AccessDeniedException", ClientError),  # configuration: retried, then recorded as failed
        ("ResourceNotFoundException", ClientError),
    ],
)
def test_find_registration_errors(rekognition, code, expected):
    client, stubber = rekognition
    stubber.add_client_error("search_faces_by_image", service_error_code=code, http_status_code=400)
    gateway = RekognitionGateway(client, "faces")
    if expected is None:
        assert gateway.find_registration(_request()) is None
    else:
        with pytest.raises(expected):
            gateway.find_registration(_request())


def test_throttling_after_client_side_retries_may_hide_a_registration(rekognition):
    """botocore retried (e.g. after a read timeout) before the final throttling answer: an earlier attempt
    may have registered, so the mark must stay."""
    client, stubber = rekognition
    gateway = RekognitionGateway(client, "faces")
    stubber.add_client_error("index_faces", service_error_code="ThrottlingException")
    with pytest.raises(GatewayBusy) as first_try:
        gateway.register(_request())
    assert first_try.value.may_have_registered is False
    stubber.add_client_error(
        "index_faces", service_error_code="ThrottlingException", response_meta={"RetryAttempts": 2}
    )
    with pytest.raises(GatewayBusy) as retried:
        gateway.register(_request())
    assert retried.value.may_have_registered is True


# ------------------------------------------------------------------------------------ the history's mark
def test_the_mark_needs_the_claim_and_survives_everyone_but_the_claimant(s3, history, clock):
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    token, _ = history.claim(obj, lease_seconds=60)
    assert not history.mark_gateway_call(obj, "not-the-token", user_id=USER, fingerprint="f" * 64)
    assert history.mark_gateway_call(obj, token, user_id=USER, fingerprint="f" * 64)
    marked = history.get(obj)
    assert (marked.user_id, marked.fingerprint, marked.gateway_call_started) == (USER, "f" * 64, True)
    # given back after a timeout: kept; the batch giving up (no claim): kept; a new claim: kept
    assert history.release(obj, token, "retrying: timeout")
    history.record_outcome(obj, "failed", "gave-up", user_id=USER, run_id="r")
    assert history.get(obj).gateway_call_started
    token, before = history.claim(obj, lease_seconds=60)
    assert before.gateway_call_started and history.get(obj).gateway_call_started
    # given back after a refusal that did nothing: removed
    assert history.release(obj, token, "retrying: throttled", may_have_registered=False)
    assert not history.get(obj).gateway_call_started
    # the claimant's final write removes it
    token, _ = history.claim(obj, lease_seconds=60)
    history.mark_gateway_call(obj, token, user_id=USER, fingerprint="f" * 64)
    assert history.record_outcome(obj, "indexed", "registered", user_id=USER, run_id="r", claim_token=token)
    assert GATEWAY_CALL_ATTRIBUTE not in history.get(obj).raw


def test_settling_a_mark_that_a_newer_call_replaced_changes_nothing(s3, history, clock):
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    token, _ = history.claim(obj, lease_seconds=60)
    history.mark_gateway_call(obj, token, user_id=USER, fingerprint="f" * 64)
    seen = history.get(obj)
    clock.advance(1)
    history.mark_gateway_call(obj, token, user_id=USER, fingerprint="f" * 64)  # a newer call
    assert not history.settle_gateway_call(seen, {"note": "x"})
    assert history.get(obj).gateway_call_started and "note" not in history.get(obj).raw
    assert history.settle_gateway_call(history.get(obj), {"note": "x"})
    assert history.get(obj).raw["note"] == "x" and not history.get(obj).gateway_call_started
