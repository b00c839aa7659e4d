"""Pytest fixtures for the batch qualifier tests (helpers live in qualifier_fixtures.py, a unique name);
`aws` is the suite's (tests/conftest.py)."""

from __future__ import annotations

import pytest
from qualifier_fixtures import Clients, Env


@pytest.fixture
def env(aws: None) -> Env:
    return Env(Clients())
