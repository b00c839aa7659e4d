"""Fixtures of the end-to-end tests: the project's dev stack deployed in the offline runtime, IAM enforced."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from e2e_support import FaceIndex

from offline.deploy import REPO_ROOT
from offline.runtime import OfflineRuntime

# Short waits: the indexer's own back-off (default 60 s base) and botocore's retries would make a test slow
# without testing anything more. AWS_MAX_ATTEMPTS=2: injected gateway faults reach the indexer's own
# retry logic instead of being absorbed by botocore.
FAST_INDEXER = {
    "indexer-function": {"BACKOFF_BASE_SECONDS": "1", "BACKOFF_MAX_SECONDS": "2", "AWS_MAX_ATTEMPTS": "2"}
}

StackFactory = Callable[..., tuple[OfflineRuntime, FaceIndex]]


@pytest.fixture
def dev_stack() -> Iterator[StackFactory]:
    """`dev_stack(rate_per_s=None, config_overrides=None, **runtime_options)` -> (runtime, faces).

    One runtime per test (moto's backends are process-wide); stopped when the test ends."""
    if not (REPO_ROOT / "__main__.py").exists():
        pytest.skip("the Pulumi program is not there yet")
    started: list[OfflineRuntime] = []

    def make(
        rate_per_s: float | None = None, config_overrides: dict[str, Any] | None = None, **options: Any
    ) -> tuple[OfflineRuntime, FaceIndex]:
        options.setdefault("failed_visibility_timeout_s", 1)
        options.setdefault("worker_env", FAST_INDEXER)
        options.setdefault("batch_retry_delays_s", (0.1, 0.2, 0.5))
        options.setdefault("async_retry_delays_s", (0.2, 0.5))
        runtime = OfflineRuntime(**options)
        started.append(runtime)
        runtime.start()
        faces = FaceIndex(runtime, rate_per_s=rate_per_s)
        runtime.set_rekognition_handler(faces)
        runtime.deploy("dev", config_overrides)
        runtime.enforce_iam()
        return runtime, faces

    try:
        yield make
    finally:
        for runtime in started:
            runtime.stop()
