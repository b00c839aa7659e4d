"""The Rekognition gateway against botocore's Stubber (moto has no IndexFaces), with the documented errors."""

from __future__ import annotations

import re

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st

from handlers.common.contracts import ObjectRef
from handlers.throttled_indexer.gateway import GatewayBusy, GatewayRejected, RegistrationRequest
from handlers.throttled_indexer.rekognition_gateway import (
    HASHED_PREFIX,
    RekognitionGateway,
    external_image_id,
)

OBJ = ObjectRef(bucket="images", key="photos/a b+c.jpg", version_id="v-1", etag="e")
ALLOWED = re.compile(r"[a-zA-Z0-9_.\-:]+")


@pytest.fixture
def rekognition():
    # No client-side retries: each stubbed error must reach the gateway once.
    client = boto3.client("rekognition", region_name="us-east-1", config=Config(retries={"max_attempts": 1}))
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _expected_index_params(user_id: str, version: str | None = "v-1") -> dict:
    s3_object = {"Bucket": "images", "Name": "photos/a b+c.jpg"}
    if version:
        s3_object["Version"] = version
    return {
        "CollectionId": "faces",
        "Image": {"S3Object": s3_object},
        "ExternalImageId": external_image_id(user_id),
        "MaxFaces": 1,
        "QualityFilter": "AUTO",
        "DetectionAttributes": [],
    }


def _face_record(face_id: str) -> dict:
    return {"Face": {"FaceId": face_id, "ImageId": "image-1", "ExternalImageId": "x"}, "FaceDetail": {}}


def test_index_faces_registers_one_face(rekognition):
    client, stubber = rekognition
    stubber.add_response(
        "index_faces",
        {
            "FaceRecords": [_face_record("11111111-1111-1111-1111-111111111111")],
            "UnindexedFaces": [{"Reasons": ["EXCEEDS_MAX_FACES"], "FaceDetail": {}}],
            "FaceModelVersion": "7.0",
        },
        _expected_index_params("Zoë Smith"),
    )
    registration = RekognitionGateway(client, "faces").register(
        RegistrationRequest(obj=OBJ, user_id="Zoë Smith", properties={})
    )
    assert registration.face_ids == ("11111111-1111-1111-1111-111111111111",)
    assert registration.image_id == "image-1"
    assert registration.external_image_id == "Zo:c3:ab:20Smith"
    assert registration.details == {"unindexed_reasons": ["EXCEEDS_MAX_FACES"], "face_model_version": "7.0"}


def test_unversioned_objects_are_read_without_a_version(rekognition):
    client, stubber = rekognition
    stubber.add_response(
        "index_faces", {"FaceRecords": [_face_record("f")]}, _expected_index_params("u", version=None)
    )
    obj = OBJ.model_copy(update={"version_id": None})
    assert RekognitionGateway(client, "faces").register(
        RegistrationRequest(obj=obj, user_id="u", properties={})
    )


def test_no_face_is_a_permanent_refusal_with_the_unindexed_reasons(rekognition):
    client, stubber = rekognition
    stubber.add_response(
        "index_faces",
        {"FaceRecords": [], "UnindexedFaces": [{"Reasons": ["LOW_QUALITY", "SMALL_BOUNDING_BOX"]}]},
        _expected_index_params("u"),
    )
    with pytest.raises(GatewayRejected) as caught:
        RekognitionGateway(client, "faces").register(RegistrationRequest(obj=OBJ, user_id="u", properties={}))
    assert caught.value.code == "no-face"
    assert caught.value.details == {"unindexed_reasons": ["LOW_QUALITY", "SMALL_BOUNDING_BOX"]}


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("InvalidImageFormatException", "invalid-image-format"),
        ("ImageTooLargeException", "image-too-large"),
        ("InvalidS3ObjectException", "invalid-s3-object"),
        ("InvalidParameterException", "invalid-parameter"),
    ],
)
def test_documented_permanent_errors(rekognition, code, reason):
    client, stubber = rekognition
    stubber.add_client_error(
        "index_faces", service_error_code=code, service_message="nope", http_status_code=400
    )
    with pytest.raises(GatewayRejected) as caught:
        RekognitionGateway(client, "faces").register(RegistrationRequest(obj=OBJ, user_id="u", properties={}))
    assert caught.value.code == reason and code in caught.value.message


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ProvisionedThroughputExceededException", 400),
        ("ThrottlingException", 400),
        ("InternalServerError", 500),
    ],
)
def test_documented_transient_errors_mean_busy(rekognition, code, status):
    client, stubber = rekognition
    stubber.add_client_error("index_faces", service_error_code=code, http_status_code=status)
    with pytest.raises(GatewayBusy, match=code):
        RekognitionGateway(client, "faces").register(RegistrationRequest(obj=OBJ, user_id="u", properties={}))


def test_configuration_errors_propagate_to_be_retried_then_recorded(rekognition):
    client, stubber = rekognition
    stubber.add_client_error(
        "index_faces", service_error_code="ResourceNotFoundException", http_status_code=400
    )
    with pytest.raises(Exception, match="ResourceNotFoundException") as caught:
        RekognitionGateway(client, "faces").register(RegistrationRequest(obj=OBJ, user_id="u", properties={}))
    assert not isinstance(caught.value, GatewayBusy | GatewayRejected)


def test_delete_faces_in_batches_of_4096(rekognition):
    client, stubber = rekognition
    ids = tuple(f"{i:08d}-0000-0000-0000-000000000000" for i in range(4100))
    stubber.add_response(
        "delete_faces",
        {"DeletedFaces": list(ids[:4096])},
        {"CollectionId": "faces", "FaceIds": list(ids[:4096])},
    )
    stubber.add_response(
        "delete_faces",
        {"DeletedFaces": list(ids[4096:])},
        {"CollectionId": "faces", "FaceIds": list(ids[4096:])},
    )
    RekognitionGateway(client, "faces").deregister("u", ids, None)


def test_delete_faces_throttled_is_busy(rekognition):
    client, stubber = rekognition
    stubber.add_client_error("delete_faces", service_error_code="ThrottlingException")
    with pytest.raises(GatewayBusy):
        RekognitionGateway(client, "faces").deregister("u", ("f",), None)


def test_nothing_to_deregister_makes_no_call(rekognition):
    client, _ = rekognition
    RekognitionGateway(client, "faces").deregister("u", (), "image-id")


@given(user_id=st.text(min_size=1, max_size=128).filter(lambda s: not any(ord(c) < 32 for c in s)))
def test_external_image_ids_are_valid(user_id):
    derived = external_image_id(user_id)
    assert ALLOWED.fullmatch(derived) and 1 <= len(derived) <= 255


@given(a=st.text(min_size=1, max_size=128), b=st.text(min_size=1, max_size=128))
def test_external_image_ids_are_injective(a, b):
    if a != b:
        assert external_image_id(a) != external_image_id(b)


def test_external_image_id_examples():
    assert external_image_id("alice.smith-01_x") == "alice.smith-01_x"
    assert external_image_id("a:b") == "a:3ab"
    assert external_image_id("a b") == "a:20b"
    assert external_image_id("日本" * 64).startswith(HASHED_PREFIX)  # 128 chars, too long escaped


def test_importer_with_the_rekognition_gateway_records_ids_and_the_external_id_mapping(
    s3, history, make_importer
):
    from indexer_fixtures import first_attempt, import_message, jpeg_bytes, put_image

    client = boto3.client("rekognition", region_name="us-east-1", config=Config(retries={"max_attempts": 1}))
    obj = put_image(s3, "photos/a b.jpg", jpeg_bytes("r"))
    with Stubber(client) as stubber:
        stubber.add_response(
            "index_faces",
            {
                "FaceRecords": [_face_record("22222222-2222-2222-2222-222222222222")],
                "FaceModelVersion": "7.0",
            },
            {
                "CollectionId": "faces",
                "Image": {"S3Object": {"Bucket": obj.bucket, "Name": obj.key, "Version": obj.version_id}},
                "ExternalImageId": "Jos:c3:a9:20Garc:c3:ada",
                "MaxFaces": 1,
                "QualityFilter": "AUTO",
                "DetectionAttributes": [],
            },
        )
        importer = make_importer(gateway=RekognitionGateway(client, "faces"))
        outcome = importer.process(import_message(obj, user_id="José García"), first_attempt())
        stubber.assert_no_pending_responses()
    assert outcome.label == "indexed"
    record = history.get(obj)
    assert record.face_ids == ("22222222-2222-2222-2222-222222222222",) and record.image_id == "image-1"
    assert (record.user_id, record.external_image_id) == ("José García", "Jos:c3:a9:20Garc:c3:ada")
