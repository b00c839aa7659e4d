"""Amazon Rekognition as the face index: IndexFaces from S3, DeleteFaces to deregister."""

from __future__ import annotations

import hashlib
import re

from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

from handlers.throttled_indexer.gateway import (
    GatewayBusy,
    GatewayRejected,
    Registration,
    RegistrationRequest,
)

# Rekognition's ExternalImageId: 1-255 characters of [a-zA-Z0-9_.\-:].
_ALLOWED = re.compile(r"[a-zA-Z0-9_.\-]")
EXTERNAL_ID_MAX = 255
# Over-long escaped ids fall back to a hash under this prefix; "::" never occurs in an escaped id (every
# ":" there starts a two-digit hex escape), so the two forms cannot collide.
HASHED_PREFIX = "sha256::"

_BUSY = {"ThrottlingException", "ProvisionedThroughputExceededException", "InternalServerError"}
_REJECTED = {
    "InvalidImageFormatException": "invalid-image-format",
    "ImageTooLargeException": "image-too-large",
    "InvalidS3ObjectException": "invalid-s3-object",
    "InvalidParameterException": "invalid-parameter",
}
# DeleteFaces takes at most this many ids per call.
DELETE_BATCH = 4096


def external_image_id(user_id: str) -> str:
    """Derive Rekognition's ExternalImageId from a user id, injectively.

    Allowed characters other than ":" pass through; every other character becomes ":" + the lowercase hex
    of each of its UTF-8 bytes (":" itself too, so decoding is unambiguous). Ids longer than 255 after
    escaping become "sha256::" + the SHA-256 hex of the user id. The history records the mapping.
    """
    escaped = "".join(
        ch if _ALLOWED.fullmatch(ch) else "".join(f":{b:02x}" for b in ch.encode("utf-8")) for ch in user_id
    )
    if 0 < len(escaped) <= EXTERNAL_ID_MAX:
        return escaped
    return HASHED_PREFIX + hashlib.sha256(user_id.encode("utf-8")).hexdigest()


class RekognitionGateway:
    name = "rekognition"
    needs_bytes = False
    registers_per_image = True

    def __init__(self, client, collection_id: str) -> None:
        self._client = client
        self._collection_id = collection_id

    def register(self, request: RegistrationRequest) -> Registration:
        s3_object = {"Bucket": request.obj.bucket, "Name": request.obj.key}
        if request.obj.version_id:
            s3_object["Version"] = request.obj.version_id
        external_id = external_image_id(request.user_id)
        try:
            response = self._client.index_faces(
                CollectionId=self._collection_id,
                Image={"S3Object": s3_object},
                ExternalImageId=external_id,
                MaxFaces=1,
                QualityFilter="AUTO",
                DetectionAttributes=[],
            )
        except ClientError as exc:
            raise _classify(exc, "IndexFaces") from exc
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

    def deregister(self, user_id: str, face_ids: tuple[str, ...], image_id: str | None) -> None:
        for start in range(0, len(face_ids), DELETE_BATCH):
            try:
                self._client.delete_faces(
                    CollectionId=self._collection_id, FaceIds=list(face_ids[start : start + DELETE_BATCH])
                )
            except ClientError as exc:
                raise _classify(exc, "DeleteFaces") from exc
            except (ConnectionError, ReadTimeoutError) as exc:
                raise GatewayBusy(f"rekognition DeleteFaces: {type(exc).__name__}") from exc


def _classify(exc: ClientError, operation: str) -> Exception:
    code = exc.response.get("Error", {}).get("Code", "")
    message = exc.response.get("Error", {}).get("Message", "")
    if code in _BUSY:
        return GatewayBusy(f"rekognition {operation}: {code}")
    if code in _REJECTED and operation == "IndexFaces":
        return GatewayRejected(_REJECTED[code], f"{code}: {message}"[:500])
    # AccessDenied, ResourceNotFound (no collection), quota: configuration problems that a person fixes;
    # retried, then recorded as failed when the message gives up.
    return exc
