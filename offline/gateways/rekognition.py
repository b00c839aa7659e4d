"""Amazon Rekognition's face-collection API, emulated for the offline runtime (`set_rekognition_handler`).

Covers what the stack and the indexer call: CreateCollection, DescribeCollection, DeleteCollection,
ListCollections, IndexFaces, DeleteFaces, ListFaces, SearchFacesByImage, and the user API of
rekognitionMode users (CreateUser, DeleteUser, ListUsers, AssociateFaces, DisassociateFaces, SearchUsers:
rekognition_users.py). Images come from S3 (read from moto through the boto3 client given, after checking that
the *caller* may read them, as Rekognition does) or from Image.Bytes. Faces are found by
`offline.gateways.faces` (one face per valid image unless it is of one colour).
SearchFacesByImage matches by fingerprint: identical bytes -> Similarity 100, anything else is no match.
Rate limits, injected faults and the registration registry come from `offline.gateways.limits`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from offline.gateways.faces import InvalidImage, analyse_image
from offline.gateways.limits import FaultPlan, Registry, TokenBucket
from offline.gateways.rekognition_errors import Answer, RekognitionError
from offline.gateways.rekognition_users import USER_DATA_PLANE, EmulatedUser, UsersApi, person_of

Authorize = Callable[[Any, str, str], None]
"""(caller, action, resource) -> None, raising when the caller may not (OfflineRuntime.authorize)."""

FACE_MODEL_VERSION = "7.0"
# Rekognition's documented limits.
MAX_S3_IMAGE_BYTES = 15 * 1024 * 1024
MAX_INLINE_IMAGE_BYTES = 5 * 1024 * 1024
MIN_FACE_PIXELS = 40
"""Faces smaller than this (our face fills most of the image) are unindexed as SMALL_BOUNDING_BOX."""
LIST_FACES_MAX = 4096
_COLLECTION_ID = re.compile(r"[a-zA-Z0-9_.\-]{1,255}")
_EXTERNAL_ID = re.compile(r"[a-zA-Z0-9_.\-:]{1,255}")
_FACE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# The calls that read or change faces: rate-limited (one bucket per action, as AWS's per-API TPS quotas)
# and subject to injected faults. Collection management never is, so a deployment is not disturbed.
DATA_PLANE = ("IndexFaces", "SearchFacesByImage", "DeleteFaces", *USER_DATA_PLANE)
_BOUNDING_BOX = {"Width": 0.62, "Height": 0.8, "Left": 0.19, "Top": 0.1}


@dataclass
class Face:
    face_id: str
    image_id: str
    external_image_id: str | None
    fingerprint: str
    source: str | None
    person: str = ""
    """Who the face shows, as far as this emulator can tell (`person_of`): user associations match on it."""
    user_id: str | None = None
    """The Rekognition user the face is associated with (AssociateFaces)."""

    def describe(self) -> dict[str, Any]:
        face = {
            "FaceId": self.face_id,
            "BoundingBox": dict(_BOUNDING_BOX),
            "ImageId": self.image_id,
            "Confidence": 99.99,
            "IndexFacesModelVersion": FACE_MODEL_VERSION,
        }
        if self.external_image_id is not None:
            face["ExternalImageId"] = self.external_image_id
        if self.user_id is not None:
            face["UserId"] = self.user_id
        return face


@dataclass
class Collection:
    collection_id: str
    created_at: float = field(default_factory=time.time)
    faces: dict[str, Face] = field(default_factory=dict)
    """By face id, in insertion order (ListFaces pages through it)."""
    users: dict[str, EmulatedUser] = field(default_factory=dict)
    """By UserId, in creation order (ListUsers pages through it)."""


class EmulatedRekognition(UsersApi):
    """The handler the offline runtime routes `rekognition` requests to: `handle(action, body, caller)`."""

    def __init__(
        self,
        s3_client: Any,
        *,
        authorize: Authorize | None = None,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        rate_per_s: float | None = None,
        burst: float | None = None,
        faults: FaultPlan | None = None,
        registry: Registry | None = None,
        timeout_delay_s: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """
        s3_client: reads the images (admin credentials; `authorize` checks the caller's own permission).
        rate_per_s / burst: each data-plane action's token bucket (None: unlimited).
        timeout_delay_s: how long a "timeout" fault holds the answer back.
        """
        self.s3 = s3_client
        self.authorize = authorize
        self.region = region
        self.account_id = account_id
        self.limits = {action: TokenBucket(rate_per_s, burst, clock) for action in DATA_PLANE}
        self.faults = faults or FaultPlan()
        self.registry = registry or Registry()
        self.timeout_delay_s = timeout_delay_s
        self.calls: Counter[str] = Counter()
        """Requests per action, as received (throttled and faulted ones included)."""
        self.throttled: Counter[str] = Counter()
        self._collections: dict[str, Collection] = {}
        self._lock = threading.Lock()

    # -- dispatch -----------------------------------------------------------------------------------------
    def handle(self, action: str, body: dict[str, Any], caller: Any) -> Answer:
        with self._lock:
            self.calls[action] += 1
        operation = getattr(self, f"_op_{action}", None)
        if operation is None:
            return RekognitionError("InvalidParameterException", f"{action} is not emulated offline").answer()
        fault = None
        if action in DATA_PLANE:
            if not self.limits[action].try_acquire():
                with self._lock:
                    self.throttled[action] += 1
                return RekognitionError(
                    "ProvisionedThroughputExceededException",
                    f"{action}: the rate limit of this emulator was exceeded",
                ).answer()
            fault = self.faults.next(_subject(body))
            if fault == "throttle":
                return RekognitionError("ThrottlingException", "injected fault: throttled").answer()
            if fault == "outage":
                return RekognitionError("InternalServerError", "injected fault: outage", 500).answer()
            if fault == "timeout":
                time.sleep(self.timeout_delay_s)
                return RekognitionError("InternalServerError", "injected fault: timed out", 500).answer()
            if fault == "crash_before":
                self.faults.crash()
                return RekognitionError(
                    "InternalServerError", "injected fault: the caller died", 500
                ).answer()
        try:
            answer: Answer = 200, operation(body, caller)
        except RekognitionError as exc:
            answer = exc.answer()
        if fault == "timeout_after_success":
            time.sleep(self.timeout_delay_s)
        if fault == "crash_after":
            self.faults.crash()  # processed; the caller dies before it reads the answer
        return answer

    # -- collections --------------------------------------------------------------------------------------
    def _collection(self, body: dict[str, Any]) -> Collection:
        collection_id = body.get("CollectionId")
        if not isinstance(collection_id, str) or not _COLLECTION_ID.fullmatch(collection_id):
            raise RekognitionError(
                "InvalidParameterException", f"CollectionId {collection_id!r} must match [a-zA-Z0-9_.\\-]+"
            )
        with self._lock:
            collection = self._collections.get(collection_id)
        if collection is None:
            raise RekognitionError(
                "ResourceNotFoundException", f"The collection id: {collection_id} does not exist"
            )
        return collection

    def _arn(self, collection_id: str) -> str:
        # Rekognition answers collection ARNs without the "arn:" prefix.
        return f"aws:rekognition:{self.region}:{self.account_id}:collection/{collection_id}"

    def _op_CreateCollection(self, body: dict[str, Any], caller: Any) -> dict[str, Any]:
        collection_id = body.get("CollectionId")
        if not isinstance(collection_id, str) or not _COLLECTION_ID.fullmatch(collection_id):
            raise RekognitionError(
                "InvalidParameterException", f"CollectionId {collection_id!r} must match [a-zA-Z0-9_.\\-]+"
            )
        with self._lock:
            if collection_id in self._collections:
                raise RekognitionError(
                    "ResourceAlreadyExistsException", f"The collection id: {collection_id} already exists"
                )
            self._collections[collection_id] = Collection(collection_id)
        return {
            "StatusCode": 200,
            "CollectionArn": self._arn(collection_id),
            "FaceModelVersion": FACE_MODEL_VERSION,
        }

    def _op_DescribeCollection(self, body: dict[str, Any], caller: Any) -> dict[str, Any]:
        collection = self._collection(body)
        return {
            "FaceCount": len(collection.faces),
            "UserCount": len(collection.users),
            "FaceModelVersion": FACE_MODEL_VERSION,
            "CollectionARN": self._arn(collection.collection_id),
            "CreationTimestamp": collection.created_at,
        }

    def _op_DeleteCollection(self, body: dict[str, Any], caller: Any) -> dict[str, Any]:
        collection = self._collection(body)
        with self._lock:
            del self._collections[collection.collection_id]
        for face_id in collection.faces:
            self.registry.remove(face_id)
        return {"StatusCode": 200}

    def _op_ListCollections(self, body: dict[str, Any], caller: Any) -> dict[str, Any]:
        with self._lock:
            ids = sorted(self._collections)
        return {"CollectionIds": ids, "FaceModelVersions": [FACE_MODEL_VERSION] * len(ids)}

    # -- faces ----------------------------------------------------------------------------------------------
    def _op_IndexFaces(self, body: dict[str, Any], caller: Any) -> dict[str, Any]:
        collection = self._collection(body)
        external_id = body.get("ExternalImageId")
        if external_id is not None and (
            not isinstance(external_id, str) or not _EXTERNAL_ID.fullmatch(external_id)
        ):
            raise RekognitionError(
                "InvalidParameterException",
                f"ExternalImageId {external_id!r} must be 1-255 characters of [a-zA-Z0-9_.\\-:]",
            )
        max_faces = body.get("MaxFaces", 100)
        if not isinstance(max_faces, int) or max_faces < 1:
            raise RekognitionError("InvalidParameterException", f"MaxFaces must be >= 1, got {max_faces!r}")
        data, source = self._image(body, caller)
        info = _analyse(data)
        response: dict[str, Any] = {
            "FaceRecords": [],
            "UnindexedFaces": [],
            "FaceModelVersion": FACE_MODEL_VERSION,
        }
        if info.faces == 0:
            return response
        if min(info.width, info.height) < MIN_FACE_PIXELS:
            response["UnindexedFaces"].append(
                {"Reasons": ["SMALL_BOUNDING_BOX"], "FaceDetail": {"BoundingBox": dict(_BOUNDING_BOX)}}
            )
            return response
        fingerprint = hashlib.sha256(data).hexdigest()
        face = Face(
            str(uuid.uuid4()),
            str(uuid.uuid4()),
            external_id,
            fingerprint,
            source,
            person_of(data, external_id),
        )
        with self._lock:
            collection.faces[face.face_id] = face
        self.registry.add(external_id or "", fingerprint, source, reg_id=face.face_id)
        response["FaceRecords"].append(
            {"Face": face.describe(), "FaceDetail": {"BoundingBox": dict(_BOUNDING_BOX), "Confidence": 99.99}}
        )
        return response

    def _op_DeleteFaces(self, body: dict[str, Any], caller: Any) -> dict[str, Any]:
        collection = self._collection(body)
        face_ids = body.get("FaceIds")
        if not isinstance(face_ids, list) or not 1 <= len(face_ids) <= 4096:
            raise RekognitionError("InvalidParameterException", "FaceIds must list 1 to 4096 face ids")
        deleted: list[str] = []
        unsuccessful: list[dict[str, Any]] = []
        for face_id in face_ids:
            if not isinstance(face_id, str) or not _FACE_ID.fullmatch(face_id):
                raise RekognitionError("InvalidParameterException", f"FaceId {face_id!r} is not a face id")
            with self._lock:
                face = collection.faces.get(face_id)
                if face is not None and face.user_id is not None:
                    # As Rekognition: an associated face is not deleted (DisassociateFaces first).
                    unsuccessful.append(
                        {
                            "FaceId": face_id,
                            "UserId": face.user_id,
                            "Reasons": ["ASSOCIATED_TO_AN_EXISTING_USER"],
                        }
                    )
                    continue
                collection.faces.pop(face_id, None)
            if face is None:
                # As Rekognition: an unknown face id is not an error, it is just absent from DeletedFaces.
                continue
            self.registry.remove(face_id)
            deleted.append(face_id)
        return {"DeletedFaces": deleted, "UnsuccessfulFaceDeletions": unsuccessful}

    def _op_ListFaces(self, body: dict[str, Any], caller: Any) -> dict[str, Any]:
        collection = self._collection(body)
        limit = body.get("MaxResults", 1000)
        if not isinstance(limit, int) or not 1 <= limit <= LIST_FACES_MAX:
            raise RekognitionError("InvalidParameterException", f"MaxResults must be 1-{LIST_FACES_MAX}")
        with self._lock:
            faces = self.listed_faces(collection, body)
        start = 0
        token = body.get("NextToken")
        if token:
            try:
                start = int(base64.b64decode(token).decode())
            except (ValueError, binascii.Error):
                raise RekognitionError("InvalidPaginationTokenException", "NextToken is invalid") from None
        page = faces[start : start + limit]
        answer: dict[str, Any] = {
            "Faces": [face.describe() for face in page],
            "FaceModelVersion": FACE_MODEL_VERSION,
        }
        if start + limit < len(faces):
            answer["NextToken"] = base64.b64encode(str(start + limit).encode()).decode()
        return answer

    def _op_SearchFacesByImage(self, body: dict[str, Any], caller: Any) -> dict[str, Any]:
        collection = self._collection(body)
        threshold = float(body.get("FaceMatchThreshold", 80.0))
        max_faces = body.get("MaxFaces", 100)
        data, _ = self._image(body, caller)
        info = _analyse(data)
        if info.faces == 0:
            raise RekognitionError(
                "InvalidParameterException", "There are no faces in the image. Should be at least 1."
            )
        fingerprint = hashlib.sha256(data).hexdigest()
        with self._lock:
            same = [face for face in collection.faces.values() if face.fingerprint == fingerprint]
        # Identical bytes are the only match this emulator knows: similarity 100, above any threshold.
        matches = [{"Similarity": 100.0, "Face": face.describe()} for face in same if threshold <= 100.0]
        return {
            "SearchedFaceBoundingBox": dict(_BOUNDING_BOX),
            "SearchedFaceConfidence": 99.99,
            "FaceMatches": matches[:max_faces],
            "FaceModelVersion": FACE_MODEL_VERSION,
        }

    # -- images ------------------------------------------------------------------------------------------
    def _image(self, body: dict[str, Any], caller: Any) -> tuple[bytes, str | None]:
        """The image bytes and, for S3 images, `bucket/key#version` (Image.S3Object or Image.Bytes)."""
        image = body.get("Image")
        if not isinstance(image, dict) or ("S3Object" in image) == ("Bytes" in image):
            raise RekognitionError(
                "InvalidParameterException", "Image needs exactly one of S3Object and Bytes"
            )
        if "Bytes" in image:
            try:
                data = base64.b64decode(image["Bytes"], validate=True)
            except (binascii.Error, TypeError):
                raise RekognitionError("InvalidParameterException", "Image.Bytes is not base64") from None
            if len(data) > MAX_INLINE_IMAGE_BYTES:
                raise RekognitionError("ImageTooLargeException", "Image size is too large")
            return data, None
        s3_object = image["S3Object"] or {}
        bucket, key, version = s3_object.get("Bucket"), s3_object.get("Name"), s3_object.get("Version")
        if not bucket or not key:
            raise RekognitionError("InvalidParameterException", "Image.S3Object needs Bucket and Name")
        unreadable = RekognitionError(
            "InvalidS3ObjectException",
            "Unable to get object metadata from S3. Check object key, region and/or access permissions.",
        )
        if self.authorize is not None:
            # Rekognition reads the object with the caller's permissions.
            action = "s3:GetObjectVersion" if version else "s3:GetObject"
            try:
                self.authorize(caller, action, f"arn:aws:s3:::{bucket}/{key}")
            except Exception:
                raise unreadable from None
        extra = {"VersionId": version} if version else {}
        try:
            head = self.s3.head_object(Bucket=bucket, Key=key, **extra)
            if head["ContentLength"] > MAX_S3_IMAGE_BYTES:
                raise RekognitionError("ImageTooLargeException", "Image size is too large")
            data = self.s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()
        except ClientError:
            raise unreadable from None
        return data, f"{bucket}/{key}#{version or ''}"

    # -- observing ---------------------------------------------------------------------------------------
    def face_count(self, collection_id: str) -> int:
        with self._lock:
            collection = self._collections.get(collection_id)
            return len(collection.faces) if collection else 0


def _subject(body: dict[str, Any]) -> str | None:
    """What a data-plane request is about, for the fault log: `bucket/key` of its S3 image, else its faces."""
    image = body.get("Image")
    s3_object = image.get("S3Object") if isinstance(image, dict) else None
    if isinstance(s3_object, dict) and s3_object.get("Name"):
        return f"{s3_object.get('Bucket')}/{s3_object['Name']}"
    face_ids = body.get("FaceIds")
    return "faces:" + ",".join(map(str, face_ids)) if isinstance(face_ids, list) else None


def _analyse(data: bytes) -> Any:
    try:
        return analyse_image(data)
    except InvalidImage as exc:
        raise RekognitionError(
            "InvalidImageFormatException", f"Request has invalid image format ({exc})"
        ) from None
