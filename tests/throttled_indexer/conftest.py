"""Fixtures for the throttled indexer and the import-history layer: moto-backed AWS, a history table built
from the shared key schema, a controllable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from handlers.common.history import HistoryStore
from handlers.common.history_schema import GLOBAL_SECONDARY_INDEXES, PARTITION_KEY, SORT_KEY

TABLE_NAME = "import-history"


class FakeClock:
    """A clock the test moves by hand, so leases and time ranges are deterministic."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 21, 6, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def create_history_table(dynamodb):
    """The table as components/throttled_indexer.py declares it (keys and indexes from history_schema)."""
    attributes = {PARTITION_KEY, SORT_KEY}
    indexes = []
    for name, partition, sort in GLOBAL_SECONDARY_INDEXES:
        attributes |= {partition, sort}
        indexes.append(
            {
                "IndexName": name,
                "KeySchema": [
                    {"AttributeName": partition, "KeyType": "HASH"},
                    {"AttributeName": sort, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        )
    return dynamodb.create_table(
        TableName=TABLE_NAME,
        KeySchema=[
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)],
        GlobalSecondaryIndexes=indexes,
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def aws():
    with mock_aws():
        yield


@pytest.fixture
def history_table(aws):
    return create_history_table(boto3.resource("dynamodb", region_name="us-east-1"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def history(history_table, clock) -> HistoryStore:
    return HistoryStore(history_table, clock=clock)
