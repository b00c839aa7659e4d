"""Fixtures for inventory_created: moto S3 with the inventory and manifest buckets, stubbed clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from inventory_fixtures import INVENTORY_BUCKET, MANIFEST_BUCKET, REGION, StubbedClient
from moto import mock_aws


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=INVENTORY_BUCKET)
        client.create_bucket(Bucket=MANIFEST_BUCKET)
        yield client


@pytest.fixture
def s3control() -> StubbedClient:
    return StubbedClient("s3control", "create_job", {"JobId": "job-0001"})


@pytest.fixture
def lambda_client() -> StubbedClient:
    return StubbedClient("lambda", "invoke", {"StatusCode": 202})
