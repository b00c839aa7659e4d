"""Rekognition's user API, emulated (a part of `EmulatedRekognition`): CreateUser, DeleteUser, ListUsers,
AssociateFaces, DisassociateFaces, SearchUsers, and ListFaces' UserId / FaceIds filters.

Documented rules it keeps (Amazon Rekognition API reference, the operations' pages): UserId is 1-128
characters of [a-zA-Z0-9_.\\-:]; CreateUser of an existing user is a ConflictException; Associate-,
DisassociateFaces take 1-100 face ids, and a user holds at most 100 faces (more:
ServiceQuotaExceededException); UserMatchThreshold is 0-100, 75 by default, and applies once the user has a
face; a face associated with another user, absent from the collection, or below the threshold is listed in
UnsuccessfulFaceAssociations (ASSOCIATED_TO_A_DIFFERENT_USER / FACE_NOT_FOUND / LOW_MATCH_CONFIDENCE with its
Confidence); a face already associated with the user is ignored; an unknown user is a
ResourceNotFoundException; DeleteUser disassociates the user's faces; DeleteFaces leaves an associated face
(ASSOCIATED_TO_AN_EXISTING_USER).

Matching: this emulator has no face model. A face shows the "person" named by the image's `person` text (a PNG
tEXt chunk or a JPEG comment, `person_of`), else the person its ExternalImageId names. A face matches a user
with confidence 99 when it shows the same person as the user's faces, else 12.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PIL import Image

from offline.gateways.rekognition_errors import RekognitionError

if TYPE_CHECKING:
    from offline.gateways.rekognition import Collection

USER_DATA_PLANE = ("CreateUser", "DeleteUser", "AssociateFaces", "DisassociateFaces", "SearchUsers")
_USER_ID = re.compile(r"[a-zA-Z0-9_.\-:]{1,128}")
USER_FACES_MAX = 100
DEFAULT_USER_MATCH_THRESHOLD = 75.0
SAME_PERSON_CONFIDENCE = 99.0
OTHER_PERSON_CONFIDENCE = 12.0
LIST_USERS_MAX = 500


def person_of(data: bytes, external_id: str | None) -> str:
    """Who an image shows, for matching faces to users: its `person` text if it has one (PNG tEXt / JPEG
    comment), else its ExternalImageId."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            named = image.info.get("person") or image.info.get("comment")
    except (OSError, SyntaxError, ValueError):
        named = None
    if isinstance(named, bytes):
        named = named.decode("utf-8", "replace")
    return str(named) if named else (external_id or "")


@dataclass
class EmulatedUser:
    user_id: str
    face_ids: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {"UserId": self.user_id, "UserStatus": "ACTIVE"}


class UsersApi:
    """The user operations; `EmulatedRekognition` provides the collections, the lock and the dispatch."""

    _lock: threading.Lock

    def _collection(self, body: dict[str, Any]) -> Collection:
        raise NotImplementedError

    # -- users ----------------------------------------------------------------------------------------------
    def _op_CreateUser(self, body: dict[str, Any], caller: Any) -> dict[str, Any]:
        collection = self._collection(body)
        user_id = _user_id(body)
        with self._lock:
            if user_id in collection.users:
                raise RekognitionError(
                    "ConflictException", f"UserId {user_id} already exists in the collection"
                )
            collection.users[user_id] = EmulatedUser(user_id)
        return {}

    def _op_DeleteUser(self, body: dict[str, Any], caller: Any) -> dict[str, Any]:
        collection = self._collection(body)
        user_id = _user_id(body)
        with self._lock:
            user = self._user(collection, user_id)
            for face_id in user.face_ids:  # "Faces that are associated with the UserID are disassociated"
                collection.faces[face_id].user_id = None
            del collection.users[user.user_id]
        return {}

    def _op_ListUsers(self, body: dict[str, Any], caller: Any) -> dict[str, Any]:
        collection = self._collection(body)
        limit = body.get("MaxResults", LIST_USERS_MAX)
        if not isinstance(limit, int) or not 1 <= limit <= LIST_USERS_MAX:
            raise RekognitionError("InvalidParameterException", f"MaxResults must be 1-{LIST_USERS_MAX}")
        start = _page_start(body.get("NextToken"))
        with self._lock:
            users = [user.describe() for user in collection.users.values()]
        answer: dict[str, Any] = {"Users": users[start : start + limit]}
        if start + limit < len(users):
            answer["NextToken"] = base64.b64encode(str(start + limit).encode()).decode()
        return answer

    # -- associations ---------------------------------------------------------------------------------------
    def _op_AssociateFaces(self, body: dict[str, Any], caller: Any) -> dict[str, Any]:
        collection = self._collection(body)
        user_id = _user_id(body)
        face_ids = _face_ids(body)
        threshold = body.get("UserMatchThreshold", DEFAULT_USER_MATCH_THRESHOLD)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 100:
            raise RekognitionError("InvalidParameterException", "UserMatchThreshold must be 0-100")
        associated: list[dict[str, str]] = []
        unsuccessful: list[dict[str, Any]] = []
        with self._lock:
            user = self._user(collection, user_id)
            new = [face_id for face_id in dict.fromkeys(face_ids) if face_id not in user.face_ids]
            if len(user.face_ids) + len(new) > USER_FACES_MAX:
                raise RekognitionError(
                    "ServiceQuotaExceededException",
                    f"UserId {user_id} would hold more than {USER_FACES_MAX} faces",
                )
            people = {collection.faces[face_id].person for face_id in user.face_ids}
            for face_id in new:
                face = collection.faces.get(face_id)
                if face is None:
                    unsuccessful.append({"FaceId": face_id, "UserId": user_id, "Reasons": ["FACE_NOT_FOUND"]})
                    continue
                if face.user_id is not None:
                    reason = {"Reasons": ["ASSOCIATED_TO_A_DIFFERENT_USER"], "UserId": face.user_id}
                    unsuccessful.append({"FaceId": face_id, **reason})
                    continue
                confidence = SAME_PERSON_CONFIDENCE if people <= {face.person} else OTHER_PERSON_CONFIDENCE
                if people and confidence < threshold:
                    unsuccessful.append(
                        {
                            "FaceId": face_id,
                            "UserId": user_id,
                            "Confidence": confidence,
                            "Reasons": ["LOW_MATCH_CONFIDENCE"],
                        }
                    )
                    continue
                face.user_id = user_id
                user.face_ids.append(face_id)
                people.add(face.person)
                associated.append({"FaceId": face_id})
        return {
            "AssociatedFaces": associated,
            "UnsuccessfulFaceAssociations": unsuccessful,
            "UserStatus": "ACTIVE",
        }

    def _op_DisassociateFaces(self, body: dict[str, Any], caller: Any) -> dict[str, Any]:
        collection = self._collection(body)
        user_id = _user_id(body)
        face_ids = _face_ids(body)
        disassociated: list[dict[str, str]] = []
        unsuccessful: list[dict[str, Any]] = []
        with self._lock:
            user = self._user(collection, user_id)
            for face_id in dict.fromkeys(face_ids):
                face = collection.faces.get(face_id)
                if face is None:
                    unsuccessful.append({"FaceId": face_id, "UserId": user_id, "Reasons": ["FACE_NOT_FOUND"]})
                elif face.user_id not in (None, user_id):
                    unsuccessful.append(
                        {
                            "FaceId": face_id,
                            "UserId": face.user_id,
                            "Reasons": ["ASSOCIATED_TO_A_DIFFERENT_USER"],
                        }
                    )
                elif face.user_id == user_id:
                    face.user_id = None
                    user.face_ids.remove(face_id)
                    disassociated.append({"FaceId": face_id})
                # else: not associated with anyone: ignored, as documented
        return {
            "DisassociatedFaces": disassociated,
            "UnsuccessfulFaceDisassociations": unsuccessful,
            "UserStatus": "ACTIVE",
        }

    def _op_SearchUsers(self, body: dict[str, Any], caller: Any) -> dict[str, Any]:
        """Users matching a user (UserId) or a face (FaceId) of the collection, by person."""
        collection = self._collection(body)
        threshold = float(body.get("UserMatchThreshold", 80.0))
        max_users = body.get("MaxUsers", 100)
        with self._lock:
            if ("UserId" in body) == ("FaceId" in body):
                raise RekognitionError("InvalidParameterException", "give exactly one of UserId and FaceId")
            if "UserId" in body:
                searched = self._user(collection, _user_id(body))
                people = {collection.faces[face_id].person for face_id in searched.face_ids}
                answer: dict[str, Any] = {"SearchedUser": {"UserId": searched.user_id}}
            else:
                face = collection.faces.get(str(body["FaceId"]))
                if face is None:
                    raise RekognitionError("ResourceNotFoundException", f"FaceId {body['FaceId']} not found")
                people = {face.person}
                answer = {"SearchedFace": {"FaceId": face.face_id}}
            matches = []
            for user in collection.users.values():
                theirs = {collection.faces[face_id].person for face_id in user.face_ids}
                similarity = (
                    SAME_PERSON_CONFIDENCE if theirs and theirs == people else OTHER_PERSON_CONFIDENCE
                )
                if similarity >= threshold and user.user_id != answer.get("SearchedUser", {}).get("UserId"):
                    matches.append({"Similarity": similarity, "User": user.describe()})
        return {**answer, "UserMatches": matches[:max_users], "FaceModelVersion": "7.0"}

    # -- helpers --------------------------------------------------------------------------------------------
    def listed_faces(self, collection: Collection, body: dict[str, Any]) -> list[Any]:
        """ListFaces' faces: all, or those of one user (UserId) and/or the given FaceIds (under the lock)."""
        faces = list(collection.faces.values())
        if "UserId" in body:
            user_id = _user_id(body)
            faces = [face for face in faces if face.user_id == user_id]
        if "FaceIds" in body:
            wanted = set(_face_ids(body, most=4096))
            faces = [face for face in faces if face.face_id in wanted]
        return faces

    def _user(self, collection: Collection, user_id: str) -> EmulatedUser:
        user = collection.users.get(user_id)
        if user is None:
            raise RekognitionError("ResourceNotFoundException", f"UserId {user_id} does not exist")
        return user

    # -- observing ------------------------------------------------------------------------------------------
    def user_faces(self, collection_id: str) -> dict[str, list[str]]:
        """UserId -> its associated face ids (the demo's checks)."""
        with self._lock:
            collection = self._collections.get(collection_id)  # type: ignore[attr-defined]
            return {u.user_id: list(u.face_ids) for u in collection.users.values()} if collection else {}


def _user_id(body: dict[str, Any]) -> str:
    user_id = body.get("UserId")
    if not isinstance(user_id, str) or not _USER_ID.fullmatch(user_id):
        raise RekognitionError(
            "InvalidParameterException", f"UserId {user_id!r} must be 1-128 characters of [a-zA-Z0-9_.\\-:]"
        )
    return user_id


def _face_ids(body: dict[str, Any], most: int = USER_FACES_MAX) -> list[str]:
    face_ids = body.get("FaceIds")
    if not isinstance(face_ids, list) or not 1 <= len(face_ids) <= most:
        raise RekognitionError("InvalidParameterException", f"FaceIds must list 1 to {most} face ids")
    return [str(face_id) for face_id in face_ids]


def _page_start(token: Any) -> int:
    if not token:
        return 0
    try:
        return int(base64.b64decode(token).decode())
    except (ValueError, binascii.Error):
        raise RekognitionError("InvalidPaginationTokenException", "NextToken is invalid") from None
