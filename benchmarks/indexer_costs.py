"""AWS requests per message outcome of the throttled indexer (what one image costs in S3 / DynamoDB calls),
counted on moto with botocore's request events; the baseline is the bare minimum any indexer needs for a new
image (read the image, write one history item), measured in the same run.

Run: .venv/bin/python -m benchmarks.indexer_costs
"""

from __future__ import annotations

import os
from collections import Counter

os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3
from moto import mock_aws

from handlers.common.contracts import DeleteMessage, ImportMessage, ObjectRef
from handlers.common.history import HistoryStore
from handlers.common.history_schema import GLOBAL_SECONDARY_INDEXES
from handlers.throttled_indexer.deleter import Deleter
from handlers.throttled_indexer.gateway import Registration
from handlers.throttled_indexer.importer import Importer
from handlers.throttled_indexer.outcome import Attempt


class _Gateway:
    name = "bench"
    needs_bytes = False

    def __init__(self) -> None:
        self.n = 0

    def register(self, request):
        self.n += 1
        return Registration(face_ids=(f"f{self.n}",))

    def deregister(self, user_id, face_ids, image_id):
        pass


def _table(dynamodb):
    attributes = {"pk", "sk"} | {a for _, p, s in GLOBAL_SECONDARY_INDEXES for a in (p, s)}
    return dynamodb.create_table(
        TableName="history",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)],
        GlobalSecondaryIndexes=[
            {
                "IndexName": n,
                "KeySchema": [
                    {"AttributeName": p, "KeyType": "HASH"},
                    {"AttributeName": s, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for n, p, s in GLOBAL_SECONDARY_INDEXES
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def main() -> None:
    calls: Counter[str] = Counter()

    def count(event_name: str, **_kw) -> None:
        # event name: before-call.<service>.<Operation>
        _, service, operation = event_name.split(".", 2)
        calls[f"{service}:{operation}"] += 1

    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        session.events.register("before-call.*.*", count)
        s3 = session.client("s3")
        table = _table(session.resource("dynamodb"))
        s3.create_bucket(Bucket="images")
        s3.put_bucket_versioning(Bucket="images", VersioningConfiguration={"Status": "Enabled"})
        history = HistoryStore(table)
        importer = Importer(s3=s3, history=history, gateway=_Gateway(), max_image_bytes=10**7)
        deleter = Deleter(s3=s3, history=history, gateway=_Gateway())
        attempt = Attempt(receive_count=1, max_receive_count=5, lease_seconds=900)

        def put(key: str, data: bytes) -> ObjectRef:
            r = s3.put_object(Bucket="images", Key=key, Body=data)
            return ObjectRef(bucket="images", key=key, version_id=r["VersionId"], etag=r["ETag"].strip('"'))

        def measure(label: str, action) -> Counter[str]:
            calls.clear()
            action()
            result = Counter(calls)
            print(
                f"{label:<28} {sum(result.values()):>3}  "
                + ", ".join(f"{k}={v}" for k, v in sorted(result.items()))
            )
            return result

        a = put("a.jpg", b"\xff\xd8a" * 1000)
        b = put("b.jpg", b"\xff\xd8a" * 1000)
        print(f"{'outcome':<28} {'calls':>3}  by operation")
        baseline = measure(
            "baseline (read + 1 write)",
            lambda: (
                s3.get_object(Bucket="images", Key="a.jpg")["Body"].read(),
                table.put_item(Item={"pk": "x", "sk": "y"}),
            ),
        )
        indexed = measure(
            "indexed", lambda: importer.process(ImportMessage(object=a, user_id="u", run_id="r"), attempt)
        )
        measure(
            "redelivered (already indexed)",
            lambda: importer.process(ImportMessage(object=a, user_id="u", run_id="r"), attempt),
        )
        measure(
            "duplicate bytes",
            lambda: importer.process(ImportMessage(object=b, user_id="u", run_id="r"), attempt),
        )
        s3.delete_object(Bucket="images", Key="a.jpg")
        measure(
            "delete event",
            lambda: deleter.process(
                DeleteMessage(object=ObjectRef(bucket="images", key="a.jpg", sequencer="01"))
            ),
        )
        print(f"indexed / baseline calls: {sum(indexed.values()) / sum(baseline.values()):.1f}x")


if __name__ == "__main__":
    main()
