"""Pytest fixtures of the indexer tests; the helpers they use live in indexer_fixtures.py (a unique name:
`from conftest import ...` is ambiguous across test directories). `aws` and `history_table` are the suite's
(tests/conftest.py)."""

from __future__ import annotations

import json

import boto3
import pytest
from indexer_fixtures import MAX_RECEIVES, FakeClock, FakeFaceIndex, create_image_buckets

from handlers.common.history import HistoryStore


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def history(history_table, clock) -> HistoryStore:
    return HistoryStore(history_table, clock=clock)


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", region_name="us-east-1")
    create_image_buckets(client)
    return client


@pytest.fixture
def face_index() -> FakeFaceIndex:
    return FakeFaceIndex()


@pytest.fixture
def deleter(s3, history, face_index, clock):
    from handlers.throttled_indexer.deleter import Deleter

    return Deleter(s3=s3, history=history, gateway=face_index, clock=clock)


@pytest.fixture
def make_importer(s3, history, face_index, clock):
    """Builds Importers on this test's S3, history, face index and clock, images up to 1 MB; keyword
    arguments replace or add Importer arguments (another gateway, a spy on the history, `before_finish`)."""
    from handlers.throttled_indexer.importer import Importer

    def make(**arguments):
        wiring = {
            "s3": s3,
            "history": history,
            "gateway": face_index,
            "max_image_bytes": 10**6,
            "clock": clock,
        }
        return Importer(**(wiring | arguments))

    return make


@pytest.fixture
def importer(make_importer, deleter):
    """Wired as bootstrap.build_runner wires it (older versions retired by the deleter)."""
    return make_importer(retire_superseded=deleter.retire_superseded)


@pytest.fixture
def queues(aws):
    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq_url = sqs.create_queue(QueueName="indexer-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName="indexer-input",
        Attributes={
            "VisibilityTimeout": "60",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)}
            ),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return sqs, url, arn, dlq_url
