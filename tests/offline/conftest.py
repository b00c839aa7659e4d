"""Fixtures for the offline runtime tests: a runtime with the tiny test program deployed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from offline.runtime import OfflineRuntime

TINY_PROGRAM = Path(__file__).parent / "programs" / "tiny"


def make_runtime(**kwargs) -> OfflineRuntime:
    """Fast retries: the tests check the semantics, not AWS's delays."""
    options = {
        "program_dir": TINY_PROGRAM,
        "batch_retry_delays_s": (0.05, 0.1, 0.2),
        "async_retry_delays_s": (0.1, 0.1),
        "max_local_workers": 3,
    }
    options.update(kwargs)
    return OfflineRuntime(**options)


@pytest.fixture(scope="module")
def tiny() -> Iterator[OfflineRuntime]:
    """One runtime per test module (moto's backends are process-wide, so modules run one after another)."""
    runtime = make_runtime()
    runtime.start()
    try:
        runtime.deploy("test")
        yield runtime
    finally:
        runtime.stop()


def wait_for(condition: Callable[[], object], timeout_s: float = 20.0, what: str = "condition") -> object:
    """Poll until `condition()` is truthy; fail the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.1)
