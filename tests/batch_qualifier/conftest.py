"""Pytest fixtures for the batch qualifier tests (helpers live in qualifier_fixtures.py, a unique name)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws
from qualifier_fixtures import Clients, Env


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def env(aws: None) -> Env:
    return Env(Clients())
