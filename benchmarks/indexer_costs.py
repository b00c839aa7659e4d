"""AWS requests per message outcome of the throttled indexer (what one image costs in S3 / DynamoDB calls),
counted on moto with botocore's request events; the baseline is the bare minimum any indexer needs for a new
image (read the image, write one history item), measured in the same run. Gateway calls are counted too
(`gateway:register`, `gateway:find`): a normal import never looks up; the redelivery after a worker died
between the gateway call and the history write looks up once and does not register again.

Run: .venv/bin/python -m benchmarks.indexer_costs
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from datetime import UTC, datetime, timedelta

os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")  # the recovery warning would clutter the table

import boto3
from moto import mock_aws

from handlers.common.contracts import DeleteMessage, ImportMessage, ObjectRef
from handlers.common.history import HistoryStore
from handlers.throttled_indexer.deleter import Deleter
from handlers.throttled_indexer.gateway import Registration
from handlers.throttled_indexer.importer import Importer
from handlers.throttled_indexer.outcome import Attempt
from tests.history_fixtures import create_history_table


class _Gateway:
    name = "bench"
    needs_bytes = False
    registers_per_image = True

    def __init__(self, calls: Counter[str] | None = None) -> None:
        self.n = 0
        self.calls = calls if calls is not None else Counter()
        self.by_version: dict[tuple[str, str | None], tuple[str, ...]] = {}

    def register(self, request):
        self.calls["gateway:register"] += 1
        self.n += 1
        self.by_version[(request.obj.key, request.obj.version_id)] = (f"f{self.n}",)
        return Registration(face_ids=(f"f{self.n}",))

    def find_registration(self, request):
        self.calls["gateway:find"] += 1
        faces = self.by_version.get((request.obj.key, request.obj.version_id))
        return Registration(face_ids=faces) if faces else None

    def deregister(self, user_id, face_ids, image_id):
        pass


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
        table = create_history_table(session.resource("dynamodb"))
        s3.create_bucket(Bucket="images")
        s3.put_bucket_versioning(Bucket="images", VersioningConfiguration={"Status": "Enabled"})
        now = [datetime.now(UTC)]
        history = HistoryStore(table, clock=lambda: now[0])
        gateway = _Gateway(calls)
        importer = Importer(
            s3=s3, history=history, gateway=gateway, max_image_bytes=10**7, clock=lambda: now[0]
        )
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

        class WorkerDied(BaseException):
            pass

        def die(_obj) -> None:
            raise WorkerDied

        c = put("c.jpg", b"\xff\xd8c" * 1000)
        crashing = Importer(
            s3=s3,
            history=history,
            gateway=gateway,
            max_image_bytes=10**7,
            clock=lambda: now[0],
            before_finish=die,
        )

        def crash() -> None:
            with contextlib.suppress(WorkerDied):
                crashing.process(ImportMessage(object=c, user_id="u", run_id="r"), attempt)

        measure("died after the gateway call", crash)
        now[0] += timedelta(seconds=attempt.lease_seconds + 1)
        measure(
            "redelivered after the crash",
            lambda: importer.process(ImportMessage(object=c, user_id="u", run_id="r"), attempt),
        )
        s3.delete_object(Bucket="images", Key="a.jpg")
        measure(
            "delete event",
            lambda: deleter.process(
                DeleteMessage(object=ObjectRef(bucket="images", key="a.jpg", sequencer="01"))
            ),
        )
        aws_calls = sum(n for name, n in indexed.items() if not name.startswith("gateway:"))
        print(f"indexed / baseline AWS calls: {aws_calls / sum(baseline.values()):.1f}x")


if __name__ == "__main__":
    main()
