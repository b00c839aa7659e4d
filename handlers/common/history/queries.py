"""The history queries of ARCHITECTURE section 4: by object, by run and time range, by user (and the faces
that make up a user), failures since a time. Results stream page by page, never one big list."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Key

from handlers.common.contracts import HistoryStatus
from handlers.common.history.codec import (
    FAILURE_STATUSES,
    HistoryRecord,
    failure_partition,
    format_time,
    record_from_item,
)
from handlers.common.history.table import HistoryTable
from handlers.common.history_schema import (
    BY_RUN_INDEX,
    BY_USER_INDEX,
    FAILURE_ATTRIBUTE,
    FAILURES_INDEX,
    PARTITION_KEY,
    RUN_ATTRIBUTE,
    SORT_KEY,
    TIME_ATTRIBUTE,
    USER_ATTRIBUTE,
    object_pk,
)


class HistoryQueries(HistoryTable):
    """Reads of many records (one record: `HistoryTable.get`)."""

    def by_object(self, bucket: str, key: str) -> Iterator[HistoryRecord]:
        """Every recorded version of one object."""
        condition = Key(PARTITION_KEY).eq(object_pk(bucket, key)) & Key(SORT_KEY).begins_with("v#")
        for item in self._query(KeyConditionExpression=condition, ConsistentRead=True):
            yield record_from_item(item)

    def by_run(
        self, run_id: str, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[HistoryRecord]:
        """Records of one run (inventory run / batch job), last updated within [since, until]."""
        condition = Key(RUN_ATTRIBUTE).eq(run_id) & _time_range(since, until)
        for item in self._query(IndexName=BY_RUN_INDEX, KeyConditionExpression=condition):
            yield record_from_item(item)

    def by_user(
        self, user_id: str, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[HistoryRecord]:
        condition = Key(USER_ATTRIBUTE).eq(user_id) & _time_range(since, until)
        for item in self._query(IndexName=BY_USER_INDEX, KeyConditionExpression=condition):
            yield record_from_item(item)

    def faces_of_user(self, user_id: str) -> Iterator[tuple[str, HistoryRecord]]:
        """Which faces make up user `user_id`: each face id registered for it, with the indexed record (object
        version) it came from. rekognitionMode faces: the faces carrying the user's ExternalImageId; mode
        users: the faces associated with its Rekognition user (`details.rekognition_user_id`). An HTTP
        gateway records no face ids, so its users have none here."""
        for record in self.by_user(user_id):
            if record.status == HistoryStatus.INDEXED:
                for face_id in record.face_ids:
                    yield face_id, record

    def failures_since(self, since: datetime, until: datetime | None = None) -> Iterator[HistoryRecord]:
        """invalid / failed records updated within [since, until], oldest day first."""
        until = until or self._clock()
        if since > until:
            return
        day = since.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        while day <= until:
            for status in sorted(s.value for s in FAILURE_STATUSES):
                condition = Key(FAILURE_ATTRIBUTE).eq(failure_partition(status, day)) & _time_range(
                    since, until
                )
                for item in self._query(IndexName=FAILURES_INDEX, KeyConditionExpression=condition):
                    yield record_from_item(item)
            day += timedelta(days=1)

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Page through a query lazily: results stream, never one big list."""
        while True:
            response = self.table.query(**kwargs)
            yield from response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last


def _time_range(since: datetime | None, until: datetime | None):
    low = format_time(since) if since else "0"
    high = format_time(until) if until else "9"
    return Key(TIME_ATTRIBUTE).between(low, high)
