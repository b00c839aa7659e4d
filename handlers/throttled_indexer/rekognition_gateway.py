"""Amazon Rekognition as the face index: IndexFaces from S3, DeleteFaces to deregister, SearchFacesByImage to
find a registration whose IndexFaces answer was lost (the worker died before recording it)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

from handlers.throttled_indexer.gateway import (
    GatewayBusy,
    GatewayRejected,
    Registration,
    RegistrationRequest,
    RegistrationUnknown,
)
from handlers.throttled_indexer.pacing import REKOGNITION_APIS

# Rekognition's ExternalImageId: 1-255 characters of [a-zA-Z0-9_.\-:].
_ALLOWED = re.compile(r"[a-zA-Z0-9_.\-]")
EXTERNAL_ID_MAX = 255
# Over-long escaped ids fall back to a hash under this prefix; "::" never occurs in an escaped id (every
# ":" there starts a two-digit hex escape), so the two forms cannot collide.
HASHED_PREFIX = "sha256::"

_THROTTLED = {"ThrottlingException", "ProvisionedThroughputExceededException"}
_BUSY = _THROTTLED | {"InternalServerError"}
_REJECTED = {
    "InvalidImageFormatException": "invalid-image-format",
    "ImageTooLargeException": "image-too-large",
    "InvalidS3ObjectException": "invalid-s3-object",
    "InvalidParameterException": "invalid-parameter",
}
# DeleteFaces takes at most this many ids per call.
DELETE_BATCH = 4096
# Looking for the face IndexFaces registered from this very image: identical bytes match with similarity
# ~100, so 99 keeps other photos of the same person out (recovery.py also drops faces the history gives to
# other records). MaxFaces leaves room for other users' faces from the same photo (other ExternalImageIds).
SEARCH_THRESHOLD = 99.0
SEARCH_MAX_FACES = 100
# SearchFacesByImage errors meaning "IndexFaces cannot have registered a face from this image (as it is now)".
_NOTHING_TO_FIND = {"InvalidParameterException", "InvalidImageFormatException", "ImageTooLargeException"}


def external_image_id(user_id: str) -> str:
    """Rekognition's ExternalImageId for a user id (`rekognition_id`, at most 255 characters)."""
    return rekognition_id(user_id, EXTERNAL_ID_MAX)


def rekognition_id(user_id: str, max_length: int) -> str:
    """Derive a Rekognition id ([a-zA-Z0-9_.\\-:]) from a user id, injectively.

    Allowed characters other than ":" pass through; every other character becomes ":" + the lowercase hex
    of each of its UTF-8 bytes (":" itself too, so decoding is unambiguous). Ids longer than `max_length`
    after escaping become "sha256::" + the SHA-256 hex of the user id (72 characters). The history records
    the original user id next to it.
    """
    escaped = "".join(
        ch if _ALLOWED.fullmatch(ch) else "".join(f":{b:02x}" for b in ch.encode("utf-8")) for ch in user_id
    )
    if 0 < len(escaped) <= max_length:
        return escaped
    return HASHED_PREFIX + hashlib.sha256(user_id.encode("utf-8")).hexdigest()


class RekognitionGateway:
    """rekognitionMode faces: each image is a face of the collection, named by the user's ExternalImageId."""

    name = "rekognition"
    needs_bytes = False
    registers_per_image = True
    paced_apis: tuple[str, ...] = REKOGNITION_APIS

    def __init__(self, client, collection_id: str) -> None:
        self._client = client
        self._collection_id = collection_id

    def pace_calls(self, before_call: Callable[[str], None]) -> None:
        """Call `before_call(<API name>)` right before each HTTP request of a paced API (`paced_apis`) goes
        out, the client's own retries included (botocore's `before-send` event: each attempt counts against
        the quota, so each attempt waits for its slot; pacing.PacedGateway)."""
        for api in self.paced_apis:

            def hook(api: str = api, **_kwargs: object) -> None:
                before_call(api)

            self._client.meta.events.register(f"before-send.rekognition.{api}", hook)

    def register(self, request: RegistrationRequest) -> Registration:
        external_id = external_image_id(request.user_id)
        try:
            response = self._client.index_faces(
                CollectionId=self._collection_id,
                Image={"S3Object": s3_object(request)},
                ExternalImageId=external_id,
                MaxFaces=1,
                QualityFilter="AUTO",
                DetectionAttributes=[],
            )
        except ClientError as exc:
            raise classify(exc, "IndexFaces") from exc
        except (ConnectionError, ReadTimeoutError) as exc:
            raise GatewayBusy(f"rekognition IndexFaces: {type(exc).__name__}") from exc
        unindexed = sorted(
            {reason for face in response.get("UnindexedFaces", []) for reason in face.get("Reasons", [])}
        )
        records = response.get("FaceRecords", [])
        if not records:
            raise GatewayRejected(
                "no-face",
                f"Rekognition indexed no face (unindexed reasons: {', '.join(unindexed) or 'none'})",
                {"unindexed_reasons": unindexed},
            )
        face = records[0]["Face"]
        details = {"unindexed_reasons": unindexed} if unindexed else {}
        if response.get("FaceModelVersion"):
            details["face_model_version"] = response["FaceModelVersion"]
        return Registration(
            face_ids=(face["FaceId"],),
            image_id=face.get("ImageId"),
            external_image_id=external_id,
            details=details,
        )

    def find_registration(self, request: RegistrationRequest) -> Registration | None:
        """Faces of the collection matching this image (S3 version) whose ExternalImageId is this user's."""
        return found_registration(self._matching_faces(request), external_image_id(request.user_id))

    def _matching_faces(self, request: RegistrationRequest) -> list[dict[str, Any]]:
        """SearchFacesByImage's matches (`FaceMatches` items) whose face has this user's ExternalImageId."""
        external_id = external_image_id(request.user_id)
        try:
            response = self._client.search_faces_by_image(
                CollectionId=self._collection_id,
                Image={"S3Object": s3_object(request)},
                MaxFaces=SEARCH_MAX_FACES,
                FaceMatchThreshold=SEARCH_THRESHOLD,
                # IndexFaces filtered with AUTO; searching unfiltered never misses a face it registered.
                QualityFilter="NONE",
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _NOTHING_TO_FIND:
                # No face in the image (InvalidParameter), or an image IndexFaces refuses as well: nothing
                # was registered; IndexFaces then reports the outcome with its own reason.
                return []
            if code == "InvalidS3ObjectException":
                # The version cannot be read any more (deleted): a face registered from it cannot be found
                # by image.
                raise RegistrationUnknown(f"SearchFacesByImage: {code}") from exc
            raise classify(exc, "SearchFacesByImage") from exc
        except (ConnectionError, ReadTimeoutError) as exc:
            raise GatewayBusy(f"rekognition SearchFacesByImage: {type(exc).__name__}") from exc
        return [
            match
            for match in response.get("FaceMatches", [])
            if match.get("Face", {}).get("ExternalImageId") == external_id and match["Face"].get("FaceId")
        ]

    def deregister(self, user_id: str, face_ids: tuple[str, ...], image_id: str | None) -> None:
        self._delete_faces(face_ids)

    def _delete_faces(self, face_ids: tuple[str, ...]) -> list[dict[str, Any]]:
        """DeleteFaces in batches; returns its UnsuccessfulFaceDeletions (faces still associated with a user:
        rekognitionMode users disassociates first)."""
        unsuccessful: list[dict[str, Any]] = []
        for start in range(0, len(face_ids), DELETE_BATCH):
            try:
                response = self._client.delete_faces(
                    CollectionId=self._collection_id, FaceIds=list(face_ids[start : start + DELETE_BATCH])
                )
            except ClientError as exc:
                raise classify(exc, "DeleteFaces") from exc
            except (ConnectionError, ReadTimeoutError) as exc:
                raise GatewayBusy(f"rekognition DeleteFaces: {type(exc).__name__}") from exc
            unsuccessful += response.get("UnsuccessfulFaceDeletions", [])
        return unsuccessful


def found_registration(matches: list[dict[str, Any]], external_id: str) -> Registration | None:
    """The registration made of these SearchFacesByImage matches, or None when there are none."""
    if not matches:
        return None
    return Registration(
        face_ids=tuple(match["Face"]["FaceId"] for match in matches),
        image_id=matches[0]["Face"].get("ImageId"),
        external_image_id=external_id,
        details={
            "recovered_by": "SearchFacesByImage",
            "similarity": [round(float(match.get("Similarity", 0.0)), 3) for match in matches],
        },
    )


def s3_object(request: RegistrationRequest) -> dict[str, str]:
    """Rekognition's Image.S3Object of the request's object version."""
    location = {"Bucket": request.obj.bucket, "Name": request.obj.key}
    if request.obj.version_id:
        location["Version"] = request.obj.version_id
    return location


def classify(exc: ClientError, operation: str) -> Exception:
    """The gateway's answer to a Rekognition error: GatewayBusy, GatewayRejected, or the error itself."""
    code = exc.response.get("Error", {}).get("Code", "")
    message = exc.response.get("Error", {}).get("Message", "")
    if code in _BUSY:
        # A throttling answer to the first and only attempt did nothing; after client-side retries an
        # earlier attempt may have timed out after registering, and a server error may hide one too.
        retried = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) > 0
        refused = code in _THROTTLED and not retried
        return GatewayBusy(
            f"rekognition {operation}: {code}",
            may_have_registered=not refused,
            throttled=code in _THROTTLED,
            api=operation,
        )
    if code in _REJECTED and operation == "IndexFaces":
        return GatewayRejected(_REJECTED[code], f"{code}: {message}"[:500])
    # AccessDenied, ResourceNotFound (no collection), quota: configuration problems that a person fixes;
    # retried, then recorded as failed when the message gives up.
    return exc
