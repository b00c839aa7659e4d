"""Suite-wide safety: no test can reach a real AWS account or read the developer's ~/.aws. Also the fixtures
the handler test folders share: moto (`aws`) and the import-history table (`history_table`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.history_fixtures import create_history_table

_FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
    # Powertools: no X-Ray daemon here; metrics need a namespace.
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "BulkLoaderTest",
    "POWERTOOLS_SERVICE_NAME": "bulk-loader-test",
}
for _name, _value in _FAKE_AWS_ENV.items():
    os.environ[_name] = _value
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(autouse=True)
def _fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Re-assert the fake credentials for every test, whatever an earlier test changed."""
    for name, value in _FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


# ------------------------------------------------------------------ fixtures the handler test folders share
@pytest.fixture
def aws() -> Iterator[None]:
    """moto for every AWS service, for one test."""
    with mock_aws():
        yield


@pytest.fixture
def history_table(aws: None) -> Any:
    """An empty import-history table in moto (tests/history_fixtures.py)."""
    return create_history_table(boto3.resource("dynamodb", region_name="us-east-1"))
