"""Secure building blocks every component calls, so each default is written once.

Bucket: public access block, SSE, ownership enforced, TLS-only policy merged with extra statements into ONE
BucketPolicy, lifecycle expiry. Queue: SQS-managed SSE, DLQ + redrive, visibility timeout, one QueuePolicy.
Topic: encrypted, one TopicPolicy. Table: on-demand, PITR, SSE, TTL. Function: its own log group with
retention, X-Ray active tracing, a role with ONE inline policy built from the statements passed in.

Every grant to an AWS service principal carries `aws:SourceArn` / `aws:SourceAccount` conditions
(`service_grant`). Policies are JSON documents built with `pulumi.Output.json_dumps`, so statements may hold
Outputs (ARNs) without being decided by them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from . import packaging
from .config import IAM_SID_PATTERN

Statement = dict[str, Any]
StatementsFor = Callable[[pulumi.Output[str]], Sequence[Statement]]


# ------------------------------------------------------------------------------------------- account context
@dataclass(frozen=True)
class AwsContext:
    """Account, region and partition of the stack's provider, as Outputs (for ARNs and conditions)."""

    account_id: pulumi.Output[str]
    region: pulumi.Output[str]
    partition: pulumi.Output[str]

    def arn(
        self, service: str, resource: str, *, region: bool = True, account: bool = True
    ) -> pulumi.Output[str]:
        """`arn:<partition>:<service>:<region>:<account>:<resource>`."""
        return pulumi.Output.concat(
            "arn:",
            self.partition,
            f":{service}:",
            self.region if region else "",
            ":",
            self.account_id if account else "",
            ":",
            resource,
        )


def aws_context(parent: pulumi.Resource | None = None) -> AwsContext:
    opts = pulumi.InvokeOutputOptions(parent=parent) if parent else None
    identity = aws.get_caller_identity_output(opts=opts)
    region = aws.get_region_output(opts=opts)
    partition = aws.get_partition_output(opts=opts)
    return AwsContext(account_id=identity.account_id, region=region.region, partition=partition.partition)


def lambda_function_arn(function_name: str, parent: pulumi.Resource | None = None) -> pulumi.Output[str]:
    """The ARN a function with this physical name has (or will have) in the stack's account and region."""
    return aws_context(parent).arn("lambda", f"function:{function_name}")


def sns_topic_arn(topic_name: str, parent: pulumi.Resource | None = None) -> pulumi.Output[str]:
    """The ARN a topic with this physical name has (or will have) in the stack's account and region."""
    return aws_context(parent).arn("sns", topic_name)


def s3_bucket_arn(bucket_name: str, parent: pulumi.Resource | None = None) -> pulumi.Output[str]:
    """The ARN of a bucket given by name, in the stack's partition."""
    opts = pulumi.InvokeOutputOptions(parent=parent) if parent else None
    return pulumi.Output.concat("arn:", aws.get_partition_output(opts=opts).partition, ":s3:::", bucket_name)


_ASCII_ALPHANUMERIC = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


def physical_name(raw: str, limit: int = 64, allowed: str = "-_") -> str:
    """`raw` as a name of ASCII letters, digits and `allowed` (anything else becomes '-'), at most `limit`
    characters (default: Lambda function names, [A-Za-z0-9-_]{1,64}). A longer name is cut and ends in a hash
    of the whole, so two names that differ only beyond the limit stay different."""
    cleaned = "".join(c if c in _ASCII_ALPHANUMERIC or c in allowed else "-" for c in raw)
    if len(cleaned) <= limit:
        return cleaned
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
    return f"{cleaned[: limit - len(digest) - 1]}-{digest}"


def stack_scoped_name(name: str, limit: int = 64, allowed: str = "-_") -> str:
    """`<project>-<stack>-<name>` as a physical name: unique per stack for account-wide (or bucket-wide) names
    that Pulumi does not auto-name, so two stacks in one account never share or overwrite them."""
    return physical_name(f"{pulumi.get_project()}-{pulumi.get_stack()}-{name}", limit, allowed)


def service_grant(
    ctx: AwsContext,
    *,
    sid: str,
    service: str,
    actions: Sequence[str],
    resources: Sequence[Any],
    source_arn: Any | None,
    extra_conditions: dict[str, dict[str, Any]] | None = None,
) -> Statement:
    """Allow an AWS service principal, only on behalf of our account (and, when given, one source ARN)."""
    condition: dict[str, dict[str, Any]] = {"StringEquals": {"aws:SourceAccount": ctx.account_id}}
    if source_arn is not None:
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    for operator, values in (extra_conditions or {}).items():
        condition.setdefault(operator, {}).update(values)
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": list(actions),
        "Resource": list(resources) if len(resources) > 1 else resources[0],
        "Condition": condition,
    }


def allow(
    sid: str, actions: Sequence[str], resources: Sequence[Any], condition: dict | None = None
) -> Statement:
    """An identity-policy statement: explicit actions on explicit resources."""
    statement: Statement = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": list(actions),
        "Resource": list(resources),
    }
    if condition:
        statement["Condition"] = condition
    return statement


def policy_document(statements: Sequence[Statement]) -> pulumi.Output[str]:
    """A policy of `statements`, whose Sids are checked here, before `pulumi up` would reject them: ASCII
    letters and digits only, unique within the policy (IAM JSON policy elements: Sid)."""
    seen: set[str] = set()
    for statement in statements:
        sid = statement.get("Sid")
        if sid is None:
            continue
        if not (isinstance(sid, str) and IAM_SID_PATTERN.fullmatch(sid)):
            raise ValueError(f"policy statement Sid {sid!r}: IAM allows only ASCII letters and digits")
        if sid in seen:
            raise ValueError(
                f"policy statement Sid {sid!r} appears twice; IAM requires unique Sids per policy"
            )
        seen.add(sid)
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _deny_insecure_transport(action: str, resources: Sequence[Any]) -> Statement:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": action,
        "Resource": list(resources),
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


# ------------------------------------------------------------------------------------------- bucket
@dataclass(frozen=True)
class ExpiryRule:
    """Objects under `prefix` expire `days` after creation (generated artefacts)."""

    rule_id: str
    prefix: str
    days: int


@dataclass
class SecureBucket:
    bucket: aws.s3.Bucket
    public_access_block: aws.s3.BucketPublicAccessBlock
    encryption: aws.s3.BucketServerSideEncryptionConfiguration
    ownership: aws.s3.BucketOwnershipControls
    versioning: aws.s3.BucketVersioning | None
    lifecycle: aws.s3.BucketLifecycleConfiguration | None
    policy: aws.s3.BucketPolicy


def secure_bucket(
    name: str,
    parent: pulumi.Resource,
    *,
    versioned: bool = False,
    force_destroy: bool = False,
    expiry_rules: Sequence[ExpiryRule] = (),
    noncurrent_expire_days: int | None = None,
    extra_statements: Callable[[pulumi.Output[str]], Sequence[Statement]] | None = None,
) -> SecureBucket:
    """A private, encrypted, TLS-only bucket whose ONE policy also carries `extra_statements(bucket_arn)`.

    `expiry_rules` expire generated objects by prefix; `noncurrent_expire_days` (versioned buckets only)
    expires every object's noncurrent versions that many days after they were replaced or deleted, removes the
    delete markers left without versions and aborts incomplete multipart uploads, bucket-wide.
    """
    if noncurrent_expire_days is not None and not versioned:
        raise ValueError(f"{name}: noncurrent_expire_days needs a versioned bucket")
    opts = pulumi.ResourceOptions(parent=parent)
    bucket = aws.s3.Bucket(name, force_destroy=force_destroy, opts=opts)
    public_access_block = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
    encryption = aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket.id,
        rules=[
            # SSE-S3: S3 Inventory and S3 Batch reports can write to it without a KMS key policy.
            {
                "apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"},
                "bucket_key_enabled": True,
            }
        ],
        opts=opts,
    )
    ownership = aws.s3.BucketOwnershipControls(
        f"{name}-ownership", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=opts
    )
    versioning = (
        aws.s3.BucketVersioning(
            f"{name}-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=opts
        )
        if versioned
        else None
    )
    lifecycle = None
    rules: list[dict[str, Any]] = [
        {
            "id": rule.rule_id,
            "status": "Enabled",
            "filter": {"prefix": rule.prefix},
            "expiration": {"days": rule.days},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
        }
        for rule in expiry_rules
    ]
    if noncurrent_expire_days is not None:
        # S3 lifecycle (Lifecycle configuration elements): NoncurrentVersionExpiration deletes old versions;
        # ExpiredObjectDeleteMarker (allowed only without Days/Date in the same Expiration) removes the delete
        # markers that are then left alone; AbortIncompleteMultipartUpload drops abandoned upload parts.
        rules.append(
            {
                "id": "expire-noncurrent-versions",
                "status": "Enabled",
                "filter": {"prefix": ""},
                "noncurrent_version_expiration": {"noncurrent_days": noncurrent_expire_days},
                "expiration": {"expired_object_delete_marker": True},
                "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
            }
        )
    if rules:
        lifecycle = aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=rules,
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[versioning] if versioning else None),
        )
    statements = [_deny_insecure_transport("s3:*", [bucket.arn, pulumi.Output.concat(bucket.arn, "/*")])]
    if extra_statements is not None:
        statements.extend(extra_statements(bucket.arn))
    policy = aws.s3.BucketPolicy(
        f"{name}-policy",
        bucket=bucket.id,
        policy=policy_document(statements),
        # The public access block first: it rejects nothing here, but the order avoids a race on creation.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[public_access_block]),
    )
    return SecureBucket(bucket, public_access_block, encryption, ownership, versioning, lifecycle, policy)


# ------------------------------------------------------------------------------------------- queue
@dataclass
class SecureQueue:
    queue: aws.sqs.Queue
    dead_letter_queue: aws.sqs.Queue | None
    policy: aws.sqs.QueuePolicy


def secure_queue(
    name: str,
    parent: pulumi.Resource,
    *,
    visibility_timeout_seconds: int = 30,
    max_receive_count: int | None = 5,
    retention_seconds: int = 4 * 24 * 3600,
    extra_statements: StatementsFor | None = None,
) -> SecureQueue:
    """An SQS-SSE queue with (unless max_receive_count is None) a DLQ, and ONE TLS-only QueuePolicy."""
    opts = pulumi.ResourceOptions(parent=parent)
    dlq = None
    redrive = None
    if max_receive_count is not None:
        dlq = aws.sqs.Queue(
            f"{name}-dlq",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=14 * 24 * 3600,  # the maximum: time for a person to look
            opts=opts,
        )
        redrive = pulumi.Output.json_dumps(
            {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": max_receive_count}
        )
    queue = aws.sqs.Queue(
        name,
        sqs_managed_sse_enabled=True,
        visibility_timeout_seconds=visibility_timeout_seconds,
        message_retention_seconds=retention_seconds,
        redrive_policy=redrive,
        opts=opts,
    )
    statements = [_deny_insecure_transport("sqs:*", [queue.arn])]
    if extra_statements is not None:
        statements.extend(extra_statements(queue.arn))
    policy = aws.sqs.QueuePolicy(
        f"{name}-policy", queue_url=queue.url, policy=policy_document(statements), opts=opts
    )
    return SecureQueue(queue, dlq, policy)


# ------------------------------------------------------------------------------------------- topic
@dataclass
class SecureTopic:
    topic: aws.sns.Topic
    key: aws.kms.Key | None
    policy: aws.sns.TopicPolicy


def secure_topic(
    name: str,
    parent: pulumi.Resource,
    ctx: AwsContext,
    *,
    publisher_service: str | None = None,
    publisher_source_arns: Sequence[Any] = (),
    extra_statements: StatementsFor | None = None,
    topic_name: str | None = None,
) -> SecureTopic:
    """An encrypted topic with ONE TopicPolicy.

    AWS services that publish to an encrypted topic (S3 event notifications, CloudWatch alarms) need
    kms:GenerateDataKey*/Decrypt on its key, which the AWS managed key `alias/aws/sns` never grants them. So
    when `publisher_service` is given the topic gets a customer managed key (rotation on) whose policy
    allows that service, with source conditions; otherwise `alias/aws/sns`.
    """
    opts = pulumi.ResourceOptions(parent=parent)
    key = None
    kms_key_id: Any = "alias/aws/sns"
    if publisher_service is not None:
        key_statements = [
            {
                # Account administrators manage the key through IAM (the default key policy).
                "Sid": "AccountAdministration",
                "Effect": "Allow",
                "Principal": {
                    "AWS": pulumi.Output.concat("arn:", ctx.partition, ":iam::", ctx.account_id, ":root")
                },
                "Action": "kms:*",
                "Resource": "*",  # in a key policy, "*" means this key
            },
            {
                "Sid": "AllowPublisherToEncrypt",
                "Effect": "Allow",
                "Principal": {"Service": publisher_service},
                "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                "Resource": "*",  # in a key policy, "*" means this key
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": ctx.account_id},
                    **(
                        {"ArnLike": {"aws:SourceArn": list(publisher_source_arns)}}
                        if publisher_source_arns
                        else {}
                    ),
                },
            },
        ]
        key = aws.kms.Key(
            f"{name}-key",
            description=f"Encrypts SNS topic {name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=policy_document(key_statements),
            opts=opts,
        )
        kms_key_id = key.arn
    topic = aws.sns.Topic(name, name=topic_name, kms_master_key_id=kms_key_id, opts=opts)
    statements: list[Statement] = [_deny_insecure_transport("sns:Publish", [topic.arn])]
    if extra_statements is not None:
        statements.extend(extra_statements(topic.arn))
    policy = aws.sns.TopicPolicy(
        f"{name}-policy", arn=topic.arn, policy=policy_document(statements), opts=opts
    )
    return SecureTopic(topic, key, policy)


# ------------------------------------------------------------------------------------------- table
def secure_table(
    name: str,
    parent: pulumi.Resource,
    *,
    hash_key: str,
    range_key: str | None,
    global_secondary_indexes: Sequence[tuple[str, str, str | None]] = (),
    ttl_attribute: str | None = None,
    deletion_protection: bool = True,
) -> aws.dynamodb.Table:
    """On-demand table with point-in-time recovery, KMS encryption and (optionally) TTL; string keys."""
    attribute_names = [hash_key] + ([range_key] if range_key else [])
    for _, pk, sk in global_secondary_indexes:
        attribute_names += [pk] + ([sk] if sk else [])
    attributes = [{"name": n, "type": "S"} for n in dict.fromkeys(attribute_names)]
    return aws.dynamodb.Table(
        name,
        billing_mode="PAY_PER_REQUEST",
        hash_key=hash_key,
        range_key=range_key,
        attributes=attributes,
        global_secondary_indexes=[
            {
                "name": index,
                "key_schemas": [{"attribute_name": pk, "key_type": "HASH"}]
                + ([{"attribute_name": sk, "key_type": "RANGE"}] if sk else []),
                "projection_type": "ALL",
            }
            for index, pk, sk in global_secondary_indexes
        ],
        point_in_time_recovery={"enabled": True},
        server_side_encryption={"enabled": True},
        ttl={"attribute_name": ttl_attribute, "enabled": True} if ttl_attribute else None,
        deletion_protection_enabled=deletion_protection,
        opts=pulumi.ResourceOptions(parent=parent),
    )


# ------------------------------------------------------------------------------------------- function
@dataclass
class SecureFunction:
    function: aws.lambda_.Function
    role: aws.iam.Role
    role_policy: aws.iam.RolePolicy
    log_group: aws.cloudwatch.LogGroup
    layer: aws.lambda_.LayerVersion | None
    layer_object: aws.s3.BucketObjectv2 | None


# Lambda's application log levels ("Log-level filtering",
# https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html: TRACE, DEBUG, INFO,
# WARN, ERROR, FATAL), by the Python logging name Powertools' LOG_LEVEL / POWERTOOLS_LOG_LEVEL take.
LAMBDA_APPLICATION_LOG_LEVELS = {
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "WARNING": "WARN",
    "ERROR": "ERROR",
    "CRITICAL": "FATAL",
}
# Lambda's own (platform) log lines: INFO keeps START/REPORT (duration, memory, init time), which WARN drops;
# DEBUG adds only extension and telemetry events this project does not use (allowed: DEBUG, INFO, WARN).
LAMBDA_SYSTEM_LOG_LEVEL = "INFO"


@dataclass(frozen=True)
class LambdaOptions:
    """Settings shared by every function of a stack."""

    runtime: str = "python3.12"
    """Lambda Python runtime."""
    architecture: str = "arm64"
    """arm64 or x86_64; dependency bundles are built for it."""
    log_retention_days: int = 30
    """CloudWatch Logs retention of each function's log group."""
    log_level: str = "INFO"
    """Python logging level name (DEBUG, INFO, WARNING, ERROR, CRITICAL) of the handlers: LOG_LEVEL /
    POWERTOOLS_LOG_LEVEL, and the same level as each function's Lambda application log level."""
    metrics_namespace: str = "BulkLoader"
    """POWERTOOLS_METRICS_NAMESPACE."""

    def __post_init__(self) -> None:
        if self.log_level not in LAMBDA_APPLICATION_LOG_LEVELS:
            raise ValueError(
                f"LambdaOptions.log_level: one of {', '.join(LAMBDA_APPLICATION_LOG_LEVELS)}, got "
                f"{self.log_level!r}"
            )

    def function_spec(
        self, handler_package: str, *, timeout_seconds: int, memory_mb: int, **options: Any
    ) -> FunctionSpec:
        """The FunctionSpec of one function: the stack-wide runtime, architecture and log retention, plus
        its own sizing (`options`: any other FunctionSpec field)."""
        return FunctionSpec(
            handler_package=handler_package,
            runtime=self.runtime,
            architecture=self.architecture,
            timeout_seconds=timeout_seconds,
            memory_mb=memory_mb,
            log_retention_days=self.log_retention_days,
            application_log_level=LAMBDA_APPLICATION_LOG_LEVELS[self.log_level],
            **options,
        )

    def powertools_env(self, service: str) -> dict[str, str]:
        return {
            "POWERTOOLS_SERVICE_NAME": service,
            "POWERTOOLS_METRICS_NAMESPACE": self.metrics_namespace,
            "LOG_LEVEL": self.log_level,
            "POWERTOOLS_LOG_LEVEL": self.log_level,
        }


@dataclass(frozen=True)
class FunctionSpec:
    """What `secure_function` needs to know about one Lambda function (plain values, decided up front)."""

    handler_package: str
    """Folder under handlers/ (e.g. `batch_qualifier`); handler path `handlers.<package>.app.handler`."""
    runtime: str
    architecture: str
    timeout_seconds: int
    memory_mb: int
    log_retention_days: int
    application_log_level: str = "INFO"
    """Lambda's application log level (TRACE, DEBUG, INFO, WARN, ERROR, FATAL); must name the same level as
    the handler's POWERTOOLS_LOG_LEVEL (see `secure_function`)."""
    reserved_concurrency: int | None = None
    ephemeral_storage_mb: int = 512
    """Ephemeral storage size in MB (Lambda's default and minimum is 512)."""
    function_name: str | None = None
    """Physical function name; None lets Pulumi auto-name (set it when a policy must name the function
    before it exists, e.g. a function that invokes itself)."""


def secure_function(
    name: str,
    parent: pulumi.Resource,
    ctx: AwsContext,
    spec: FunctionSpec,
    *,
    environment: dict[str, Any],
    statements: Sequence[Statement],
    artifacts_bucket: Callable[[], aws.s3.Bucket] | None = None,
) -> SecureFunction:
    """A traced function with its own log group, a role with ONE inline policy, and its deps as a layer.

    `artifacts_bucket` is called (once, lazily) only when the dependency layer is too big for a direct
    upload; the layer zip then goes through an S3 object in that bucket.
    """
    opts = pulumi.ResourceOptions(parent=parent)
    function_name = spec.function_name
    log_group = aws.cloudwatch.LogGroup(
        f"{name}-logs",
        # With an explicit function name, Lambda's own log group name; otherwise a custom log group that the
        # function's logging_config points at.
        name=f"/aws/lambda/{function_name}" if function_name else None,
        retention_in_days=spec.log_retention_days,
        opts=opts,
    )
    role = aws.iam.Role(
        f"{name}-role",
        # Lambda's execution-role trust is the documented exception to source conditions: Lambda does not
        # send aws:SourceArn/aws:SourceAccount when it assumes the role, so a condition would lock it out.
        assume_role_policy=policy_document(
            [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ]
        ),
        opts=opts,
    )
    all_statements = [
        allow(
            "WriteOwnLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [pulumi.Output.concat(log_group.arn, ":*")],
        ),
        # X-Ray's trace APIs have no resource-level permissions: "*" is the only valid resource.
        allow("XRayTracing", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"]),
        *statements,
    ]
    role_policy = aws.iam.RolePolicy(
        f"{name}-policy", role=role.id, policy=policy_document(all_statements), opts=opts
    )

    layer = None
    layer_object = None
    bundle = packaging.deps_bundle(spec.handler_package, spec.runtime, spec.architecture)
    if bundle.requirements:
        packaging.build_deps(bundle)
        layer_args: dict[str, Any] = {}
        if bundle.zip_path.stat().st_size > packaging.DIRECT_UPLOAD_LIMIT_BYTES:
            if artifacts_bucket is None:
                raise packaging.PackagingError(
                    f"{name}: dependency layer {bundle.zip_path} exceeds the 50 MB direct upload limit "
                    "and no artifacts bucket was provided"
                )
            bucket = artifacts_bucket()
            layer_object = aws.s3.BucketObjectv2(
                f"{name}-deps-object",
                bucket=bucket.id,
                key=f"lambda-layers/{spec.handler_package}-{bundle.key}.zip",
                source=pulumi.FileAsset(str(bundle.zip_path)),
                opts=opts,
            )
            layer_args = {"s3_bucket": layer_object.bucket, "s3_key": layer_object.key}
        else:
            layer_args = {"code": pulumi.FileArchive(str(bundle.zip_path))}
        layer = aws.lambda_.LayerVersion(
            f"{name}-deps",
            # Layer names are account-wide: scoped to the stack so two stacks never publish versions of one
            # layer. PublishLayerVersion allows [a-zA-Z0-9-_]{1,140}, but the layer ARN (which holds the name)
            # is limited to 140 characters too, so 64 keeps every partition's and region's ARN in bounds.
            layer_name=stack_scoped_name(f"{name}-deps"),
            compatible_runtimes=[spec.runtime],
            compatible_architectures=[spec.architecture],
            description=f"{spec.handler_package} runtime dependencies ({bundle.key})",
            **layer_args,
            opts=opts,
        )

    code = packaging.code_archive(spec.handler_package)
    function = aws.lambda_.Function(
        name,
        name=function_name,
        runtime=spec.runtime,
        architectures=[spec.architecture],
        handler=f"handlers.{spec.handler_package}.app.handler",
        code=pulumi.FileArchive(str(code)),
        role=role.arn,
        timeout=spec.timeout_seconds,
        memory_size=spec.memory_mb,
        ephemeral_storage={"size": spec.ephemeral_storage_mb},
        reserved_concurrent_executions=spec.reserved_concurrency,
        layers=[layer.arn] if layer else None,
        environment={"variables": environment},
        tracing_config={"mode": "Active"},
        # JSON format is what makes Lambda filter by level at all. With an application log level set, Lambda
        # also sets AWS_LAMBDA_LOG_LEVEL, which Powertools' Logger prefers over POWERTOOLS_LOG_LEVEL; without
        # it, Lambda filters at its default INFO and a stack's DEBUG never reaches CloudWatch. Both come from
        # the one stack setting (lambda.logLevel), so neither filters what the other emits.
        logging_config={
            "log_format": "JSON",
            "log_group": log_group.name,
            "application_log_level": spec.application_log_level,
            "system_log_level": LAMBDA_SYSTEM_LOG_LEVEL,
        },
        # The role's policy must exist before the first invocation can log or read anything.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[role_policy, log_group]),
    )
    return SecureFunction(function, role, role_policy, log_group, layer, layer_object)
