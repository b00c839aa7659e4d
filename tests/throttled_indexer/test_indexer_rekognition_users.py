"""rekognitionMode users: the gateway with the importer and the deleter against the emulated Rekognition
(its user API answers as AWS documents it: tests/offline/test_demo_rekognition_users.py), and botocore's
Stubber for the answers the emulator does not give (throttling, timeouts, the 100-faces quota on one call)."""

from __future__ import annotations

import importlib
import io
import json
from types import SimpleNamespace

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st
from indexer_fixtures import first_attempt, import_message, put_image
from PIL import PngImagePlugin

from handlers.common.contracts import DeleteMessage
from handlers.throttled_indexer.deleter import Deleter
from handlers.throttled_indexer.gateway import GatewayBusy, GatewayRejected, RegistrationRequest
from handlers.throttled_indexer.importer import Importer
from handlers.throttled_indexer.rekognition_gateway import HASHED_PREFIX, external_image_id
from handlers.throttled_indexer.rekognition_users import (
    USER_ID_MAX,
    RekognitionUsersGateway,
    rekognition_user_id,
)
from offline.demo.sample_data import face_picture
from offline.gateways.rekognition import EmulatedRekognition

CALLER = object()
COLLECTION = "faces"
USER = "José García"
FACE = "11111111-1111-1111-1111-111111111111"


def face_png(seed: int, person: str | None = None) -> bytes:
    """A decodable face picture; `person` names who it shows for the emulator's user matching."""
    info = PngImagePlugin.PngInfo()
    if person:
        info.add_text("person", person)
    out = io.BytesIO()
    face_picture(seed).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def emulated_client(emulator: EmulatedRekognition, fail: dict[str, int] | None = None):
    """A boto3 Rekognition client answered by the emulator (botocore's before-call short-circuit: each
    call's JSON body goes to `EmulatedRekognition.handle`). `fail`: operation -> how many of its next calls
    lose their connection after the emulator processed them (a worker whose answer never came back)."""
    client = boto3.client("rekognition", region_name="us-east-1", config=Config(retries={"max_attempts": 1}))
    pending = dict(fail or {})

    def answer(model, params, **_kwargs):
        status, payload = emulator.handle(model.name, json.loads(params["body"] or b"{}"), CALLER)
        if pending.get(model.name):
            pending[model.name] -= 1
            raise ReadTimeoutError(endpoint_url="https://rekognition.emulated")
        meta = {"HTTPStatusCode": status, "RetryAttempts": 0}
        if status >= 300:
            payload = {"Error": {"Code": payload["__type"], "Message": payload["Message"]}}
        return SimpleNamespace(status_code=status, headers={}), {**payload, "ResponseMetadata": meta}

    client.meta.events.register("before-call.rekognition", answer)
    return client


@pytest.fixture
def emulator(s3):
    emulator = EmulatedRekognition(s3)
    assert emulator.handle("CreateCollection", {"CollectionId": COLLECTION}, CALLER)[0] == 200
    return emulator


@pytest.fixture
def wiring(s3, history, emulator, clock):
    """An importer and a deleter on the users gateway, wired as bootstrap.build_runner wires them."""

    def build(client=None):
        gateway = RekognitionUsersGateway(client or emulated_client(emulator), COLLECTION)
        deleter = Deleter(s3=s3, history=history, gateway=gateway, clock=clock)
        importer = Importer(
            s3=s3,
            history=history,
            gateway=gateway,
            max_image_bytes=10**6,
            clock=clock,
            retire_superseded=deleter.retire_superseded,
        )
        return importer, deleter

    return build


def _user_faces(emulator) -> dict[str, list[str]]:
    return emulator.user_faces(COLLECTION)


def _delete(obj) -> DeleteMessage:
    return DeleteMessage(object=obj.model_copy(update={"version_id": None}), event_id="e-1")


# ------------------------------------------------------------------------------------ importer + deleter
def test_several_images_build_one_user_and_duplicate_bytes_are_skipped(s3, history, emulator, wiring):
    importer, _ = wiring()
    photos = [put_image(s3, f"users/jose/{n}.png", face_png(n)) for n in range(3)]
    twin = put_image(s3, "users/jose/again.png", face_png(0))
    outcomes = [importer.process(import_message(obj, user_id=USER), first_attempt()) for obj in photos]
    assert [o.label for o in outcomes] == ["indexed"] * 3
    assert importer.process(import_message(twin, user_id=USER), first_attempt()).label == "skipped:duplicate"

    user = rekognition_user_id(USER)
    faces = _user_faces(emulator)
    assert list(faces) == [user] and len(faces[user]) == 3
    record = history.get(photos[0])
    assert record.user_id == USER  # the original; Rekognition's id sits next to it
    assert record.details["rekognition_user_id"] == user == "Jos:c3:a9:20Garc:c3:ada"
    assert record.external_image_id == external_image_id(USER)
    assert sorted(face for face, _ in history.faces_of_user(USER)) == sorted(faces[user])
    assert {rec.key for _, rec in history.faces_of_user(USER)} == {obj.key for obj in photos}


def test_a_face_the_user_does_not_take_is_recorded_with_the_reason_and_deleted(s3, history, emulator, wiring):
    importer, _ = wiring()
    mine = put_image(s3, "users/jose/me.png", face_png(1, person="jose"))
    stranger = put_image(s3, "users/jose/not-me.png", face_png(2, person="someone else"))
    assert importer.process(import_message(mine, user_id=USER), first_attempt()).label == "indexed"
    outcome = importer.process(import_message(stranger, user_id=USER), first_attempt())

    assert outcome.label == "invalid:user-low-match-confidence"
    record = history.get(stranger)
    assert (record.status, record.reason) == ("invalid", "user-low-match-confidence")
    assert record.details["association_reasons"] == ["LOW_MATCH_CONFIDENCE"]
    assert record.details["match_confidence"] < 75
    # The refused face is gone again: the collection holds the user's one face only.
    assert emulator.face_count(COLLECTION) == 1
    assert [face for face, _ in history.faces_of_user(USER)] == _user_faces(emulator)[
        rekognition_user_id(USER)
    ]


def test_an_image_rekognition_refuses_leaves_no_user_behind(s3, history, emulator, wiring):
    importer, _ = wiring()
    blank = io.BytesIO()
    face_picture(1).convert("L").point(lambda _: 128).save(blank, format="PNG")  # one colour: no face
    obj = put_image(s3, "users/jose/blank.png", blank.getvalue())
    assert importer.process(import_message(obj, user_id=USER), first_attempt()).label == "invalid:no-face"
    assert _user_faces(emulator) == {} and emulator.calls["CreateUser"] == 0


def test_the_match_threshold_is_the_setting(s3, history, emulator, wiring):
    gateway = RekognitionUsersGateway(emulated_client(emulator), COLLECTION, user_match_threshold=10.0)
    importer = Importer(s3=s3, history=history, gateway=gateway, max_image_bytes=10**6)
    for n, person in enumerate(("jose", "someone else")):
        obj = put_image(s3, f"users/jose/{n}.png", face_png(n, person=person))
        assert importer.process(import_message(obj, user_id=USER), first_attempt()).label == "indexed"
    assert len(_user_faces(emulator)[rekognition_user_id(USER)]) == 2


def test_deletes_disassociate_and_the_last_face_takes_the_user_with_it(s3, history, emulator, wiring):
    importer, deleter = wiring()
    photos = [put_image(s3, f"users/jose/{n}.png", face_png(n)) for n in range(2)]
    for obj in photos:
        importer.process(import_message(obj, user_id=USER), first_attempt())
    user = rekognition_user_id(USER)

    s3.delete_object(Bucket=photos[0].bucket, Key=photos[0].key)
    assert deleter.process(_delete(photos[0])).label == "deleted"
    assert len(_user_faces(emulator)[user]) == 1 and emulator.face_count(COLLECTION) == 1

    s3.delete_object(Bucket=photos[1].bucket, Key=photos[1].key)
    assert deleter.process(_delete(photos[1])).label == "deleted"
    assert _user_faces(emulator) == {} and emulator.face_count(COLLECTION) == 0
    assert list(history.faces_of_user(USER)) == []
    assert emulator.calls["DeleteUser"] == 1


def test_a_crash_between_index_faces_and_associate_faces_is_completed_by_the_next_worker(
    s3, history, emulator, wiring, clock
):
    """IndexFaces' answer never came back, so AssociateFaces was never called: the next claimant finds the
    unassociated face by image and finishes the association; nothing is indexed twice."""
    obj = put_image(s3, "users/jose/a.png", face_png(5))
    importer, _ = wiring(emulated_client(emulator, fail={"IndexFaces": 1}))
    assert importer.process(import_message(obj, user_id=USER), first_attempt()).label.startswith("retry")
    # The face exists, its user not yet (CreateUser comes after IndexFaces).
    assert emulator.face_count(COLLECTION) == 1 and _user_faces(emulator) == {}

    clock.advance(901)
    importer, _ = wiring()
    outcome = importer.process(import_message(obj, user_id=USER), first_attempt(receive_count=2))
    assert (outcome.label, outcome.reason) == ("indexed", "recovered")
    assert emulator.calls["IndexFaces"] == 1
    face = history.get(obj).face_ids
    assert list(face) == _user_faces(emulator)[rekognition_user_id(USER)]
    assert history.get(obj).details["rekognition_user_id"] == rekognition_user_id(USER)


def test_a_lost_associate_faces_answer_is_recovered_as_associated(s3, history, emulator, wiring, clock):
    obj = put_image(s3, "users/jose/b.png", face_png(7))
    importer, _ = wiring(emulated_client(emulator, fail={"AssociateFaces": 1}))
    assert importer.process(import_message(obj, user_id=USER), first_attempt()).label.startswith("retry")
    associated = _user_faces(emulator)[rekognition_user_id(USER)]
    assert len(associated) == 1  # the emulator did it; the worker never heard

    clock.advance(901)
    importer, _ = wiring()
    outcome = importer.process(import_message(obj, user_id=USER), first_attempt(receive_count=2))
    assert (outcome.label, outcome.reason) == ("indexed", "recovered")
    assert history.get(obj).face_ids == tuple(associated)
    assert (emulator.calls["IndexFaces"], emulator.calls["AssociateFaces"]) == (1, 1)


def test_reindex_replaces_the_face_within_the_same_user(s3, history, emulator, wiring):
    importer, _ = wiring()
    obj = put_image(s3, "users/jose/a.png", face_png(6))
    importer.process(import_message(obj, user_id=USER), first_attempt())
    before = history.get(obj).face_ids
    outcome = importer.process(import_message(obj, user_id=USER, mode="reindex"), first_attempt())
    assert outcome.label == "indexed"
    after = history.get(obj).face_ids
    assert after != before
    assert _user_faces(emulator)[rekognition_user_id(USER)] == list(after)
    assert emulator.face_count(COLLECTION) == 1


# ------------------------------------------------------------------------------ Stubber: the other answers
@pytest.fixture
def stubbed():
    client = boto3.client("rekognition", region_name="us-east-1", config=Config(retries={"max_attempts": 1}))
    with Stubber(client) as stubber:
        yield RekognitionUsersGateway(client, COLLECTION, user_match_threshold=80.0), stubber
        stubber.assert_no_pending_responses()


def _request(s3_version: str = "v-1") -> RegistrationRequest:
    from handlers.common.contracts import ObjectRef

    obj = ObjectRef(bucket="images", key="a.png", version_id=s3_version, etag="e")
    return RegistrationRequest(obj=obj, user_id=USER, properties={})


def _user_params(**extra) -> dict:
    return {"CollectionId": COLLECTION, "UserId": rekognition_user_id(USER), **extra}


def _indexed() -> dict:
    return {"FaceRecords": [{"Face": {"FaceId": FACE, "ImageId": "img"}, "FaceDetail": {}}]}


def test_an_existing_user_is_fine_and_the_threshold_is_sent(stubbed):
    gateway, stubber = stubbed
    stubber.add_response("index_faces", _indexed())
    stubber.add_client_error("create_user", "ConflictException", expected_params=_user_params())
    stubber.add_response(
        "associate_faces",
        {"AssociatedFaces": [{"FaceId": FACE}], "UserStatus": "UPDATING"},
        _user_params(FaceIds=[FACE], UserMatchThreshold=80.0),
    )
    registration = gateway.register(_request())
    assert registration.face_ids == (FACE,)
    assert registration.details["user_status"] == "UPDATING"


def test_the_100_faces_limit_is_a_recorded_reason_and_the_face_goes(stubbed):
    gateway, stubber = stubbed
    stubber.add_response("index_faces", _indexed())
    stubber.add_response("create_user", {})
    stubber.add_client_error("associate_faces", "ServiceQuotaExceededException")
    stubber.add_response(
        "delete_faces", {"DeletedFaces": [FACE]}, {"CollectionId": COLLECTION, "FaceIds": [FACE]}
    )
    stubber.add_response("list_faces", {"Faces": [{"FaceId": "f2"}]}, _user_params(MaxResults=1))
    with pytest.raises(GatewayRejected) as caught:
        gateway.register(_request())
    assert caught.value.code == "user-face-limit"


def test_associated_to_a_different_user_names_that_user(stubbed):
    gateway, stubber = stubbed
    stubber.add_response("index_faces", _indexed())
    stubber.add_response("create_user", {})
    refusal = {"FaceId": FACE, "UserId": "someone", "Reasons": ["ASSOCIATED_TO_A_DIFFERENT_USER"]}
    stubber.add_response("associate_faces", {"UnsuccessfulFaceAssociations": [refusal]})
    stubber.add_response("delete_faces", {"DeletedFaces": [FACE]})
    # The user was created for this face only: it goes with it.
    stubber.add_response("list_faces", {"Faces": []}, _user_params(MaxResults=1))
    stubber.add_response("delete_user", {}, _user_params())
    with pytest.raises(GatewayRejected) as caught:
        gateway.register(_request())
    assert caught.value.code == "user-associated-to-a-different-user"
    assert caught.value.details["associated_user_id"] == "someone"


def test_throttling_before_the_face_is_indexed_registered_nothing_after_it_may_have(stubbed):
    gateway, stubber = stubbed
    stubber.add_client_error("index_faces", "ThrottlingException")
    with pytest.raises(GatewayBusy) as before:
        gateway.register(_request())
    assert (before.value.may_have_registered, before.value.throttled, before.value.api) == (
        False,
        True,
        "IndexFaces",
    )
    for operation, api in (("create_user", "CreateUser"), ("associate_faces", "AssociateFaces")):
        stubber.add_response("index_faces", _indexed())
        if operation == "associate_faces":
            stubber.add_response("create_user", {})
        stubber.add_client_error(operation, "ProvisionedThroughputExceededException")
        with pytest.raises(GatewayBusy) as after:
            gateway.register(_request())
        assert (after.value.may_have_registered, after.value.throttled, after.value.api) == (True, True, api)


def test_a_user_deleted_meanwhile_is_busy_and_found_again(stubbed):
    gateway, stubber = stubbed
    stubber.add_response("index_faces", _indexed())
    stubber.add_response("create_user", {})
    stubber.add_client_error("associate_faces", "ResourceNotFoundException")
    with pytest.raises(GatewayBusy) as caught:
        gateway.register(_request())
    assert caught.value.may_have_registered


def test_deregister_keeps_a_user_that_has_faces_left_and_tolerates_a_missing_user(stubbed):
    gateway, stubber = stubbed
    stubber.add_response(
        "disassociate_faces", {"DisassociatedFaces": [{"FaceId": FACE}]}, _user_params(FaceIds=[FACE])
    )
    stubber.add_response("delete_faces", {"DeletedFaces": [FACE]})
    stubber.add_response("list_faces", {"Faces": [{"FaceId": "f2"}]}, _user_params(MaxResults=1))
    gateway.deregister(USER, (FACE,), None)  # no DeleteUser: the Stubber would fail on an unexpected call

    stubber.add_client_error("disassociate_faces", "ResourceNotFoundException")
    stubber.add_response("delete_faces", {})
    stubber.add_client_error("list_faces", "ResourceNotFoundException")
    gateway.deregister(USER, (FACE,), None)


def test_a_face_of_another_user_is_not_deleted(stubbed):
    gateway, stubber = stubbed
    other = {"FaceId": FACE, "UserId": "someone", "Reasons": ["ASSOCIATED_TO_A_DIFFERENT_USER"]}
    stubber.add_response("disassociate_faces", {"UnsuccessfulFaceDisassociations": [other]})
    with pytest.raises(RuntimeError, match="associated with another Rekognition user"):
        gateway.deregister(USER, (FACE,), None)


@given(st.text(min_size=1, max_size=300))
def test_user_ids_fit_rekognitions_pattern_and_length(user_id):
    mapped = rekognition_user_id(user_id)
    assert 1 <= len(mapped) <= USER_ID_MAX
    assert all(ch.isascii() and (ch.isalnum() or ch in "_.-:") for ch in mapped)


def test_long_user_ids_are_hashed_under_their_own_limit():
    assert rekognition_user_id("u" * 128) == "u" * 128
    assert rekognition_user_id("u" * 129).startswith(HASHED_PREFIX)
    assert external_image_id("u" * 129) == "u" * 129  # ExternalImageId allows 255


def test_bootstrap_builds_the_mode_the_settings_name():
    # Everything from one module object: test_indexer_app reloads the handler's modules.
    bootstrap = importlib.import_module("handlers.throttled_indexer.bootstrap")
    build_gateway, _registering_rate, Settings = (
        bootstrap.build_gateway,
        bootstrap._registering_rate,
        bootstrap.Settings,
    )

    env = {"HISTORY_TABLE": "history", "GATEWAY": "rekognition", "COLLECTION_ID": COLLECTION}
    client = boto3.client("rekognition", region_name="us-east-1")
    faces = build_gateway(Settings.from_env(env), lambda _service: client)
    assert type(faces) is bootstrap.RekognitionGateway
    users_env = {**env, "REKOGNITION_MODE": "users", "USER_MATCH_THRESHOLD": "90"}
    users = build_gateway(Settings.from_env(users_env), lambda _service: client)
    assert type(users) is bootstrap.RekognitionUsersGateway and users._threshold == 90.0
    # A throttled import waits at the slowest rate among the calls one registration makes.
    rates = '{"IndexFaces": 50, "CreateUser": 5, "AssociateFaces": 10, "DeleteFaces": 1}'
    assert _registering_rate(Settings.from_env({**users_env, "GATEWAY_RATE_PER_SECOND": rates})) == 5.0
    faces_rates = '{"IndexFaces": 50, "DeleteFaces": 1}'
    assert _registering_rate(Settings.from_env({**env, "GATEWAY_RATE_PER_SECOND": faces_rates})) == 50.0
