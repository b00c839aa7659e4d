"""The emulated Rekognition collection: what the stack and the indexer send, answered as Rekognition does."""

from __future__ import annotations

import base64
import hashlib

import boto3
import pytest
from moto import mock_aws

from offline.demo.sample_data import face_picture, jpeg_bytes, png_bytes, uniform_picture
from offline.gateways.limits import Fault, FaultPlan
from offline.gateways.rekognition import EmulatedRekognition

BUCKET = "images"
CALLER = object()


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def _put(s3, key: str, body: bytes) -> str:
    return s3.put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"]


def _index(rek, key: str, version: str | None = None, external_id: str = "user-1", **extra):
    s3_object = {"Bucket": BUCKET, "Name": key, **({"Version": version} if version else {})}
    body = {"CollectionId": "faces", "Image": {"S3Object": s3_object}, "ExternalImageId": external_id}
    return rek.handle("IndexFaces", {**body, "MaxFaces": 1, "QualityFilter": "AUTO", **extra}, CALLER)


@pytest.fixture
def rek(s3):
    emulator = EmulatedRekognition(s3)
    assert emulator.handle("CreateCollection", {"CollectionId": "faces"}, CALLER)[0] == 200
    return emulator


def test_collection_lifecycle(rek):
    status, body = rek.handle("CreateCollection", {"CollectionId": "faces"}, CALLER)
    assert (status, body["__type"]) == (400, "ResourceAlreadyExistsException")
    assert rek.handle("ListCollections", {}, CALLER)[1]["CollectionIds"] == ["faces"]
    status, described = rek.handle("DescribeCollection", {"CollectionId": "faces"}, CALLER)
    assert status == 200 and described["FaceCount"] == 0
    assert described["CollectionARN"].endswith(":collection/faces")
    assert rek.handle("DeleteCollection", {"CollectionId": "faces"}, CALLER) == (200, {"StatusCode": 200})
    status, body = rek.handle("DescribeCollection", {"CollectionId": "faces"}, CALLER)
    assert (status, body["__type"]) == (400, "ResourceNotFoundException")


@pytest.mark.parametrize("encode", [png_bytes, jpeg_bytes])
def test_index_faces_from_an_s3_version_registers_one_face(s3, rek, encode):
    data = encode(face_picture(3))
    version = _put(s3, "a b/é.img", data)
    _put(s3, "a b/é.img", encode(face_picture(4)))  # a newer version: the asked-for one must be read
    status, body = _index(rek, "a b/é.img", version)
    assert status == 200, body
    [record] = body["FaceRecords"]
    assert record["Face"]["ExternalImageId"] == "user-1" and body["UnindexedFaces"] == []
    [registration] = rek.registry.active()
    assert registration.id == record["Face"]["FaceId"]
    assert registration.source == f"{BUCKET}/a b/é.img#{version}"
    assert registration.fingerprint == hashlib.sha256(data).hexdigest()


def test_faceless_corrupt_and_missing_images(s3, rek):
    _put(s3, "blank.png", png_bytes(uniform_picture()))
    status, body = _index(rek, "blank.png")
    assert status == 200 and body["FaceRecords"] == [] and body["UnindexedFaces"] == []
    face = png_bytes(face_picture(5))
    _put(s3, "half.png", face[: len(face) // 2])
    status, body = _index(rek, "half.png")
    assert (status, body["__type"]) == (400, "InvalidImageFormatException")
    status, body = _index(rek, "nowhere.png")
    assert (status, body["__type"]) == (400, "InvalidS3ObjectException")
    assert rek.registry.all() == []


def test_external_image_id_and_max_faces_are_validated(s3, rek):
    _put(s3, "f.png", png_bytes(face_picture(6)))
    for bad in ("has space", "é", "x" * 256):
        status, body = _index(rek, "f.png", external_id=bad)
        assert (status, body["__type"]) == (400, "InvalidParameterException"), bad
        assert "ExternalImageId" in body["Message"]
    status, body = _index(rek, "f.png", MaxFaces=0)
    assert (status, body["__type"]) == (400, "InvalidParameterException")
    assert _index(rek, "f.png", external_id="user:3a_x.y-z")[0] == 200


def test_search_finds_faces_indexed_from_the_same_bytes_only(s3, rek):
    _put(s3, "one.png", png_bytes(face_picture(7)))
    _put(s3, "other.png", png_bytes(face_picture(8)))
    face_id = _index(rek, "one.png")[1]["FaceRecords"][0]["Face"]["FaceId"]
    request = {"CollectionId": "faces", "FaceMatchThreshold": 99.0, "MaxFaces": 100, "QualityFilter": "NONE"}
    status, body = rek.handle(
        "SearchFacesByImage",
        {**request, "Image": {"S3Object": {"Bucket": BUCKET, "Name": "one.png"}}},
        CALLER,
    )
    assert status == 200
    assert [(m["Face"]["FaceId"], m["Similarity"]) for m in body["FaceMatches"]] == [(face_id, 100.0)]
    inline = {"Bytes": base64.b64encode(png_bytes(face_picture(8))).decode()}
    assert rek.handle("SearchFacesByImage", {**request, "Image": inline}, CALLER)[1]["FaceMatches"] == []
    blank = {"Bytes": base64.b64encode(png_bytes(uniform_picture())).decode()}
    status, body = rek.handle("SearchFacesByImage", {**request, "Image": blank}, CALLER)
    assert (status, body["__type"]) == (400, "InvalidParameterException")


def test_delete_and_list_faces(s3, rek):
    ids = []
    for seed in range(5):
        _put(s3, f"{seed}.png", png_bytes(face_picture(seed)))
        ids.append(_index(rek, f"{seed}.png", external_id=f"u{seed}")[1]["FaceRecords"][0]["Face"]["FaceId"])
    listed, token = [], None
    while True:
        body = rek.handle(
            "ListFaces",
            {"CollectionId": "faces", "MaxResults": 2, **({"NextToken": token} if token else {})},
            CALLER,
        )[1]
        listed += [face["FaceId"] for face in body["Faces"]]
        token = body.get("NextToken")
        if not token:
            break
    assert listed == ids
    unknown = "00000000-0000-0000-0000-000000000000"
    status, body = rek.handle("DeleteFaces", {"CollectionId": "faces", "FaceIds": [ids[0], unknown]}, CALLER)
    assert status == 200 and body["DeletedFaces"] == [ids[0]]
    assert {r.id for r in rek.registry.active()} == set(ids[1:])
    assert rek.handle("DescribeCollection", {"CollectionId": "faces"}, CALLER)[1]["FaceCount"] == 4


def test_the_same_image_indexed_twice_for_a_user_is_a_duplicate_registration(s3, rek):
    _put(s3, "same.png", png_bytes(face_picture(9)))
    _index(rek, "same.png")
    _index(rek, "same.png", external_id="someone-else")
    assert rek.registry.duplicates == []
    _index(rek, "same.png")
    assert len(rek.registry.duplicates) == 1


def test_rate_limit_and_injected_faults_answer_in_rekognitions_shape(s3):
    _put(s3, "f.png", png_bytes(face_picture(1)))
    plan = FaultPlan(
        [Fault("outage", after_requests=1, requests=1), Fault("throttle", after_requests=2, requests=1)]
    )
    frozen = [100.0]  # no time passes: the bucket's 4 tokens are all there is
    rek = EmulatedRekognition(s3, rate_per_s=1, burst=4, faults=plan, clock=lambda: frozen[0])
    rek.handle("CreateCollection", {"CollectionId": "faces"}, CALLER)
    answers = [_index(rek, "f.png", external_id=f"u{i}") for i in range(6)]
    codes = [body.get("__type", status) for status, body in answers]
    assert codes[:3] == [200, "InternalServerError", "ThrottlingException"]
    assert answers[1][0] == 500
    assert codes[3:] == [
        200,
        "ProvisionedThroughputExceededException",
        "ProvisionedThroughputExceededException",
    ]
    assert len(rek.registry.active()) == 2 and rek.throttled["IndexFaces"] == 2
    assert plan.injected == {"outage": 1, "throttle": 1}
    frozen[0] += 1.0  # one second later: one token
    assert _index(rek, "f.png", external_id="later")[0] == 200


def test_reading_the_image_needs_the_callers_permission(s3):
    _put(s3, "f.png", png_bytes(face_picture(1)))
    asked = []

    def deny(caller, action, resource):
        asked.append((action, resource))
        raise PermissionError("denied")

    rek = EmulatedRekognition(s3, authorize=deny)
    rek.handle("CreateCollection", {"CollectionId": "faces"}, CALLER)
    status, body = _index(rek, "f.png", "v1")
    assert (status, body["__type"]) == (400, "InvalidS3ObjectException")
    assert asked == [("s3:GetObjectVersion", f"arn:aws:s3:::{BUCKET}/f.png")]
