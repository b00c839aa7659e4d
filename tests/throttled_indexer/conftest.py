"""Pytest fixtures of the indexer tests; the helpers they use live in indexer_fixtures.py (a unique name:
`from conftest import ...` is ambiguous across test directories)."""

from __future__ import annotations

import json

import boto3
import pytest
from indexer_fixtures import (
    IMAGE_BUCKET,
    MAX_RECEIVES,
    QUARANTINE_BUCKET,
    FakeClock,
    FakeFaceIndex,
    create_history_table,
)
from moto import mock_aws

from handlers.common.history import HistoryStore


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


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=IMAGE_BUCKET)
    client.put_bucket_versioning(Bucket=IMAGE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    client.create_bucket(Bucket=QUARANTINE_BUCKET)
    client.create_bucket(Bucket="flat")  # unversioned
    return client


@pytest.fixture
def face_index() -> FakeFaceIndex:
    return FakeFaceIndex()


@pytest.fixture
def deleter(s3, history, face_index, clock):
    from handlers.throttled_indexer.deleter import Deleter

    return Deleter(s3=s3, history=history, gateway=face_index, clock=clock)


@pytest.fixture
def importer(s3, history, face_index, clock, deleter):
    """Wired as bootstrap.build_runner wires it (older versions retired by the deleter)."""
    from handlers.throttled_indexer.importer import Importer

    return Importer(
        s3=s3,
        history=history,
        gateway=face_index,
        max_image_bytes=1_000_000,
        clock=clock,
        retire_superseded=deleter.retire_superseded,
    )


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
