"""The emulated Rekognition's user API: CreateUser ... SearchUsers answered with AWS's documented errors and
limits (offline/gateways/rekognition_users.py)."""

from __future__ import annotations

import io

import boto3
import pytest
from moto import mock_aws
from PIL import PngImagePlugin

from offline.demo.sample_data import face_picture
from offline.gateways.rekognition import EmulatedRekognition

BUCKET = "images"
CALLER = object()
C = {"CollectionId": "faces"}


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def rek(s3):
    emulator = EmulatedRekognition(s3)
    assert emulator.handle("CreateCollection", C, CALLER)[0] == 200
    return emulator


def _face(rek, s3, key: str, seed: int, person: str | None = None, external_id: str = "u1") -> str:
    info = PngImagePlugin.PngInfo()
    if person:
        info.add_text("person", person)
    out = io.BytesIO()
    face_picture(seed).save(out, format="PNG", pnginfo=info)
    s3.put_object(Bucket=BUCKET, Key=key, Body=out.getvalue())
    status, body = rek.handle(
        "IndexFaces",
        {**C, "Image": {"S3Object": {"Bucket": BUCKET, "Name": key}}, "ExternalImageId": external_id},
        CALLER,
    )
    assert status == 200
    return body["FaceRecords"][0]["Face"]["FaceId"]


def _call(rek, action: str, **body):
    return rek.handle(action, {**C, **body}, CALLER)


def test_create_user_conflicts_when_it_exists_and_checks_the_user_id(rek):
    assert _call(rek, "CreateUser", UserId="u1") == (200, {})
    status, body = _call(rek, "CreateUser", UserId="u1")
    assert (status, body["__type"]) == (400, "ConflictException")
    for bad in ("", "x" * 129, "José"):
        status, body = _call(rek, "CreateUser", UserId=bad)
        assert (status, body["__type"]) == (400, "InvalidParameterException")
    assert _call(rek, "ListUsers")[1]["Users"] == [{"UserId": "u1", "UserStatus": "ACTIVE"}]
    assert _call(rek, "DescribeCollection")[1]["UserCount"] == 1


def test_associate_faces_reasons_and_the_match_threshold(rek, s3):
    _call(rek, "CreateUser", UserId="u1")
    first = _face(rek, s3, "a.png", 1, person="ann")
    stranger = _face(rek, s3, "b.png", 2, person="bob")
    status, body = _call(rek, "AssociateFaces", UserId="u1", FaceIds=[first])
    assert status == 200 and body["AssociatedFaces"] == [{"FaceId": first}]
    # Already associated with this user: ignored, in neither list.
    body = _call(rek, "AssociateFaces", UserId="u1", FaceIds=[first])[1]
    assert body["AssociatedFaces"] == [] and body["UnsuccessfulFaceAssociations"] == []
    body = _call(rek, "AssociateFaces", UserId="u1", FaceIds=[stranger])[1]
    (refused,) = body["UnsuccessfulFaceAssociations"]
    assert refused["Reasons"] == ["LOW_MATCH_CONFIDENCE"] and refused["Confidence"] < 75
    body = _call(rek, "AssociateFaces", UserId="u1", FaceIds=[stranger], UserMatchThreshold=5)[1]
    assert body["AssociatedFaces"] == [{"FaceId": stranger}]
    missing = "00000000-0000-0000-0000-000000000000"
    body = _call(rek, "AssociateFaces", UserId="u1", FaceIds=[missing])[1]
    assert body["UnsuccessfulFaceAssociations"][0]["Reasons"] == ["FACE_NOT_FOUND"]
    _call(rek, "CreateUser", UserId="u2")
    body = _call(rek, "AssociateFaces", UserId="u2", FaceIds=[first])[1]
    assert body["UnsuccessfulFaceAssociations"][0]["Reasons"] == ["ASSOCIATED_TO_A_DIFFERENT_USER"]
    status, body = _call(rek, "AssociateFaces", UserId="nobody", FaceIds=[first])
    assert (status, body["__type"]) == (400, "ResourceNotFoundException")
    status, body = _call(rek, "AssociateFaces", UserId="u1", FaceIds=[first] * 101)
    assert (status, body["__type"]) == (400, "InvalidParameterException")


def test_a_user_holds_at_most_100_faces(rek, s3):
    _call(rek, "CreateUser", UserId="u1")
    faces = [_face(rek, s3, f"f{n}.png", n) for n in range(101)]
    assert len(_call(rek, "AssociateFaces", UserId="u1", FaceIds=faces[:100])[1]["AssociatedFaces"]) == 100
    status, body = _call(rek, "AssociateFaces", UserId="u1", FaceIds=faces[100:])
    assert (status, body["__type"]) == (400, "ServiceQuotaExceededException")


def test_associated_faces_are_not_deleted_until_disassociated_and_delete_user_frees_them(rek, s3):
    _call(rek, "CreateUser", UserId="u1")
    face = _face(rek, s3, "a.png", 1)
    other = _face(rek, s3, "b.png", 2)
    _call(rek, "AssociateFaces", UserId="u1", FaceIds=[face, other])
    body = _call(rek, "DeleteFaces", FaceIds=[face])[1]
    assert body["DeletedFaces"] == []
    assert body["UnsuccessfulFaceDeletions"][0]["Reasons"] == ["ASSOCIATED_TO_AN_EXISTING_USER"]
    listed = _call(rek, "ListFaces", UserId="u1")[1]["Faces"]
    assert {f["FaceId"] for f in listed} == {face, other} and {f["UserId"] for f in listed} == {"u1"}

    body = _call(rek, "DisassociateFaces", UserId="u1", FaceIds=[face])[1]
    assert body["DisassociatedFaces"] == [{"FaceId": face}]
    assert _call(rek, "DeleteFaces", FaceIds=[face])[1]["DeletedFaces"] == [face]
    # DeleteUser disassociates what is left; the face stays in the collection.
    assert _call(rek, "DeleteUser", UserId="u1") == (200, {})
    assert "UserId" not in _call(rek, "ListFaces", FaceIds=[other])[1]["Faces"][0]
    status, body = _call(rek, "DeleteUser", UserId="u1")
    assert (status, body["__type"]) == (400, "ResourceNotFoundException")
    status, body = _call(rek, "DisassociateFaces", UserId="u1", FaceIds=[other])
    assert (status, body["__type"]) == (400, "ResourceNotFoundException")


def test_search_users_by_face_and_by_user(rek, s3):
    for user, person, seed in (("u1", "ann", 1), ("u2", "bob", 2)):
        _call(rek, "CreateUser", UserId=user)
        _call(
            rek, "AssociateFaces", UserId=user, FaceIds=[_face(rek, s3, f"{user}.png", seed, person=person)]
        )
    probe = _face(rek, s3, "probe.png", 3, person="ann", external_id="probe")
    matches = _call(rek, "SearchUsers", FaceId=probe)[1]["UserMatches"]
    assert [m["User"]["UserId"] for m in matches] == ["u1"]
    assert _call(rek, "SearchUsers", UserId="u1")[1]["UserMatches"] == []
