"""DynamoDB's conditional writes are atomic per item; the offline runtime's moto must be too.

The real-stack test once lost an image: the qualifier's `record_queued` and the indexer's `claim` on the same
new item both passed their conditions in moto (threaded server, no per-item atomicity), the queued write
removed the claim token and the indexer, having lost its claim, finished the message as superseded.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter

import pytest
from botocore.exceptions import ClientError

from offline.runtime import OfflineRuntime

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

THREADS = 6
KEYS = 40


@pytest.fixture
def eager_thread_switching():
    """Switch threads every microsecond (default 5 ms) so a check-then-write gap in moto shows up."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_concurrent_conditional_creates_of_one_item_have_one_winner(eager_thread_switching):
    with OfflineRuntime() as runtime:
        dynamodb = runtime.client("dynamodb", max_attempts=1)
        dynamodb.create_table(
            TableName="atomic",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        clients = [runtime.client("dynamodb", max_attempts=1) for _ in range(THREADS)]
        winners: Counter[str] = Counter()
        errors: list[str] = []
        lock = threading.Lock()
        start = threading.Barrier(THREADS)

        def race(worker: int) -> None:
            start.wait()
            for n in range(KEYS):
                try:
                    clients[worker].update_item(
                        TableName="atomic",
                        Key={"pk": {"S": f"item-{n}"}},
                        UpdateExpression="SET #owner = :me, #a = :me, #b = :me, #c = :me",
                        ConditionExpression="attribute_not_exists(pk)",
                        ExpressionAttributeNames={"#owner": "owner", "#a": "a", "#b": "b", "#c": "c"},
                        ExpressionAttributeValues={":me": {"S": str(worker)}},
                    )
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                        with lock:
                            errors.append(str(exc))
                    continue
                with lock:
                    winners[f"item-{n}"] += 1

        threads = [threading.Thread(target=race, args=(worker,)) for worker in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert winners == dict.fromkeys((f"item-{n}" for n in range(KEYS)), 1)
        # And the item is one writer's, whole: no attribute from a loser.
        for n in range(KEYS):
            item = dynamodb.get_item(TableName="atomic", Key={"pk": {"S": f"item-{n}"}})["Item"]
            assert len({item[name]["S"] for name in ("owner", "a", "b", "c")}) == 1, item
