"""All deployed functions' pools, found by function name or ARN, and the environment each worker sees."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from offline.deployment.deployed import FunctionSpec
from offline.lambda_runtime.pool import FunctionPool


def worker_environment(
    spec: FunctionSpec,
    endpoint: str,
    credentials: dict[str, str],
    region: str,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Exactly what a worker sees: the deployed environment plus what Lambda itself sets."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        # Lambda's reserved variables.
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"offline/{spec.name}",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "_HANDLER": spec.handler,
        # The function's own role, and every AWS call through the offline front door.
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
        "AWS_ENDPOINT_URL": endpoint,
        # Never the developer's ~/.aws, never an instance metadata service.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    env.update(spec.environment)
    # No X-Ray daemon offline: tracing would only log "cannot send segment" errors (deployed value wins).
    env.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    env.update(extra or {})
    return env


class Workers:
    """All functions' pools; invocations by function name or ARN."""

    def __init__(
        self,
        log_dir: Path,
        max_local_workers: int = 4,
        async_retry_delays_s: tuple[float, ...] = (1.0, 2.0),
    ) -> None:
        self.log_dir = log_dir
        self.max_local_workers = max_local_workers
        self.async_retry_delays_s = async_retry_delays_s
        self.pools: dict[str, FunctionPool] = {}

    def add(
        self,
        spec: FunctionSpec,
        env: dict[str, str],
        send_to_destination: Callable[[str, dict[str, Any]], None],
        ship_logs: Callable[[FunctionSpec, list[str]], None] | None = None,
    ) -> FunctionPool:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        pool = FunctionPool(
            spec,
            env,
            self.log_dir / f"{spec.name}.log",
            self.max_local_workers,
            send_to_destination,
            self.async_retry_delays_s,
            ship_logs,
        )
        self.pools[spec.name] = pool
        return pool

    def pool(self, name_or_arn: str) -> FunctionPool:
        name = name_or_arn
        if name.startswith("arn:"):
            parts = name.split(":")
            if len(parts) > 7 and parts[7] not in ("$LATEST",):
                raise KeyError(f"function {name_or_arn}: only $LATEST runs offline")
            name = parts[6]
        try:
            return self.pools[name]
        except KeyError:
            raise KeyError(f"Function not found: {name_or_arn}") from None

    @property
    def busy(self) -> bool:
        return any(pool.busy for pool in self.pools.values())

    def stats(self) -> dict[str, dict[str, Any]]:
        return {name: pool.stats.as_dict() for name, pool in self.pools.items()}

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()
