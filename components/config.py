"""The stack configuration: every `bulk-loader:*` key, validated by one pydantic model.

Read with `load_config()` (from `pulumi.Config("bulk-loader")`); any invalid value raises `ConfigError`
naming the key (`bulk-loader:<key>[.<field>]`) and what is allowed. Every decision that creates or omits a
resource is taken from these plain values, never from a Pulumi `Output`. The sections (one per component)
are in components/sections.py; the rules across sections in `StackConfig._cross_checks`.

The README's `configuration` section is the reference table for these keys (`python -m components.reference`).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, ValidationError, model_validator

from handlers.common.shared_settings import (
    REKOGNITION_MAX_IMAGE_BYTES,
    FileSuffixes,
    HistoryTtlSettings,
    ImageSettings,
)

from .sections import (
    LAMBDA_UNRESERVED_MINIMUM,
    NAMESPACE,
    SECTION_CONFIG,
    BatchQualifierSettings,
    ImageBucketSettings,
    InventoryPipelineSettings,
    LambdaSettings,
    SharedSettings,
    ThrottledIndexerSettings,
    from_model,
)


class ConfigError(ValueError):
    """The stack configuration is invalid; the message names every offending key."""


class StackConfig(
    from_model(ImageSettings, "image_suffixes", image_suffixes=FileSuffixes),  # type: ignore[misc]  # see sections.py
    from_model(HistoryTtlSettings, "history_ttl_days"),  # type: ignore[misc]
):
    """All `bulk-loader:*` keys of one stack."""

    model_config = SECTION_CONFIG

    lambda_: LambdaSettings = Field(default_factory=LambdaSettings, alias="lambda")
    """Settings shared by every function (object)."""
    image_bucket: ImageBucketSettings = Field(default_factory=ImageBucketSettings)
    """The image bucket: created, or an existing one by name (object)."""
    inventory_pipeline: InventoryPipelineSettings = Field(default_factory=InventoryPipelineSettings)
    """InventoryPipeline settings (object)."""
    batch_qualifier: BatchQualifierSettings = Field(default_factory=BatchQualifierSettings)
    """BatchQualifier settings (object)."""
    throttled_indexer: ThrottledIndexerSettings = Field(default_factory=ThrottledIndexerSettings)
    """ThrottledIndexer settings (object)."""

    @model_validator(mode="after")
    def _cross_checks(self) -> StackConfig:
        """Rules across sections (each section checks its own in its validator)."""
        problems: list[str] = []
        ti, bq, ip = self.throttled_indexer, self.batch_qualifier, self.inventory_pipeline
        if not ti.enabled and bq.enabled and not (ti.queue_arn and ti.queue_url):
            problems.append(
                f"{NAMESPACE}:throttledIndexer.queueArn and queueUrl: required when throttledIndexer.enabled "
                "is false and batchQualifier is enabled (the queue the qualifier sends to)"
            )
        if ip.enabled and not bq.enabled and not bq.function_arn:
            problems.append(
                f"{NAMESPACE}:batchQualifier.functionArn: required when batchQualifier.enabled is false and "
                "inventoryPipeline is enabled (the function S3 Batch Operations invokes)"
            )
        if not (ip.enabled or bq.enabled or ti.enabled):
            problems.append(f"{NAMESPACE}: every component is disabled; enable at least one")
        elif self.image_bucket.name is None and not ip.enabled:
            problems.append(
                f"{NAMESPACE}:imageBucket.name: required when inventoryPipeline is disabled (only that "
                "component creates the image bucket)"
            )
        if ti.enable_bucket_eventbridge and not ip.enabled:
            problems.append(
                f"{NAMESPACE}:throttledIndexer.enableBucketEventbridge: only with inventoryPipeline enabled "
                "(the image bucket's owner in this stack, the one resource writing its notification "
                "configuration); without it the bucket's owner turns EventBridge on"
            )
        if ti.gateway == "rekognition" and ip.max_image_bytes > REKOGNITION_MAX_IMAGE_BYTES:
            problems.append(
                f"{NAMESPACE}:inventoryPipeline.maxImageBytes: at most {REKOGNITION_MAX_IMAGE_BYTES} "
                "(15 MiB, Rekognition's S3 image limit) with gateway 'rekognition'"
            )
        reserved = self.reserved_concurrency
        limit = self.lambda_.account_concurrency_limit
        available = max(limit - LAMBDA_UNRESERVED_MINIMUM, 0)
        if sum(reserved.values()) > available:
            settings = " + ".join(f"{key} ({value})" for key, value in reserved.items())
            problems.append(
                f"{NAMESPACE}:{settings}: the stack reserves {sum(reserved.values())} concurrent executions, "
                f"but an account with lambda.accountConcurrencyLimit {limit} can reserve at most {available} "
                f"(Lambda keeps {LAMBDA_UNRESERVED_MINIMUM} unreserved): lower the setting, or request a "
                "higher 'Concurrent executions' quota (Service Quotas, AWS Lambda) and set "
                "lambda.accountConcurrencyLimit to it"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -------------------------------------------------------------------------------- derived values
    @property
    def reserved_concurrency(self) -> dict[str, int]:
        """Reserved concurrency of each function the stack deploys, by the setting that decides it."""
        reserved = {}
        if self.batch_qualifier.enabled:
            reserved["batchQualifier.reservedConcurrency"] = self.batch_qualifier.reserved_concurrency
        return reserved

    @property
    def gateway_rates(self) -> dict[str, float]:
        return self.throttled_indexer.gateway_rates

    @property
    def shared(self) -> SharedSettings:
        """The settings more than one function reads, for the components."""
        return SharedSettings(
            image_suffixes=self.image_suffixes,
            history_ttl_days=self.history_ttl_days,
            max_image_bytes=self.inventory_pipeline.max_image_bytes,
        )

    @property
    def max_image_bytes(self) -> int:
        return self.inventory_pipeline.max_image_bytes

    @property
    def create_image_bucket(self) -> bool:
        return self.image_bucket.name is None

    @property
    def bucket_eventbridge(self) -> bool:
        ti = self.throttled_indexer
        if ti.enable_bucket_eventbridge is not None:
            return ti.enable_bucket_eventbridge
        # Deletions (throttledIndexer) and tag changes (batchQualifier) both arrive through EventBridge.
        tag_events = self.batch_qualifier.enabled and self.batch_qualifier.tag_events
        return self.create_image_bucket and (ti.delete_events or tag_events)


def _printable(text: str) -> str:
    """Key names as typed, but control characters escaped so one problem stays on one line."""
    return text if text.isprintable() else repr(text)


def _format_errors(error: ValidationError) -> str:
    lines: list[str] = []
    for item in error.errors(include_url=False):
        loc = [_printable(str(p)) for p in item["loc"]]
        message = item["msg"].removeprefix("Value error, ")
        if not loc or message.startswith(f"{NAMESPACE}:"):  # a rule's message names its keys itself
            lines.extend(part.strip() for part in message.split("; "))
            continue
        key = f"{NAMESPACE}:{loc[0]}" + "".join(f".{p}" if not p.isdigit() else f"[{p}]" for p in loc[1:])
        if item["type"] == "extra_forbidden":
            message = "unknown setting"
        value = item.get("input")
        scalar = isinstance(value, str | int | float | bool)
        got = f" (got {value!r})" if scalar and "got " not in message else ""
        lines.append(f"{key}: {message}{got}")
    return "invalid stack configuration:\n  " + "\n  ".join(lines)


def parse_config(raw: dict[str, Any]) -> StackConfig:
    """Validate raw `bulk-loader:*` values (keys without the namespace); raises ConfigError."""
    allowed = {field.alias or name for name, field in StackConfig.model_fields.items()}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(
            "invalid stack configuration:\n  "
            + "\n  ".join(
                f"{NAMESPACE}:{_printable(k)}: unknown key; allowed keys: {', '.join(sorted(allowed))}"
                for k in unknown
            )
        )
    try:
        return StackConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_format_errors(error)) from None


def _decode(value: Any) -> Any:
    """Pulumi hands structured config values over as JSON text; scalars stay strings (pydantic coerces)."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def load_config() -> StackConfig:
    """Read every `bulk-loader:*` key of the running stack and validate it."""
    from pulumi.runtime.config import get_config_env

    try:
        from pulumi.runtime.config import CONFIG

        entries = dict(CONFIG.get())
    except ImportError:  # older SDKs keep config only in the environment
        entries = {}
    entries = {**get_config_env(), **entries}
    raw = {
        key.split(":", 1)[1]: _decode(value)
        for key, value in entries.items()
        if key.startswith(f"{NAMESPACE}:")
    }
    return parse_config(raw)
