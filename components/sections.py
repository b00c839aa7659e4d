"""The sections of the stack configuration (`bulk-loader:<section>.<key>`), one per component plus `lambda`.

A key that a function reads is declared once, in that function's settings model (handlers/*/settings.py,
handlers/common/shared_settings.py): `from_model` copies its type, bounds, default and doc into the section,
keyed in camelCase. The other keys are deployment-only (memory, timeouts, concurrency, existing resources).
Each section checks the rules between its own keys in one validator; components/config.py composes them.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, create_model, model_validator

from handlers.batch_qualifier.settings import Settings as QualifierEnv
from handlers.common.settings_model import EnvSettings, broken_rules
from handlers.common.shared_settings import (
    BucketName,
    HistoryTtlSettings,
    ImageSettings,
    ImageSizeSettings,
    PowertoolsSettings,
    S3Prefix,
)
from handlers.inventory_created.settings import Settings as InventoryEnv
from handlers.throttled_indexer.pacing import DEFAULT_MAX_WAIT_SECONDS as PACER_MAX_WAIT_SECONDS
from handlers.throttled_indexer.settings import GATEWAY_RULES, paced_apis, rate_problem
from handlers.throttled_indexer.settings import Settings as IndexerEnv

from .stack_types import (
    AlarmActionArn,
    ExecuteApiArn,
    LambdaArn,
    LogRetentionDays,
    PolicyStatements,
    QueueArn,
    QueueUrl,
    TableArn,
)

NAMESPACE = "bulk-loader"
DEFAULT_RUNTIME: Final = "python3.12"
DEFAULT_ARCHITECTURE: Final = "arm64"
# S3 Inventory optional fields (API_InventoryConfiguration). IsLatest / IsDeleteMarker / VersionId are not
# optional fields: S3 adds them by itself when the inventory includes all versions.
INVENTORY_OPTIONAL_FIELDS = (
    "Size", "LastModifiedDate", "StorageClass", "ETag", "IsMultipartUploaded", "ReplicationStatus",
    "EncryptionStatus", "ObjectLockRetainUntilDate", "ObjectLockMode", "ObjectLockLegalHoldStatus",
    "IntelligentTieringAccessTier", "BucketKeyStatus", "ChecksumAlgorithm", "ObjectAccessControlList",
    "ObjectOwner",
)  # fmt: skip
# Lambda quotas (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html and "Configuring
# reserved concurrency for a function"): 1,000 concurrent executions per account and region by default, and
# "you can reserve up to the Unreserved account concurrency value that is shown, minus 100 for functions that
# don't have reserved concurrency".
DEFAULT_ACCOUNT_CONCURRENCY_LIMIT = 1000
LAMBDA_UNRESERVED_MINIMUM = 100


def _gateway_rate(value: Any) -> float | dict[str, float]:
    """A number, or an object of Rekognition API name -> number (one message per problem, naming the API;
    the APIs of rekognitionMode users only in that mode: the section's rule)."""
    if not isinstance(value, dict):
        return _rate(value)
    apis = paced_apis("rekognition", "users")
    unknown = sorted(set(value) - set(apis))
    if unknown:
        raise ValueError(f"unknown API(s) {unknown}; allowed: {', '.join(apis)}")
    return {api: _rate(rate, f"{api}: ") for api, rate in value.items()}


def _rate(value: Any, where: str = "") -> float:
    """Pulumi hands numbers over as text: a numeric string counts as its number."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    if problem := rate_problem(value):
        raise ValueError(f"{where}{problem}")
    return float(value)


GatewayRate = Annotated[float | dict[str, float], PlainValidator(_gateway_rate)]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


SECTION_CONFIG = ConfigDict(
    extra="forbid", frozen=True, alias_generator=_camel, populate_by_name=True, use_attribute_docstrings=True
)


class Section(BaseModel):
    model_config = SECTION_CONFIG

    def values_for(self, model: type[EnvSettings]) -> dict[str, Any]:
        """This section's values of the settings `model` declares (for `model.to_environment`)."""
        return {name: getattr(self, name) for name in model.model_fields if name in type(self).model_fields}


def from_model(model: type[EnvSettings], *names: str, **narrower: Any) -> type[Section]:
    """A section base holding `names` of a function's settings model: same type, bounds, default and doc,
    keyed in camelCase. `narrower` gives a field a stricter type for the stack (a default must still fit)."""
    fields: dict[str, Any] = {}
    for name in names:
        info = model.model_fields[name]
        annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        annotation = narrower.get(name, annotation)
        default = (
            {"default_factory": info.default_factory} if info.default_factory else {"default": info.default}
        )
        fields[name] = (annotation, Field(description=info.description, **default))
    return create_model(f"{model.__name__}Keys", __base__=_CopiedKeys, **fields)


class _CopiedKeys(Section):
    # The copied fields carry their doc as a description; pydantic's docstring reader would look for their
    # source. A section built on them turns docstrings back on for its own fields (`model_config` below).
    model_config = ConfigDict(use_attribute_docstrings=False)


def _section_problems(section: str, problems: list[str]) -> None:
    if problems:
        raise ValueError("; ".join(f"{NAMESPACE}:{section}.{problem}" for problem in problems))


# ------------------------------------------------------------------------------------------- sections
# `type: ignore[misc]` on a from_model(...) base: mypy cannot type a base class built by a call; the copied
# fields are checked by pydantic (and tests/infra), the section's own fields by mypy as usual.
class LambdaSettings(from_model(PowertoolsSettings, "metrics_namespace")):  # type: ignore[misc]
    """`bulk-loader:lambda`: settings shared by every function."""

    model_config = SECTION_CONFIG

    runtime: Literal["python3.11", "python3.12", "python3.13"] = DEFAULT_RUNTIME
    """Lambda Python runtime of every function; dependency bundles are built for it."""
    architecture: Literal["arm64", "x86_64"] = DEFAULT_ARCHITECTURE
    """CPU architecture of every function (wheels are chosen for it)."""
    log_retention_days: LogRetentionDays = 30
    """CloudWatch Logs retention of each function's log group."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Log level of the handlers: LOG_LEVEL / POWERTOOLS_LOG_LEVEL and, the same level in Lambda's words
    (WARNING is WARN), each function's application log level (JSON log format), which Lambda filters by and
    Powertools prefers over its own variable; the functions' system (platform) log level is INFO."""
    account_concurrency_limit: Annotated[int, Field(ge=1)] = DEFAULT_ACCOUNT_CONCURRENCY_LIMIT
    """The account's Lambda concurrent-executions quota in the stack's region (Service Quotas, "Concurrent
    executions"; default 1000). The stack's reserved concurrency must leave the 100 unreserved executions
    Lambda keeps: at most this minus 100. Checked before deploying; what other stacks and functions of the
    account already reserve, and a lower quota than the one stated here, show only at `pulumi up`."""


class ImageBucketSettings(Section):
    """`bulk-loader:imageBucket`: the bucket holding the images."""

    name: BucketName | None = None
    """Existing bucket to use; when unset the program creates one."""
    versioned: bool = True
    """Whether the bucket is (created / already) versioned: inventories then include all versions."""
    force_destroy: bool = False
    """Only for a created bucket: let `pulumi destroy` delete it with its objects (dev stacks)."""


class InventoryPipelineSettings(from_model(InventoryEnv, "only_new_objects", "max_image_bytes")):  # type: ignore[misc]
    """`bulk-loader:inventoryPipeline`."""

    model_config = SECTION_CONFIG

    enabled: bool = True
    """Deploy InventoryPipeline (inventory, topic, inventory_created, S3 Batch role)."""
    schedule: Literal["Daily", "Weekly"] = "Daily"
    """S3 Inventory frequency."""
    format: Literal["CSV", "Parquet", "ORC"] = "CSV"
    """S3 Inventory output format."""
    optional_fields: tuple[Literal[INVENTORY_OPTIONAL_FIELDS], ...] = ("Size", "LastModifiedDate", "ETag")  # type: ignore[valid-type]
    """S3 Inventory optional fields (IsLatest/IsDeleteMarker come by themselves for versioned buckets)."""
    inventory_prefix: S3Prefix = ""
    """Only objects under this prefix of the image bucket are inventoried (empty: all)."""
    timeout_seconds: Annotated[int, Field(ge=60, le=900)] = 900
    """inventory_created timeout."""
    memory_mb: Annotated[int, Field(ge=128, le=10240)] = 1024
    """inventory_created memory."""
    ephemeral_storage_mb: Annotated[int, Field(ge=512, le=10240)] = 2048
    """inventory_created /tmp size: Parquet/ORC data files are copied there whole before reading (the largest
    data file must fit)."""
    inventory_expire_days: Annotated[int, Field(ge=1)] = 14
    """Inventory deliveries (inventory/) expire after this many days."""
    manifest_expire_days: Annotated[int, Field(ge=1)] = 14
    """Generated batch manifests (batch/manifests/) expire after this many days."""
    report_expire_days: Annotated[int, Field(ge=1)] = 90
    """S3 Batch completion reports (batch/reports/) expire after this many days."""
    force_destroy: bool = False
    """Let `pulumi destroy` delete the inventory bucket with its objects (dev stacks). The artifacts bucket
    (rebuildable layer zips only; noncurrent versions expire after a day) is always deleted with them."""


class BatchQualifierSettings(from_model(QualifierEnv, "provider", "provider_config")):  # type: ignore[misc]
    """`bulk-loader:batchQualifier`."""

    model_config = SECTION_CONFIG

    enabled: bool = True
    """Deploy BatchQualifier; when false, functionArn names the existing batch function."""
    reserved_concurrency: Annotated[int, Field(ge=1, le=1000)] = 10
    """Reserved concurrency of batch_qualifier: taken from the account's unreserved concurrency, which Lambda
    keeps at 100 or more; so at most lambda.accountConcurrencyLimit - 100, minus what other functions of the
    account reserve (only `pulumi up` sees those). Raise the quota (Service Quotas) or lower this."""
    timeout_seconds: Annotated[int, Field(ge=3, le=900)] = 60
    """batch_qualifier timeout."""
    memory_mb: Annotated[int, Field(ge=128, le=10240)] = 256
    """batch_qualifier memory."""
    properties_buckets: tuple[BucketName, ...] = ()
    """Buckets holding `Properties` JSON objects; default: the image bucket."""
    extra_policy_statements: PolicyStatements = ()
    """IAM statements a custom provider needs (Allow, explicit actions, ARNs; no wildcards; an optional Sid
    of ASCII letters and digits, unique)."""
    function_arn: LambdaArn | None = None
    """When disabled: the existing batch function S3 Batch Operations invokes."""
    tag_events: bool = True
    """Re-qualify an image when its tags change: an EventBridge rule for the image bucket's "Object Tags
    Added" / "Object Tags Deleted" events, a queue (+ DLQ) and the qualifier consuming it. Needs the bucket's
    EventBridge delivery (throttledIndexer.enableBucketEventbridge)."""

    @model_validator(mode="after")
    def _rules(self) -> BatchQualifierSettings:
        _section_problems(
            "batchQualifier",
            ["functionArn: only when enabled is false"] if self.enabled and self.function_arn else [],
        )
        return self


class ThrottledIndexerSettings(
    from_model(  # type: ignore[misc]
        IndexerEnv,
        "gateway",
        "collection_id",
        "rekognition_mode",
        "user_match_threshold",
        "gateway_url",
        "gateway_auth",
        "gateway_api_key_secret_arn",
        "gateway_timeout_seconds",
        "max_receive_count",
        "quarantine_bucket",
        "quarantine_prefix",
    )
):
    """`bulk-loader:throttledIndexer`."""

    model_config = SECTION_CONFIG

    enabled: bool = True
    """Deploy ThrottledIndexer; when false, queueArn/queueUrl (and historyTableArn) name existing ones."""
    gateway_api_arn: ExecuteApiArn | None = None
    """For `sigv4`: the execute-api ARN the function may invoke."""
    timeout_seconds: Annotated[int, Field(ge=10, le=900)] = 60
    """throttled_indexer timeout; the input queue's visibility timeout is 6x this."""
    memory_mb: Annotated[int, Field(ge=128, le=10240)] = 512
    """throttled_indexer memory."""
    batch_size: Annotated[int, Field(ge=1, le=10)] = 10
    """Messages per invocation (event source mapping)."""
    max_concurrency: Annotated[int, Field(ge=2, le=1000)] = 5
    """Event source mapping maximum concurrency: how many workers call the face index at once (Lambda
    minimum 2); with gatewayRatePerSecond they keep to that rate together."""
    gateway_rate_per_second: GatewayRate | None = None
    """Calls per second the face index takes, shared by every worker (env GATEWAY_RATE_PER_SECOND; 0.01 to
    10000). Unset: not paced (calls go as fast as maxConcurrency workers make them; throttling is retried).
    gateway http: one number, the API owner's limit for /register and /deregister together. gateway
    rekognition: a number (each API at that rate) or an object per API, e.g. {"IndexFaces": 50,
    "DeleteFaces": 50, "SearchFacesByImage": 50} (an API left out is not paced; rekognitionMode users also
    calls CreateUser, AssociateFaces, DisassociateFaces, ListFaces and DeleteUser): Rekognition's quotas are
    per API and region (transactions per second, TPS; "Guidelines and quotas in Amazon Rekognition", Default
    quotas): read them in the Service Quotas console (Amazon Rekognition) or with `aws service-quotas
    list-service-quotas --service-code rekognition`. Other clients of the same quota take from it: set what
    this stack may use.
    maxConcurrency may be at most 5 s x the lowest rate (the longest a worker waits for its slot)."""
    delete_events: bool = True
    """Route image-bucket deletions (EventBridge) into the input queue."""
    enable_bucket_eventbridge: bool | None = None
    """Turn on EventBridge delivery on the image bucket (its ONE notification configuration, written by
    InventoryPipeline, the image bucket's owner: only with inventoryPipeline enabled). Default: on when the
    program created the image bucket, off for an existing one (its owner turns it on)."""
    alarm_actions: tuple[AlarmActionArn, ...] = ()
    """Where alarms go; when empty an alarm SNS topic is created."""
    oldest_message_alarm_seconds: Annotated[int, Field(ge=60)] = 3600
    """Alarm when the oldest queued message is this old."""
    history_deletion_protection: bool = True
    """DynamoDB deletion protection on the import-history table (turn off only for throwaway stacks)."""
    queue_arn: QueueArn | None = None
    """When disabled: the existing indexer input queue the batch qualifier sends to."""
    queue_url: QueueUrl | None = None
    """When disabled: URL of the same existing queue."""
    history_table_arn: TableArn | None = None
    """When disabled: the existing import-history table (optional)."""

    @property
    def gateway_rates(self) -> dict[str, float]:
        """Calls per second per paced API of the gateway (empty: not paced): GATEWAY_RATE_PER_SECOND."""
        rate = self.gateway_rate_per_second
        if rate is None:
            return {}
        if isinstance(rate, dict):
            return {api: float(value) for api, value in rate.items()}
        return dict.fromkeys(paced_apis(self.gateway, self.rekognition_mode), float(rate))

    @model_validator(mode="after")
    def _rules(self) -> ThrottledIndexerSettings:
        problems = []
        if self.enabled:
            problems += broken_rules(GATEWAY_RULES, self, _camel, "{fields}: {text}")
            if self.gateway_auth == "sigv4" and not self.gateway_api_arn:
                problems.append("gatewayApiArn: required when gatewayAuth is 'sigv4'")
            if self.gateway_timeout_seconds >= self.timeout_seconds:
                problems.append(
                    f"gatewayTimeoutSeconds: must be below timeoutSeconds ({self.timeout_seconds})"
                )
            if isinstance(self.gateway_rate_per_second, dict) and self.gateway != "rekognition":
                problems.append(
                    "gatewayRatePerSecond: an object per API only for gateway 'rekognition'; the HTTP API "
                    "takes one number"
                )
            elif isinstance(self.gateway_rate_per_second, dict):
                uncalled = sorted(
                    set(self.gateway_rate_per_second) - set(paced_apis("rekognition", self.rekognition_mode))
                )
                if uncalled:
                    problems.append(
                        f"gatewayRatePerSecond: {', '.join(uncalled)} only with rekognitionMode 'users' "
                        f"(mode '{self.rekognition_mode}' does not call them)"
                    )
            slowest = min(self.gateway_rates.values(), default=None)
            if slowest and self.max_concurrency > PACER_MAX_WAIT_SECONDS * slowest:
                problems.append(
                    f"maxConcurrency: {self.max_concurrency} workers at gatewayRatePerSecond {slowest:g}/s "
                    f"would wait up to {self.max_concurrency / slowest:g} s for a call slot, more than the "
                    f"{PACER_MAX_WAIT_SECONDS:g} s a worker waits: at most "
                    f"{int(PACER_MAX_WAIT_SECONDS * slowest)}"
                )
            if self.queue_arn or self.queue_url or self.history_table_arn:
                problems.append(
                    "queueArn/queueUrl/historyTableArn: only when enabled is false (the component creates "
                    "them)"
                )
        if (
            self.queue_arn
            and self.queue_url
            and self.queue_arn.rsplit(":", 1)[-1] != self.queue_url.rsplit("/", 1)[-1]
        ):
            problems.append("queueArn/queueUrl: name the same queue")
        _section_problems("throttledIndexer", problems)
        return self


class SharedSettings(
    from_model(ImageSettings, "image_suffixes"),  # type: ignore[misc]
    from_model(HistoryTtlSettings, "history_ttl_days"),  # type: ignore[misc]
    from_model(ImageSizeSettings, "max_image_bytes"),  # type: ignore[misc]
):
    """Not a stack key of its own: the settings more than one function reads (`StackConfig.shared` gathers
    them from imageSuffixes, historyTtlDays and inventoryPipeline.maxImageBytes)."""

    model_config = SECTION_CONFIG
