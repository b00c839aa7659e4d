"""The stack configuration: every `bulk-loader:*` key, validated by one pydantic model.

Read with `load_config()` (from `pulumi.Config("bulk-loader")`); any invalid value raises `ConfigError`
naming the key (`bulk-loader:<key>[.<field>]`) and what is allowed. Every decision that creates or omits a
resource is taken from these plain values, never from a Pulumi `Output`.

The README's `configuration` section is the reference table for these keys.
"""

from __future__ import annotations

import ipaddress
import json
import re
from types import UnionType
from typing import Annotated, Any, Literal, Union
from urllib.parse import urlparse

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    model_validator,
)

NAMESPACE = "bulk-loader"
DEFAULT_RUNTIME = "python3.12"
DEFAULT_ARCHITECTURE = "arm64"
# Rekognition reads images from S3 up to 15 MiB (IndexFaces limit).
REKOGNITION_MAX_IMAGE_BYTES = 15 * 1024 * 1024
# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)  # fmt: skip
# S3 Inventory optional fields (API_InventoryConfiguration). IsLatest / IsDeleteMarker / VersionId are not
# optional fields: S3 adds them by itself when the inventory includes all versions.
INVENTORY_OPTIONAL_FIELDS = (
    "Size", "LastModifiedDate", "StorageClass", "ETag", "IsMultipartUploaded", "ReplicationStatus",
    "EncryptionStatus", "ObjectLockRetainUntilDate", "ObjectLockMode", "ObjectLockLegalHoldStatus",
    "IntelligentTieringAccessTier", "BucketKeyStatus", "ChecksumAlgorithm", "ObjectAccessControlList",
    "ObjectOwner",
)  # fmt: skip
# IAM JSON policy elements: Sid (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_sid.html):
# "The Sid element supports ASCII uppercase letters (A-Z), lowercase letters (a-z), and numbers (0-9)", and in
# IAM a Sid must be unique within a policy.
IAM_SID_PATTERN = re.compile(r"[A-Za-z0-9]+")
# Lambda quotas (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html and "Configuring
# reserved concurrency for a function"): 1,000 concurrent executions per account and region by default, and
# "you can reserve up to the Unreserved account concurrency value that is shown, minus 100 for functions that
# don't have reserved concurrency".
DEFAULT_ACCOUNT_CONCURRENCY_LIMIT = 1000
LAMBDA_UNRESERVED_MINIMUM = 100
# Pacing (handlers/throttled_indexer/pacing.py and settings.py keep the same numbers; tests/infra checks):
# a paced rate's bounds, the APIs paced separately per gateway, and the longest a worker waits for its slot.
MIN_RATE_PER_SECOND = 0.01
MAX_RATE_PER_SECOND = 10_000.0
PACED_APIS = {"rekognition": ("IndexFaces", "DeleteFaces", "SearchFacesByImage"), "http": ("http",)}
PACER_MAX_WAIT_SECONDS = 5.0


def _rate(value: Any, where: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{where}must be a number (calls per second), got {value!r}")
    try:
        rate = float(value)
    except ValueError:
        raise ValueError(f"{where}must be a number (calls per second), got {value!r}") from None
    if not MIN_RATE_PER_SECOND <= rate <= MAX_RATE_PER_SECOND:
        raise ValueError(
            f"{where}must be between {MIN_RATE_PER_SECOND:g} and {MAX_RATE_PER_SECOND:g} calls per second, "
            f"got {value!r}"
        )
    return rate


def _gateway_rate(value: Any) -> float | dict[str, float]:
    """A number, or an object of Rekognition API name -> number (one message per problem, naming the API)."""
    if not isinstance(value, dict):
        return _rate(value)
    apis = PACED_APIS["rekognition"]
    unknown = sorted(set(value) - set(apis))
    if unknown:
        raise ValueError(f"unknown API(s) {unknown}; allowed: {', '.join(apis)}")
    return {api: _rate(rate, f"{api}: ") for api, rate in value.items()}


GatewayRate = Annotated[float | dict[str, float], PlainValidator(_gateway_rate)]


class ConfigError(ValueError):
    """The stack configuration is invalid; the message names every offending key."""


# ------------------------------------------------------------------------------------------- value checks
def _pattern(regex: str, what: str):
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"must be {what}, got {value!r}")
        return value

    return AfterValidator(check)


_PARTITION = r"arn:aws(?:-cn|-us-gov)?"
_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d"
_ACCOUNT = r"\d{12}"


def _bucket_name(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", value) or ".." in value:
        raise ValueError(
            f"must be an S3 bucket name (3-63 characters: lowercase letters, digits, '.', '-'), got {value!r}"
        )
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return value
    raise ValueError(f"must be an S3 bucket name, not an IP address: {value!r}")


BucketName = Annotated[str, AfterValidator(_bucket_name)]
LambdaArn = Annotated[
    str,
    _pattern(
        rf"{_PARTITION}:lambda:{_REGION}:{_ACCOUNT}:function:[A-Za-z0-9_-]{{1,64}}",
        "a Lambda function ARN (arn:aws:lambda:<region>:<account>:function:<name>, unqualified)",
    ),
]
QueueArn = Annotated[
    str,
    _pattern(rf"{_PARTITION}:sqs:{_REGION}:{_ACCOUNT}:[A-Za-z0-9_-]{{1,80}}", "an SQS queue ARN"),
]
QueueUrl = Annotated[
    str,
    _pattern(
        r"https://sqs\.[a-z]{2}(?:-[a-z]+)+-\d\.amazonaws\.com(?:\.cn)?/\d{12}/[A-Za-z0-9_-]{1,80}",
        "an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)",
    ),
]
TableArn = Annotated[
    str,
    _pattern(
        rf"{_PARTITION}:dynamodb:{_REGION}:{_ACCOUNT}:table/[A-Za-z0-9_.-]{{3,255}}", "a DynamoDB table ARN"
    ),
]
SecretArn = Annotated[
    str,
    _pattern(
        rf"{_PARTITION}:secretsmanager:{_REGION}:{_ACCOUNT}:secret:[A-Za-z0-9/_+=.@-]+",
        "a Secrets Manager secret ARN",
    ),
]
ExecuteApiArn = Annotated[
    str,
    _pattern(
        rf"{_PARTITION}:execute-api:{_REGION}:{_ACCOUNT}:[a-z0-9]{{10}}/[A-Za-z0-9_*-]+/[A-Z*]+/\S*",
        "an execute-api ARN (arn:aws:execute-api:<region>:<account>:<api id>/<stage>/<METHOD>/<path>)",
    ),
]
AlarmActionArn = Annotated[
    str,
    _pattern(
        rf"{_PARTITION}:(?:sns:{_REGION}:{_ACCOUNT}:[A-Za-z0-9_-]{{1,256}}"
        rf"|lambda:{_REGION}:{_ACCOUNT}:function:[A-Za-z0-9_-]{{1,64}})",
        "an SNS topic ARN or Lambda function ARN",
    ),
]
CollectionId = Annotated[
    str, _pattern(r"[a-zA-Z0-9_.\-]{1,255}", "a Rekognition collection id ([a-zA-Z0-9_.-], 1-255)")
]
S3Prefix = Annotated[
    str, _pattern(r"(?:[^\x00-\x1f/][^\x00-\x1f]{0,500}/)?", "empty or an S3 key prefix ending in '/'")
]


def _gateway_url(value: str) -> str:
    parsed = urlparse(value)
    # https only; plain http is accepted for loopback addresses so the offline runtime can serve a fake API.
    loopback = parsed.hostname in {"127.0.0.1", "localhost", "::1"}
    if not parsed.hostname or parsed.scheme not in ({"https", "http"} if loopback else {"https"}):
        raise ValueError(f"must be an https:// URL (http:// only for 127.0.0.1/localhost), got {value!r}")
    if parsed.query or parsed.fragment:
        raise ValueError(f"must not carry a query or fragment, got {value!r}")
    return value.rstrip("/")


GatewayUrl = Annotated[str, AfterValidator(_gateway_url)]


def _suffix(value: str) -> str:
    if not re.fullmatch(r"\.[A-Za-z0-9]{1,10}", value):
        raise ValueError(f"must be a file suffix like '.jpg', got {value!r}")
    return value.lower()


ImageSuffix = Annotated[str, AfterValidator(_suffix)]


def _retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        raise ValueError(
            f"must be one of CloudWatch Logs' retention periods {LOG_RETENTION_DAYS}, got {value}"
        )
    return value


def _policy_statement(value: dict[str, Any]) -> dict[str, Any]:
    """An extra IAM statement for a custom registration provider: Allow, explicit actions and resources."""
    allowed = {"Sid", "Effect", "Action", "Resource", "Condition"}
    if unknown := set(value) - allowed:
        raise ValueError(f"unknown statement fields {sorted(unknown)}; allowed: {sorted(allowed)}")
    if value.get("Effect", "Allow") != "Allow":
        raise ValueError("only Effect 'Allow' statements are accepted")
    sid = value.get("Sid")
    if sid is not None and not (isinstance(sid, str) and IAM_SID_PATTERN.fullmatch(sid)):
        raise ValueError(
            f"Sid must be ASCII letters and digits only (A-Z, a-z, 0-9: IAM JSON policy elements: Sid), "
            f"got {sid!r}"
        )
    actions = value.get("Action")
    resources = value.get("Resource")
    actions = [actions] if isinstance(actions, str) else actions
    resources = [resources] if isinstance(resources, str) else resources
    if not actions or not all(
        isinstance(a, str) and re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", a) for a in actions
    ):
        raise ValueError("Action must be one or more explicit 'service:Action' names (no wildcards)")
    if not resources or not all(isinstance(r, str) and r.startswith("arn:") for r in resources):
        raise ValueError("Resource must be one or more ARNs")
    if any(r in {"*", "arn:*"} for r in resources):
        raise ValueError("Resource '*' is not accepted")
    return {"Effect": "Allow", **value, "Action": actions, "Resource": resources}


PolicyStatement = Annotated[dict[str, Any], AfterValidator(_policy_statement)]


def _unique_sids(statements: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
    """In IAM a Sid must be unique within a policy: two extra statements may not share one."""
    seen: dict[str, int] = {}
    for index, statement in enumerate(statements):
        sid = statement.get("Sid")
        if sid is None:
            continue
        if sid in seen:
            raise ValueError(
                f"Sid {sid!r} of statement [{index}] is already used by statement [{seen[sid]}]; IAM "
                "requires a Sid to be unique within a policy"
            )
        seen[sid] = index
    return statements


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


_MODEL_CONFIG = ConfigDict(
    extra="forbid", frozen=True, alias_generator=_camel, populate_by_name=True, use_attribute_docstrings=True
)


class Section(BaseModel):
    model_config = _MODEL_CONFIG


# ------------------------------------------------------------------------------------------- sections
class LambdaSettings(Section):
    """`bulk-loader:lambda`: settings shared by every function."""

    runtime: Literal["python3.11", "python3.12", "python3.13"] = DEFAULT_RUNTIME
    """Lambda Python runtime of every function; dependency bundles are built for it."""
    architecture: Literal["arm64", "x86_64"] = DEFAULT_ARCHITECTURE
    """CPU architecture of every function (wheels are chosen for it)."""
    log_retention_days: Annotated[int, AfterValidator(_retention)] = 30
    """CloudWatch Logs retention of each function's log group."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Log level of the handlers: LOG_LEVEL / POWERTOOLS_LOG_LEVEL and, the same level in Lambda's words
    (WARNING is WARN), each function's application log level (JSON log format), which Lambda filters by and
    Powertools prefers over its own variable; the functions' system (platform) log level is INFO."""
    metrics_namespace: Annotated[str, Field(pattern=r"^[A-Za-z0-9._/#:-]{1,255}$")] = "BulkLoader"
    """CloudWatch namespace of the handlers' EMF metrics."""
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


class InventoryPipelineSettings(Section):
    """`bulk-loader:inventoryPipeline`."""

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
    only_new_objects: bool = False
    """Import only objects newer than the last successful run (env ONLY_NEW_OBJECTS)."""
    max_image_bytes: Annotated[int, Field(ge=1)] | None = None
    """Images larger than this are skipped (manifests) and rejected (indexer); default 15 MiB, Rekognition's
    S3 limit, which is also the maximum with gateway rekognition."""
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


class BatchQualifierSettings(Section):
    """`bulk-loader:batchQualifier`."""

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
    provider: Annotated[str, Field(pattern=r"^(s3-tags|dynamodb-mapping|[A-Za-z_][\w.]*:[A-Za-z_]\w*)$")] = (
        "s3-tags"
    )
    """`s3-tags`, `dynamodb-mapping` (+ providerConfig, extraPolicyStatements) or `package.module:Class`."""
    provider_config: dict[str, Any] = Field(default_factory=dict)
    """JSON object handed to the provider (env REGISTRATION_PROVIDER_CONFIG)."""
    properties_buckets: tuple[BucketName, ...] = ()
    """Buckets holding `Properties` JSON objects; default: the image bucket."""
    extra_policy_statements: Annotated[tuple[PolicyStatement, ...], AfterValidator(_unique_sids)] = ()
    """IAM statements a custom provider needs (Allow, explicit actions, ARNs; no wildcards; an optional Sid
    of ASCII letters and digits, unique)."""
    function_arn: LambdaArn | None = None
    """When disabled: the existing batch function S3 Batch Operations invokes."""


class ThrottledIndexerSettings(Section):
    """`bulk-loader:throttledIndexer`."""

    enabled: bool = True
    """Deploy ThrottledIndexer; when false, queueArn/queueUrl (and historyTableArn) name existing ones."""
    gateway: Literal["rekognition", "http"] = "rekognition"
    """Face index: Rekognition IndexFaces, or POST {gatewayUrl}/register."""
    collection_id: CollectionId | None = None
    """Existing Rekognition collection; when unset (and gateway is rekognition) one is created."""
    gateway_url: GatewayUrl | None = None
    """Base URL of the HTTP registration API (gateway http; https only)."""
    gateway_auth: Literal["none", "sigv4", "api-key"] = "none"
    """How the HTTP gateway is called: unsigned, IAM SigV4, or an API key from Secrets Manager."""
    gateway_api_arn: ExecuteApiArn | None = None
    """For `sigv4`: the execute-api ARN the function may invoke."""
    gateway_api_key_secret_arn: SecretArn | None = None
    """For `api-key`: the Secrets Manager secret holding the key."""
    gateway_timeout_seconds: Annotated[int, Field(ge=1, le=55)] = 10
    """Timeout of one gateway call; below timeoutSeconds."""
    timeout_seconds: Annotated[int, Field(ge=10, le=900)] = 60
    """throttled_indexer timeout; the input queue's visibility timeout is 6x this."""
    memory_mb: Annotated[int, Field(ge=128, le=10240)] = 512
    """throttled_indexer memory."""
    batch_size: Annotated[int, Field(ge=1, le=10)] = 10
    """Messages per invocation (event source mapping)."""
    max_concurrency: Annotated[int, Field(ge=2, le=1000)] = 5
    """Event source mapping maximum concurrency: how many workers call the face index at once (Lambda
    minimum 2); with gatewayRatePerSecond they keep to that rate together."""
    max_receive_count: Annotated[int, Field(ge=1, le=1000)] = 5
    """Deliveries of a message before it moves to the DLQ."""
    gateway_rate_per_second: GatewayRate | None = None
    """Calls per second the face index takes, shared by every worker (env GATEWAY_RATE_PER_SECOND; 0.01 to
    10000). Unset: not paced (calls go as fast as maxConcurrency workers make them; throttling is retried).
    gateway http: one number, the API owner's limit for /register and /deregister together. gateway
    rekognition: a number (each API at that rate) or an object per API, e.g. {"IndexFaces": 50,
    "DeleteFaces": 50, "SearchFacesByImage": 50} (an API left out is not paced): Rekognition's quotas are
    per API and region (transactions per second, TPS; "Guidelines and quotas in Amazon Rekognition", Default
    quotas): read them in the Service Quotas console (Amazon Rekognition) or with `aws service-quotas
    list-service-quotas --service-code rekognition`. Other clients of the same quota take from it: set what
    this stack may use.
    maxConcurrency may be at most 5 s x the lowest rate (the longest a worker waits for its slot)."""
    quarantine_bucket: BucketName | None = None
    """Bucket for images rejected permanently (optional; env QUARANTINE_BUCKET)."""
    quarantine_prefix: S3Prefix = "quarantine/"
    """Key prefix in the quarantine bucket."""
    delete_events: bool = True
    """Route image-bucket deletions (EventBridge) into the input queue."""
    enable_bucket_eventbridge: bool | None = None
    """Turn on EventBridge delivery on the image bucket (its ONE notification configuration). Default: on
    when the program created the image bucket, off for an existing one (its owner turns it on)."""
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


class StackConfig(BaseModel):
    """All `bulk-loader:*` keys of one stack."""

    model_config = _MODEL_CONFIG

    lambda_: LambdaSettings = Field(default_factory=LambdaSettings, alias="lambda")
    """Settings shared by every function (object)."""
    image_bucket: ImageBucketSettings = Field(default_factory=ImageBucketSettings)
    """The image bucket: created, or an existing one by name (object)."""
    image_suffixes: tuple[ImageSuffix, ...] = (".jpg", ".jpeg", ".png")
    """Object key suffixes that count as images (lower-cased)."""
    history_ttl_days: Annotated[int, Field(ge=1, le=365)] = 14
    """Non-success import-history records expire after this many days."""
    inventory_pipeline: InventoryPipelineSettings = Field(default_factory=InventoryPipelineSettings)
    """InventoryPipeline settings (object)."""
    batch_qualifier: BatchQualifierSettings = Field(default_factory=BatchQualifierSettings)
    """BatchQualifier settings (object)."""
    throttled_indexer: ThrottledIndexerSettings = Field(default_factory=ThrottledIndexerSettings)
    """ThrottledIndexer settings (object)."""

    @model_validator(mode="after")
    def _cross_checks(self) -> StackConfig:
        problems: list[str] = []
        ti, bq, ip = self.throttled_indexer, self.batch_qualifier, self.inventory_pipeline
        if not self.image_suffixes:
            problems.append(f"{NAMESPACE}:imageSuffixes: must list at least one suffix")
        if ti.enabled:
            if ti.gateway == "http" and not ti.gateway_url:
                problems.append(f"{NAMESPACE}:throttledIndexer.gatewayUrl: required when gateway is 'http'")
            if ti.gateway == "rekognition" and (ti.gateway_url or ti.gateway_auth != "none"):
                problems.append(
                    f"{NAMESPACE}:throttledIndexer.gatewayUrl/gatewayAuth: only for gateway 'http' "
                    "(gateway is 'rekognition')"
                )
            if ti.gateway == "http" and ti.collection_id:
                problems.append(f"{NAMESPACE}:throttledIndexer.collectionId: only for gateway 'rekognition'")
            if ti.gateway_auth == "sigv4" and not ti.gateway_api_arn:
                problems.append(
                    f"{NAMESPACE}:throttledIndexer.gatewayApiArn: required when gatewayAuth is 'sigv4'"
                )
            if ti.gateway_auth == "api-key" and not ti.gateway_api_key_secret_arn:
                problems.append(
                    f"{NAMESPACE}:throttledIndexer.gatewayApiKeySecretArn: required when gatewayAuth is "
                    "'api-key'"
                )
            if ti.gateway_timeout_seconds >= ti.timeout_seconds:
                problems.append(
                    f"{NAMESPACE}:throttledIndexer.gatewayTimeoutSeconds: must be below timeoutSeconds "
                    f"({ti.timeout_seconds})"
                )
            if isinstance(ti.gateway_rate_per_second, dict) and ti.gateway != "rekognition":
                problems.append(
                    f"{NAMESPACE}:throttledIndexer.gatewayRatePerSecond: an object per API only for gateway "
                    "'rekognition'; the HTTP API takes one number"
                )
            slowest = min(self.gateway_rates.values(), default=None)
            if slowest and ti.max_concurrency > PACER_MAX_WAIT_SECONDS * slowest:
                problems.append(
                    f"{NAMESPACE}:throttledIndexer.maxConcurrency: {ti.max_concurrency} workers at "
                    f"gatewayRatePerSecond {slowest:g}/s would wait up to {ti.max_concurrency / slowest:g} s "
                    f"for a call slot, more than the {PACER_MAX_WAIT_SECONDS:g} s a worker waits: at most "
                    f"{int(PACER_MAX_WAIT_SECONDS * slowest)}"
                )
            if ti.queue_arn or ti.queue_url or ti.history_table_arn:
                problems.append(
                    f"{NAMESPACE}:throttledIndexer.queueArn/queueUrl/historyTableArn: only when enabled is "
                    "false (the component creates them)"
                )
        elif bq.enabled and not (ti.queue_arn and ti.queue_url):
            problems.append(
                f"{NAMESPACE}:throttledIndexer.queueArn and queueUrl: required when throttledIndexer.enabled "
                "is false and batchQualifier is enabled (the queue the qualifier sends to)"
            )
        if (
            ti.queue_arn
            and ti.queue_url
            and ti.queue_arn.rsplit(":", 1)[-1] != ti.queue_url.rsplit("/", 1)[-1]
        ):
            problems.append(f"{NAMESPACE}:throttledIndexer.queueArn/queueUrl: name the same queue")
        if bq.enabled and bq.function_arn:
            problems.append(f"{NAMESPACE}:batchQualifier.functionArn: only when enabled is false")
        if ip.enabled and not bq.enabled and not bq.function_arn:
            problems.append(
                f"{NAMESPACE}:batchQualifier.functionArn: required when batchQualifier.enabled is false and "
                "inventoryPipeline is enabled (the function S3 Batch Operations invokes)"
            )
        if not (ip.enabled or bq.enabled or ti.enabled):
            problems.append(f"{NAMESPACE}: every component is disabled; enable at least one")
        if (ip.enabled or bq.enabled or ti.enabled) and self.image_bucket.name is None and not ip.enabled:
            problems.append(
                f"{NAMESPACE}:imageBucket.name: required when inventoryPipeline is disabled (only that "
                "component creates the image bucket)"
            )
        if (
            ip.max_image_bytes
            and ti.gateway == "rekognition"
            and ip.max_image_bytes > REKOGNITION_MAX_IMAGE_BYTES
        ):
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
        """Calls per second per paced API of the indexer's gateway (empty: not paced)."""
        ti = self.throttled_indexer
        rate = ti.gateway_rate_per_second
        if rate is None:
            return {}
        if isinstance(rate, dict):
            return {api: float(value) for api, value in rate.items()}
        return dict.fromkeys(PACED_APIS[ti.gateway], float(rate))

    @property
    def max_image_bytes(self) -> int:
        return self.inventory_pipeline.max_image_bytes or REKOGNITION_MAX_IMAGE_BYTES

    @property
    def create_image_bucket(self) -> bool:
        return self.image_bucket.name is None

    @property
    def bucket_eventbridge(self) -> bool:
        ti = self.throttled_indexer
        if ti.enable_bucket_eventbridge is not None:
            return ti.enable_bucket_eventbridge
        return self.create_image_bucket and ti.delete_events


def _printable(text: str) -> str:
    """Key names as typed, but control characters escaped so one problem stays on one line."""
    return text if text.isprintable() else repr(text)


def _format_errors(error: ValidationError) -> str:
    lines = []
    for item in error.errors(include_url=False):
        loc = [_printable(str(p)) for p in item["loc"]]
        message = item["msg"].removeprefix("Value error, ")
        if not loc:
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


# ------------------------------------------------------------------------------------------- reference table
def _rows(model: type[BaseModel], prefix: str) -> list[tuple[str, str, str, str]]:
    rows = []
    for name, info in model.model_fields.items():
        key = f"{prefix}{info.alias or name}"
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.append((key, "object", "", (info.description or "").strip()))
            rows.extend(_rows(annotation, f"{key}."))
            continue
        default = info.get_default(call_default_factory=True)
        if isinstance(default, tuple):
            default = list(default)
        constraints = [f">= {m.ge}" for m in info.metadata if hasattr(m, "ge")]
        constraints += [f"<= {m.le}" for m in info.metadata if hasattr(m, "le")]
        kind = _short_type(annotation) + (f" ({', '.join(constraints)})" if constraints else "")
        rows.append((key, kind, json.dumps(default), " ".join((info.description or "").split())))
    return rows


def _short_type(annotation: Any) -> str:
    origin = getattr(annotation, "__origin__", None)
    args = getattr(annotation, "__args__", ())
    if origin is Literal:
        return " / ".join(f"`{a}`" for a in args)
    if annotation in (int, str, bool):
        return annotation.__name__
    if origin is tuple:
        return f"list of {_short_type(args[0])}"
    if origin is dict:
        return "object"
    if args and (origin is Union or isinstance(annotation, UnionType)):
        inner = " or ".join(_short_type(a) for a in args if a is not type(None))
        return inner + (" or null" if type(None) in args else "")
    metadata = getattr(annotation, "__metadata__", None)
    if metadata is not None:
        return _short_type(annotation.__origin__)
    return getattr(annotation, "__name__", str(annotation))


def reference_table() -> str:
    """The README's configuration reference, generated from this model (a test keeps the README in sync)."""
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, kind, default, meaning in _rows(StackConfig, f"{NAMESPACE}:"):
        lines.append(
            f"| `{key}` | {kind} | {f'`{default}`' if default else ''} | {meaning.replace('|', '/')} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(reference_table())
