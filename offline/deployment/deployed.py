"""What a deployment into the emulator produced: every resource created (by URN, with inputs and outputs), and
the functions and SQS event source mappings the runtime runs from them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offline.deployment.resources import CreatedResource


@dataclass(frozen=True)
class FunctionSpec:
    """A deployed Lambda function as the workers need it."""

    name: str
    arn: str
    handler: str
    runtime: str
    role_arn: str
    timeout_s: int
    memory_mb: int
    environment: dict[str, str]
    code_dir: Path
    deps_from_venv: tuple[str, ...]
    """Top-level archive entries taken from site-packages (the archive's are for Lambda)."""
    reserved_concurrency: int | None
    on_failure: str | None
    on_success: str | None
    maximum_retry_attempts: int
    urn: str
    log_group: str | None = None
    """The loggingConfig log group, when the function names one (else Lambda's /aws/lambda/<name>)."""


@dataclass(frozen=True)
class MappingSpec:
    """An SQS event source mapping."""

    uuid: str
    function_name: str
    queue_arn: str
    batch_size: int
    maximum_concurrency: int | None
    report_batch_item_failures: bool
    batching_window_s: int
    enabled: bool


@dataclass
class Deployment:
    stack: str
    project: str
    outputs: dict[str, Any]
    resources: list[CreatedResource]
    not_created: list[dict[str, str]] = field(default_factory=list)
    """Resources the emulator could not create: {urn, type, name, reason}."""
    warnings: list[str] = field(default_factory=list)

    def by_type(self, type_suffix: str) -> list[CreatedResource]:
        return [r for r in self.resources if r.type.endswith(type_suffix)]

    def get(self, type_suffix: str, name: str) -> CreatedResource:
        for resource in self.by_type(type_suffix):
            if resource.name == name:
                return resource
        raise KeyError(f"no {type_suffix} named {name!r} in the deployment")

    @property
    def functions(self) -> dict[str, FunctionSpec]:
        configs = {
            _function_name(r.inputs["functionName"]): r.inputs
            for r in self.by_type("lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
        }
        specs = {}
        for resource in self.by_type("lambda/function:Function"):
            out = resource.outputs
            config = configs.get(out["name"], {})
            destination = _first(config.get("destinationConfig")) or {}
            specs[out["name"]] = FunctionSpec(
                name=out["name"],
                arn=out["arn"],
                handler=out["handler"],
                runtime=out.get("runtime", "python3.12"),
                role_arn=out["role"],
                timeout_s=int(out.get("timeout") or 3),
                memory_mb=int(out.get("memorySize") or 128),
                environment=dict((_first(out.get("environment")) or {}).get("variables") or {}),
                code_dir=Path(resource.extra["code_dir"]),
                deps_from_venv=tuple(resource.extra.get("deps_from_venv", ())),
                reserved_concurrency=(
                    int(out["reservedConcurrentExecutions"])
                    if out.get("reservedConcurrentExecutions") is not None
                    and int(out["reservedConcurrentExecutions"]) >= 0
                    else None
                ),
                on_failure=(_first(destination.get("onFailure")) or {}).get("destination"),
                on_success=(_first(destination.get("onSuccess")) or {}).get("destination"),
                maximum_retry_attempts=int(config.get("maximumRetryAttempts", 2)),
                urn=resource.urn,
                log_group=(_first(out.get("loggingConfig")) or {}).get("logGroup"),
            )
        return specs

    @property
    def mappings(self) -> list[MappingSpec]:
        result = []
        for resource in self.by_type("lambda/eventSourceMapping:EventSourceMapping"):
            inputs = resource.inputs
            scaling = _first(inputs.get("scalingConfig")) or {}
            result.append(
                MappingSpec(
                    uuid=resource.id,
                    function_name=_function_name(inputs["functionName"]),
                    queue_arn=inputs["eventSourceArn"],
                    batch_size=int(inputs.get("batchSize") or 10),
                    maximum_concurrency=(
                        int(scaling["maximumConcurrency"]) if scaling.get("maximumConcurrency") else None
                    ),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (inputs.get("functionResponseTypes") or []),
                    batching_window_s=int(inputs.get("maximumBatchingWindowInSeconds") or 0),
                    enabled=bool(inputs.get("enabled", True)),
                )
            )
        return result

    @property
    def notifications(self) -> list[dict[str, Any]]:
        """Bucket notification configurations: bucket, topics/queues/lambda functions, eventbridge."""
        return [
            {
                "bucket": r.inputs["bucket"],
                "topics": list(r.inputs.get("topics") or []),
                "queues": list(r.inputs.get("queues") or []),
                "lambda_functions": list(r.inputs.get("lambdaFunctions") or []),
                "eventbridge": bool(r.inputs.get("eventbridge")),
            }
            for r in self.by_type("s3/bucketNotification:BucketNotification")
        ]

    @property
    def rules(self) -> list[dict[str, Any]]:
        """EventBridge rules with their pattern and target ARNs."""
        targets: dict[str, list[str]] = {}
        for target in self.by_type("cloudwatch/eventTarget:EventTarget"):
            targets.setdefault(target.inputs["rule"], []).append(target.inputs["arn"])
        return [
            {
                "name": r.outputs["name"],
                "arn": r.outputs["arn"],
                "event_pattern": json.loads(r.inputs["eventPattern"])
                if r.inputs.get("eventPattern")
                else None,
                "targets": targets.get(r.outputs["name"], []) + targets.get(r.outputs["arn"], []),
            }
            for r in self.by_type("cloudwatch/eventRule:EventRule")
        ]

    def summary(self) -> str:
        lines = [f"stack {self.stack}: {len(self.resources)} resources created in the emulator"]
        for item in self.not_created:
            lines.append(f"  NOT CREATED {item['type']} {item['name']}: {item['reason']}")
        lines.extend(f"  WARNING {w}" for w in self.warnings)
        return "\n".join(lines)


def _first(value: Any) -> Any:
    return (value[0] if value else None) if isinstance(value, list) else value


def _function_name(name_or_arn: str) -> str:
    """`my-fn`, `arn:aws:lambda:r:a:function:my-fn` or `...:function:my-fn:alias` -> `my-fn`."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn.split(":")[6]
    return name_or_arn
