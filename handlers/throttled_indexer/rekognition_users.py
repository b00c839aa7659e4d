"""rekognitionMode users: the collection holds one Rekognition user per UserId, made of its images' faces.

- register: IndexFaces as in faces mode (same ExternalImageId), CreateUser (an existing user is fine), then
  AssociateFaces with the UserMatchThreshold setting. A face the user does not take
  (UnsuccessfulFaceAssociations FACE_NOT_FOUND / ASSOCIATED_TO_A_DIFFERENT_USER / LOW_MATCH_CONFIDENCE, or
  ServiceQuotaExceededException: the user has 100 faces) is deleted again and the image is refused with that
  reason (`user-...`), so no face is left outside its user and no refusal is silent; a user left without faces
  by that goes too.
- find_registration (a worker died after calling the gateway): the faces SearchFacesByImage finds by image
  with this user's ExternalImageId, as in faces mode; a face IndexFaces made that AssociateFaces never took
  (Face.UserId unset) is associated now, which completes the registration the dead worker began.
- deregister: DisassociateFaces, DeleteFaces (Rekognition does not delete an associated face), then
  DeleteUser when ListFaces shows the user has no face left.

User ids: Rekognition's UserId is 1-128 characters of [a-zA-Z0-9_.\\-:] (API reference, CreateUser), mapped
from the UserId tag the way ExternalImageId is (`rekognition_id`); the history keeps the original next to it.
Idempotency: ClientRequestToken is left to the SDK, which fills it once per call and resends it on that
call's retries. A token fixed per user would make a CreateUser after that user's DeleteUser answer from the
first call instead of creating the user again.
Known window: DeleteUser disassociates any face still associated (API reference, DeleteUser). A face that
another worker associates between this worker's ListFaces and DeleteUser loses its user; the history still
shows it indexed, and a re-index of that image associates it again.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

from handlers.throttled_indexer.gateway import GatewayBusy, GatewayRejected, Registration, RegistrationRequest
from handlers.throttled_indexer.pacing import REKOGNITION_APIS, REKOGNITION_USERS_APIS
from handlers.throttled_indexer.rekognition_gateway import (
    RekognitionGateway,
    classify,
    external_image_id,
    found_registration,
    rekognition_id,
)
from handlers.throttled_indexer.settings import DEFAULT_USER_MATCH_THRESHOLD

logger = Logger(child=True)

USER_ID_MAX = 128
# AssociateFaces / DisassociateFaces take 1-100 face ids per call, and a user holds at most 100 faces
# (API reference, AssociateFaces).
USER_FACES_MAX = 100


def rekognition_user_id(user_id: str) -> str:
    """Rekognition's UserId for a user id (`rekognition_id`, at most 128 characters)."""
    return rekognition_id(user_id, USER_ID_MAX)


def refusal_code(reason: str) -> str:
    """The recorded reason of an UnsuccessfulFaceAssociations reason: LOW_MATCH_CONFIDENCE ->
    user-low-match-confidence (a reason AWS adds later reads the same way)."""
    return "user-" + reason.lower().replace("_", "-")


class RekognitionUsersGateway(RekognitionGateway):
    paced_apis = REKOGNITION_APIS + REKOGNITION_USERS_APIS

    def __init__(
        self, client, collection_id: str, *, user_match_threshold: float = DEFAULT_USER_MATCH_THRESHOLD
    ) -> None:
        super().__init__(client, collection_id)
        self._threshold = user_match_threshold

    def register(self, request: RegistrationRequest) -> Registration:
        user = rekognition_user_id(request.user_id)
        # IndexFaces first: an image Rekognition refuses (no face, bad format) leaves no empty user behind.
        indexed = super().register(request)
        self._create_user(user)
        response = self._associate(user, indexed.face_ids[0])
        return Registration(
            face_ids=indexed.face_ids,
            image_id=indexed.image_id,
            external_image_id=indexed.external_image_id,
            details={**indexed.details, **_user_facts(user, response)},
        )

    def find_registration(self, request: RegistrationRequest) -> Registration | None:
        user = rekognition_user_id(request.user_id)
        kept = []
        for match in self._matching_faces(request):
            face = match["Face"]
            owner = face.get("UserId")
            if owner == user:
                kept.append(match)
            elif owner is None:
                # Indexed, never associated (the worker died between the two calls): finish the job.
                try:
                    self._create_user(user)
                    self._associate(user, face["FaceId"])
                except GatewayRejected as refused:
                    # The face is gone again; registering the image anew records the refusal.
                    logger.warning(
                        "an unrecorded face could not join its user; deleted",
                        extra={"face_id": face["FaceId"], "reason": refused.code},
                    )
                    continue
                kept.append(match)
            else:
                logger.error(
                    "a face with this user's ExternalImageId belongs to another Rekognition user; left alone",
                    extra={"face_id": face["FaceId"], "user": user, "other_user": owner},
                )
        found = found_registration(kept, external_image_id(request.user_id))
        if found is not None:
            found.details["rekognition_user_id"] = user
        return found

    def deregister(self, user_id: str, face_ids: tuple[str, ...], image_id: str | None) -> None:
        user = rekognition_user_id(user_id)
        if face_ids:
            self._disassociate(user, face_ids)
            still_associated = [
                entry
                for entry in self._delete_faces(face_ids)
                if "ASSOCIATED_TO_AN_EXISTING_USER" in entry.get("Reasons", [])
            ]
            if still_associated:
                # Another worker associated the face again meanwhile: the next attempt disassociates it.
                raise GatewayBusy(
                    "rekognition DeleteFaces: ASSOCIATED_TO_AN_EXISTING_USER "
                    + ",".join(str(entry.get("FaceId")) for entry in still_associated),
                    api="DeleteFaces",
                )
        self._delete_user_if_empty(user)

    # -------------------------------------------------------------------------------------------- calls
    def _create_user(self, user: str) -> None:
        try:
            self._client.create_user(CollectionId=self._collection_id, UserId=user)
        except ClientError as exc:
            if _code(exc) == "ConflictException":
                return  # the user exists already (several images, or a retry): what we need
            raise _after_indexing(classify(exc, "CreateUser")) from exc
        except (ConnectionError, ReadTimeoutError) as exc:
            raise GatewayBusy(f"rekognition CreateUser: {type(exc).__name__}", api="CreateUser") from exc

    def _associate(self, user: str, face_id: str) -> dict[str, Any]:
        """AssociateFaces for one indexed face; a refusal deletes the face and raises GatewayRejected."""
        try:
            response = self._client.associate_faces(
                CollectionId=self._collection_id,
                UserId=user,
                FaceIds=[face_id],
                UserMatchThreshold=self._threshold,
            )
        except ClientError as exc:
            code = _code(exc)
            if code == "ServiceQuotaExceededException":
                self._delete_refused(user, face_id)
                raise GatewayRejected(
                    "user-face-limit",
                    f"Rekognition user {user} holds {USER_FACES_MAX} faces, the most a user may have",
                    {"rekognition_user_id": user},
                ) from exc
            if code in ("ResourceNotFoundException", "ConflictException"):
                # The user was deleted since CreateUser (its last other face went), or is being updated: the
                # next attempt creates it again and finds this face by image (find_registration).
                raise GatewayBusy(f"rekognition AssociateFaces: {code}", api="AssociateFaces") from exc
            raise _after_indexing(classify(exc, "AssociateFaces")) from exc
        except (ConnectionError, ReadTimeoutError) as exc:
            raise GatewayBusy(
                f"rekognition AssociateFaces: {type(exc).__name__}", api="AssociateFaces"
            ) from exc
        refused = [u for u in response.get("UnsuccessfulFaceAssociations", []) if u.get("FaceId") == face_id]
        if refused:
            self._delete_refused(user, face_id)
            reasons = sorted({reason for entry in refused for reason in entry.get("Reasons", [])})
            details: dict[str, Any] = {"rekognition_user_id": user, "association_reasons": reasons}
            if refused[0].get("Confidence") is not None:
                details["match_confidence"] = round(float(refused[0]["Confidence"]), 3)
            if refused[0].get("UserId") not in (None, user):
                details["associated_user_id"] = refused[0]["UserId"]
            code = refusal_code(reasons[0]) if reasons else "user-association-refused"
            raise GatewayRejected(
                code,
                f"AssociateFaces did not add the face to {user}: {', '.join(reasons) or 'no reason'}",
                details,
            )
        return response

    def _delete_refused(self, user: str, face_id: str) -> None:
        """Delete a face its user refused, and the user if that leaves it empty (CreateUser made it for this
        face). A busy answer leaves them for the next attempt (the face is found by image)."""
        self._delete_faces((face_id,))
        self._delete_user_if_empty(user)

    def _disassociate(self, user: str, face_ids: tuple[str, ...]) -> None:
        for start in range(0, len(face_ids), USER_FACES_MAX):
            batch = list(face_ids[start : start + USER_FACES_MAX])
            try:
                response = self._client.disassociate_faces(
                    CollectionId=self._collection_id, UserId=user, FaceIds=batch
                )
            except ClientError as exc:
                if _code(exc) == "ResourceNotFoundException":
                    return  # no such user (deleted, or faces indexed in mode faces): nothing is associated
                raise classify(exc, "DisassociateFaces") from exc
            except (ConnectionError, ReadTimeoutError) as exc:
                raise GatewayBusy(
                    f"rekognition DisassociateFaces: {type(exc).__name__}", api="DisassociateFaces"
                ) from exc
            others = [
                entry
                for entry in response.get("UnsuccessfulFaceDisassociations", [])
                if "ASSOCIATED_TO_A_DIFFERENT_USER" in entry.get("Reasons", [])
            ]
            if others:
                # Not this user's face: deleting it would take it from that user. A person decides.
                raise RuntimeError(
                    f"faces {[entry.get('FaceId') for entry in others]} of user {user} are associated with "
                    f"another Rekognition user ({others[0].get('UserId')}); not deleted"
                )

    def _delete_user_if_empty(self, user: str) -> None:
        try:
            left = self._client.list_faces(CollectionId=self._collection_id, UserId=user, MaxResults=1)
            if left.get("Faces"):
                return
            self._client.delete_user(CollectionId=self._collection_id, UserId=user)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return  # deleted already
            raise classify(exc, "DeleteUser" if exc.operation_name == "DeleteUser" else "ListFaces") from exc
        except (ConnectionError, ReadTimeoutError) as exc:
            raise GatewayBusy(f"rekognition DeleteUser: {type(exc).__name__}", api="DeleteUser") from exc
        logger.info("Rekognition user deleted: its last face went", extra={"rekognition_user_id": user})


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _after_indexing(error: Exception) -> Exception:
    """A CreateUser / AssociateFaces failure: IndexFaces registered a face, which the next attempt finds by
    image (even when this call was refused for its rate before doing anything)."""
    if isinstance(error, GatewayBusy):
        error.may_have_registered = True
    return error


def _user_facts(user: str, response: dict[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = {"rekognition_user_id": user}
    if response.get("UserStatus"):
        facts["user_status"] = response["UserStatus"]
    return facts
