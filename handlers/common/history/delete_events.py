"""Delete sequencers: per object key, one delete-events item beside its versions, holding the newest S3 delete
event seen (so an older event never undoes newer state), a delete no history record matched, and a delete
that gave up."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from handlers.common.contracts import HistoryStatus
from handlers.common.history.codec import delete_events_key, failure_partition, format_time
from handlers.common.history.table import HistoryTable, is_condition_failure
from handlers.common.history_schema import FAILURE_ATTRIBUTE, TIME_ATTRIBUTE, TTL_ATTRIBUTE

TIME_SEEN_ATTRIBUTE = "seen_at"
# S3 sequencers are hex strings of varying length (16 and 18 digits in AWS's samples, either case); padded to
# this width they compare as strings.
SEQUENCER_WIDTH = 64
# On the delete-events item: the newest sequencer in the current rule's encoding (`pad_sequencer`), and as S3
# sent it (for people reading the item). Items written before the rule changed hold a left-padded value under
# LEGACY_SEQUENCER_ATTRIBUTE: left-padding lost the value's length (leading zeros of the value and of the
# padding look alike), so it cannot be re-encoded. It is ignored for ordering and removed by the next write;
# the items expire by TTL anyway. Ordering is the second guard only: the deleter acts on S3's liveness
# (HeadObject), the importer reads the image as the current version with the qualified ETag.
SEQUENCER_ORDER_ATTRIBUTE = "sequencer_order"
SEQUENCER_SEEN_ATTRIBUTE = "sequencer_seen"
LEGACY_SEQUENCER_ATTRIBUTE = "sequencer"


def pad_sequencer(sequencer: str) -> str:
    """A key that orders the sequencers of one object key by S3's rule, as plain string comparison.

    S3 User Guide, "Event message structure"
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html): "The
    sequencers can be of different lengths. So, to compare these values, first right pad the shorter value
    with zeros, and then do a lexicographical comparison." (Older revisions said left pad.) Right-padding
    every value to one width does that for any pair; hex digits are compared in one case (samples use both).
    """
    text = sequencer.strip().upper()
    if not text or len(text) > SEQUENCER_WIDTH or any(c not in "0123456789ABCDEF" for c in text):
        raise ValueError(f"not an S3 sequencer (hex, at most {SEQUENCER_WIDTH} digits): {sequencer!r}")
    return text.ljust(SEQUENCER_WIDTH, "0")


class DeleteEvents(HistoryTable):
    """The delete-events items (one per object key)."""

    def note_delete_event(self, bucket: str, key: str, sequencer: str | None) -> tuple[bool, str | None]:
        """Remember the newest S3 delete event seen for a key (its `sequencer`, ordered by `pad_sequencer`).

        Returns (newest, previous): `newest` is False when an event with a greater sequencer was already
        seen, i.e. this event is older than state the history already reflects; `previous` is the newest
        sequencer seen before, as S3 sent it. An event without a sequencer counts as newest (nothing to
        compare it with). A legacy left-padded value on the item does not take part (see
        LEGACY_SEQUENCER_ATTRIBUTE) and is removed, so the item holds one encoding.
        """
        if not sequencer:
            return True, None
        order = pad_sequencer(sequencer)
        now = self._clock()
        try:
            response = self.table.update_item(
                Key=delete_events_key(bucket, key),
                # Expires like other non-success records: every deletion in the image bucket writes one, and
                # its only later use is ordering events that arrive within days of each other.
                UpdateExpression="SET #order = :order, #seen = :seen, #at = :now, #ttl = :ttl REMOVE #legacy",
                ConditionExpression="attribute_not_exists(#order) OR #order <= :order",
                ExpressionAttributeNames={
                    "#order": SEQUENCER_ORDER_ATTRIBUTE,
                    "#seen": SEQUENCER_SEEN_ATTRIBUTE,
                    "#legacy": LEGACY_SEQUENCER_ATTRIBUTE,
                    "#at": TIME_SEEN_ATTRIBUTE,
                    "#ttl": TTL_ATTRIBUTE,
                },
                ExpressionAttributeValues={
                    ":order": order,
                    ":seen": sequencer,
                    ":now": format_time(now),
                    ":ttl": self._expiry(now),
                },
                ReturnValues="UPDATED_OLD",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                item = self._get_item(delete_events_key(bucket, key)) or {}
                return False, item.get(SEQUENCER_SEEN_ATTRIBUTE)
            raise
        return True, response.get("Attributes", {}).get(SEQUENCER_SEEN_ATTRIBUTE)

    def record_unmatched_delete(
        self, bucket: str, key: str, *, readings: Iterable[str], event_id: str | None, sequencer: str | None
    ) -> None:
        """A delete event for which no history record exists under any reading of its key: kept on the key's
        delete-events item (status `deleted`, reason `no-history-record`, the readings tried), so a person
        looking the key up finds what happened. Expires like the item's other facts."""
        now = self._clock()
        sets: dict[str, Any] = {
            "status": HistoryStatus.DELETED.value,
            "reason": "no-history-record",
            "bucket": bucket,
            "object_key": key,
            "key_readings": list(readings),
            TIME_ATTRIBUTE: format_time(now),
            TTL_ATTRIBUTE: self._expiry(now),
        }
        if event_id:
            sets["delete_event_id"] = event_id
        if sequencer:
            sets["delete_sequencer"] = sequencer
        names = {f"#a{i}": name for i, name in enumerate(sets)}
        self.table.update_item(
            Key=delete_events_key(bucket, key),
            UpdateExpression="SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(sets))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={f":a{i}": value for i, value in enumerate(sets.values())},
        )

    def delete_events(self, bucket: str, key: str) -> dict[str, Any] | None:
        """The key's delete-events item as stored (newest sequencer, unmatched delete, delete failure)."""
        return self._get_item(delete_events_key(bucket, key))

    def record_delete_failure(self, bucket: str, key: str, reason: str) -> None:
        """A delete event gave up (it goes to the DLQ): findable with `failures_since` until a later delete
        event for the key succeeds, or it expires like other failures (on the key's delete-events item)."""
        now = self._clock()
        self.table.update_item(
            Key=delete_events_key(bucket, key),
            UpdateExpression="SET #status = :failed, #reason = :reason, #bucket = :bucket, #key = :key, "
            "#failure = :failure, #time = :now, #ttl = :ttl",
            ExpressionAttributeNames={
                "#status": "status",
                "#reason": "reason",
                "#bucket": "bucket",
                "#key": "object_key",
                "#failure": FAILURE_ATTRIBUTE,
                "#time": TIME_ATTRIBUTE,
                "#ttl": TTL_ATTRIBUTE,
            },
            ExpressionAttributeValues={
                ":ttl": self._expiry(now),
                ":failed": HistoryStatus.FAILED.value,
                ":reason": reason[:1000],
                ":bucket": bucket,
                ":key": key,
                ":failure": failure_partition(HistoryStatus.FAILED.value, now),
                ":now": format_time(now),
            },
        )

    def clear_delete_failure(self, bucket: str, key: str) -> None:
        """A delete event for the key succeeded: an earlier failure no longer stands."""
        try:
            self.table.update_item(
                Key=delete_events_key(bucket, key),
                UpdateExpression="SET #status = :deleted REMOVE #failure",
                ConditionExpression="attribute_exists(#failure)",
                ExpressionAttributeNames={"#status": "status", "#failure": FAILURE_ATTRIBUTE},
                ExpressionAttributeValues={":deleted": HistoryStatus.DELETED.value},
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise

    def newest_delete_sequencer(self, bucket: str, key: str) -> str | None:
        """The newest delete event's sequencer seen for a key, padded (`pad_sequencer`), or None. A legacy
        left-padded value is not returned: it cannot be compared under the current rule."""
        item = self._get_item(delete_events_key(bucket, key))
        return item.get(SEQUENCER_ORDER_ATTRIBUTE) if item else None
