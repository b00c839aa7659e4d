"""A Lambda function with everything it needs: its own log group with retention, X-Ray active tracing, JSON
logs filtered at the stack's level, a role with ONE inline policy built from the statements passed in, its
code archive and its third-party dependencies as a layer (both built by packaging.py).

Two inputs describe a function: the stack-wide `LambdaSettings` (components/config.py: runtime,
architecture, log retention and level, metrics namespace) and this function's `FunctionOptions`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from handlers.common.shared_settings import PowertoolsSettings

from . import defaults, packaging
from .defaults import Statement
from .iam import allow, policy_document
from .names import stack_scoped_name
from .sections import LambdaSettings


@dataclass(frozen=True)
class FunctionOptions:
    """What one function is, beyond the stack-wide LambdaSettings (plain values, decided up front)."""

    handler_package: str
    """Folder under handlers/ (e.g. `batch_qualifier`); handler path `handlers.<package>.app.handler`."""
    timeout_seconds: int
    """Function timeout."""
    memory_mb: int
    """Function memory."""
    reserved_concurrency: int | None = None
    """Reserved concurrent executions; None: the account's unreserved pool."""
    ephemeral_storage_mb: int = defaults.LAMBDA_EPHEMERAL_STORAGE_MB
    """Ephemeral storage (the function's temporary directory) in MB."""
    function_name: str | None = None
    """Physical function name; None lets Pulumi auto-name (set it when a policy must name the function
    before it exists, e.g. a function that invokes itself)."""


def powertools_env(settings: LambdaSettings, service: str) -> dict[str, str]:
    """The Powertools variables of one function: its service name, the stack's namespace and log level
    (declared once, in handlers/common/shared_settings.py)."""
    return PowertoolsSettings.to_environment(
        {
            "service": service,
            "metrics_namespace": settings.metrics_namespace,
            "log_level": settings.log_level,
            "powertools_log_level": settings.log_level,
        }
    )


@dataclass
class SecureFunction:
    function: aws.lambda_.Function
    role: aws.iam.Role
    role_policy: aws.iam.RolePolicy
    log_group: aws.cloudwatch.LogGroup
    layer: aws.lambda_.LayerVersion | None
    layer_object: aws.s3.BucketObjectv2 | None


def secure_function(
    name: str,
    parent: pulumi.Resource,
    settings: LambdaSettings,
    options: FunctionOptions,
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
    function_name = options.function_name
    log_group = aws.cloudwatch.LogGroup(
        f"{name}-logs",
        # With an explicit function name, Lambda's own log group name; otherwise a custom log group that the
        # function's logging_config points at.
        name=f"/aws/lambda/{function_name}" if function_name else None,
        retention_in_days=settings.log_retention_days,
        opts=opts,
    )
    role = aws.iam.Role(
        f"{name}-role", assume_role_policy=policy_document([defaults.LAMBDA_TRUST_STATEMENT]), opts=opts
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
    layer, layer_object = _dependency_layer(name, parent, settings, options, artifacts_bucket)

    code = packaging.code_archive(options.handler_package)
    function = aws.lambda_.Function(
        name,
        name=function_name,
        runtime=settings.runtime,
        architectures=[settings.architecture],
        handler=f"handlers.{options.handler_package}.app.handler",
        code=pulumi.FileArchive(str(code)),
        role=role.arn,
        timeout=options.timeout_seconds,
        memory_size=options.memory_mb,
        ephemeral_storage={"size": options.ephemeral_storage_mb},
        reserved_concurrent_executions=options.reserved_concurrency,
        layers=[layer.arn] if layer else None,
        environment={"variables": environment},
        tracing_config=defaults.LAMBDA_TRACING,
        # With an application log level set, Lambda also sets AWS_LAMBDA_LOG_LEVEL, which Powertools' Logger
        # prefers over POWERTOOLS_LOG_LEVEL; without it, Lambda filters at its default INFO and a stack's
        # DEBUG never reaches CloudWatch. Both come from the one stack setting (lambda.logLevel), so neither
        # filters what the other emits.
        logging_config={
            "log_format": defaults.LAMBDA_LOG_FORMAT,
            "log_group": log_group.name,
            "application_log_level": defaults.LAMBDA_APPLICATION_LOG_LEVELS[settings.log_level],
            "system_log_level": defaults.LAMBDA_SYSTEM_LOG_LEVEL,
        },
        # The role's policy must exist before the first invocation can log or read anything.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[role_policy, log_group]),
    )
    return SecureFunction(function, role, role_policy, log_group, layer, layer_object)


def _dependency_layer(
    name: str,
    parent: pulumi.Resource,
    settings: LambdaSettings,
    options: FunctionOptions,
    artifacts_bucket: Callable[[], aws.s3.Bucket] | None,
) -> tuple[aws.lambda_.LayerVersion | None, aws.s3.BucketObjectv2 | None]:
    """The function's third-party dependencies as a layer (None without requirements), uploaded directly or,
    above Lambda's direct-upload limit, through an object in the artifacts bucket."""
    bundle = packaging.deps_bundle(options.handler_package, settings.runtime, settings.architecture)
    if not bundle.requirements:
        return None, None
    packaging.build_deps(bundle)
    opts = pulumi.ResourceOptions(parent=parent)
    layer_object = None
    layer_args: dict[str, Any]
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
            key=f"lambda-layers/{options.handler_package}-{bundle.key}.zip",
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
        compatible_runtimes=[settings.runtime],
        compatible_architectures=[settings.architecture],
        description=f"{options.handler_package} runtime dependencies ({bundle.key})",
        **layer_args,
        opts=opts,
    )
    return layer, layer_object
