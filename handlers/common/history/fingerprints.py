"""Fingerprints (duplicate bytes): one claim item per user and image SHA-256, naming the object version that
owns it, so the same user's same image stored under two keys is registered once."""

from __future__ import annotations

from botocore.exceptions import ClientError

from handlers.common.contracts import HistoryStatus, ObjectRef
from handlers.common.history.codec import HistoryRecord, fingerprint_key, format_time, record_from_item
from handlers.common.history.table import HistoryError, HistoryTable, is_condition_failure
from handlers.common.history_schema import PARTITION_KEY, SORT_KEY, object_pk, version_sk


def _owner(obj: ObjectRef) -> dict[str, str]:
    """The claim's reference to the object version that holds it."""
    return {"owner_pk": object_pk(obj.bucket, obj.key), "owner_sk": version_sk(obj.version_id)}


class Fingerprints(HistoryTable):
    """The fingerprint claim items."""

    def claim_fingerprint(self, user_id: str, fingerprint: str, obj: ObjectRef) -> HistoryRecord | None:
        """Claim "user `user_id` has the image with SHA-256 `fingerprint`" for one object version.

        Returns None when this object version holds the claim (new, already ours, taken over from an owner
        whose import did not succeed, or from an older version of the same object, which the newer version
        supersedes), or the owner's record when another object of the same user with the same bytes is
        indexed or being indexed: the caller skips as `duplicate`.
        """
        key = fingerprint_key(user_id, fingerprint)
        mine = _owner(obj)
        for attempt in range(5):
            # First try blind (the common case: new bytes for this user); read only after a refusal.
            current = self._get_item(key) if attempt else None
            if current is not None and (current["owner_pk"], current["owner_sk"]) != tuple(mine.values()):
                owner_item = self._get_item(
                    {PARTITION_KEY: current["owner_pk"], SORT_KEY: current["owner_sk"]}
                )
                owner = record_from_item(owner_item) if owner_item else None
                same_key = current["owner_pk"] == mine["owner_pk"]  # another version of the same object
                if (
                    owner is not None
                    and not same_key
                    and (owner.status == HistoryStatus.INDEXED or owner.lease_live(self._clock()))
                ):
                    return owner
                condition = "owner_pk = :old_pk AND owner_sk = :old_sk"
                values = {":old_pk": current["owner_pk"], ":old_sk": current["owner_sk"]}
            else:
                condition = f"attribute_not_exists({PARTITION_KEY}) OR (owner_pk = :pk AND owner_sk = :sk)"
                values = {":pk": mine["owner_pk"], ":sk": mine["owner_sk"]}
            try:
                self.table.put_item(
                    Item={**key, **mine, "claimed_at": format_time(self._clock())},
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                )
                return None
            except ClientError as exc:
                if not is_condition_failure(exc):
                    raise
        raise HistoryError(f"fingerprint claim for user {user_id!r} kept changing under us; retry later")

    def release_fingerprint(self, user_id: str, fingerprint: str, obj: ObjectRef) -> None:
        """Drop the fingerprint claim if this object version holds it (import failed, or deleted)."""
        mine = _owner(obj)
        try:
            self.table.delete_item(
                Key=fingerprint_key(user_id, fingerprint),
                ConditionExpression="owner_pk = :pk AND owner_sk = :sk",
                ExpressionAttributeValues={":pk": mine["owner_pk"], ":sk": mine["owner_sk"]},
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
