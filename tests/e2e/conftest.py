"""Fixtures of the end-to-end tests: the project's dev stack deployed in the offline runtime, IAM enforced."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from e2e_support import FAST_INDEXER, make_rekognition

from offline.deployment.program import REPO_ROOT, read_stack_config
from offline.gateways.rekognition import EmulatedRekognition
from offline.runtime import OfflineRuntime

StackFactory = Callable[..., tuple[OfflineRuntime, EmulatedRekognition]]


@pytest.fixture
def dev_stack() -> Iterator[StackFactory]:
    """`dev_stack(config_overrides=None, rekognition={EmulatedRekognition options}, **runtime_options)`
    -> (runtime, the emulated Rekognition), IAM enforced.

    One runtime per test (moto's backends are process-wide); stopped when the test ends."""
    if not (REPO_ROOT / "__main__.py").exists():
        pytest.skip("the Pulumi program is not there yet")
    started: list[OfflineRuntime] = []

    def make(
        config_overrides: dict[str, Any] | None = None,
        rekognition: dict[str, Any] | None = None,
        **options: Any,
    ) -> tuple[OfflineRuntime, EmulatedRekognition]:
        options.setdefault("failed_visibility_timeout_s", 1)
        options.setdefault("worker_env", FAST_INDEXER)
        options.setdefault("batch_retry_delays_s", (0.1, 0.2, 0.5))
        options.setdefault("async_retry_delays_s", (0.2, 0.5))
        runtime = OfflineRuntime(**options)
        started.append(runtime)
        runtime.start()
        region = read_stack_config(REPO_ROOT, "dev", config_overrides)[1].get("aws:region", runtime.region)
        faces = make_rekognition(runtime, region=region, **(rekognition or {}))
        runtime.set_rekognition_handler(faces)
        runtime.deploy("dev", config_overrides)
        runtime.enforce_iam()
        return runtime, faces

    try:
        yield make
    finally:
        for runtime in started:
            runtime.stop()
