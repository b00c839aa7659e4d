"""The import-history table for tests, built once from the shared key schema
(handlers/common/history_schema.py, the one components/throttled_indexer.py declares the table from), and
its raw items read back. The suite-wide `history_table` fixture (tests/conftest.py) is built with it."""

from __future__ import annotations

from typing import Any

from handlers.common.history_schema import (
    GLOBAL_SECONDARY_INDEXES,
    PARTITION_KEY,
    SORT_KEY,
    object_pk,
    version_sk,
)

TABLE_NAME = "import-history"


def create_history_table(dynamodb: Any, name: str = TABLE_NAME) -> Any:
    """The table as components/throttled_indexer.py declares it (keys and indexes from history_schema), on
    the given boto3 DynamoDB resource (moto's, in tests)."""
    attributes = {PARTITION_KEY, SORT_KEY}
    indexes = []
    for index, partition, sort in GLOBAL_SECONDARY_INDEXES:
        attributes |= {partition, sort}
        indexes.append(
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": partition, "KeyType": "HASH"},
                    {"AttributeName": sort, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        )
    return dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)],
        GlobalSecondaryIndexes=indexes,
        BillingMode="PAY_PER_REQUEST",
    )


def history_item(table: Any, bucket: str, key: str, version_id: str | None) -> dict[str, Any] | None:
    """One object version's item exactly as stored (strongly consistent read), or None."""
    return table.get_item(
        Key={PARTITION_KEY: object_pk(bucket, key), SORT_KEY: version_sk(version_id)}, ConsistentRead=True
    ).get("Item")
