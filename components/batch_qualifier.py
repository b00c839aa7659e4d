"""BatchQualifier: the function S3 Batch Operations invokes per object; qualifies it and queues it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi

from .config import LambdaSettings
from .iam import allow
from .lambda_function import FunctionOptions, powertools_env, secure_function


@dataclass
class BatchQualifierArgs:
    """Inputs of a BatchQualifier."""

    image_bucket_name: pulumi.Input[str]
    """The bucket whose objects S3 Batch hands over."""
    image_bucket_arn: pulumi.Input[str]
    """ARN of the image bucket (for the role's object permissions)."""
    queue_arn: pulumi.Input[str]
    """The indexer's input queue (ThrottledIndexer's, or an existing one)."""
    queue_url: pulumi.Input[str]
    """URL of the same queue (env QUEUE_URL)."""
    image_suffixes: tuple[str, ...]
    """Object key suffixes that count as images."""
    lambda_settings: LambdaSettings
    """Runtime, architecture, log retention/level shared by every function."""
    history_table_name: pulumi.Input[str] | None = None
    """Import-history table; None: the qualifier writes no history."""
    history_table_arn: pulumi.Input[str] | None = None
    """ARN of the history table; given together with history_table_name."""
    history_ttl_days: int = 14
    """Non-success history records expire after this many days."""
    provider: str = "s3-tags"
    """Registration provider: `s3-tags`, `dynamodb-mapping` or `package.module:Class`."""
    provider_config: dict[str, Any] = field(default_factory=dict)
    """JSON object handed to the provider (env REGISTRATION_PROVIDER_CONFIG)."""
    properties_bucket_arns: tuple[pulumi.Input[str], ...] = ()
    """Buckets holding `Properties` JSON objects; empty: the image bucket."""
    extra_policy_statements: tuple[dict[str, Any], ...] = ()
    """IAM statements a custom provider needs (already validated: Allow, explicit actions, ARNs)."""
    reserved_concurrency: int = 10
    """Caps concurrent qualifications (and so the load on the registration source)."""
    timeout_seconds: int = 60
    """Function timeout (S3 Batch waits for each task)."""
    memory_mb: int = 256
    """Function memory."""
    function_name: str | None = None
    """Physical function name; set it when another resource needs the ARN before the function exists
    (e.g. InventoryPipeline's batch role). None lets Pulumi auto-name it."""


class BatchQualifier(pulumi.ComponentResource):
    """The `batch_qualifier` function with reserved concurrency and a least-privilege role."""

    def __init__(
        self, name: str, args: BatchQualifierArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("bulkloader:index:BatchQualifier", name, None, opts)
        if (args.history_table_name is None) != (args.history_table_arn is None):
            raise ValueError("BatchQualifierArgs.history_table_name/history_table_arn: give both or neither")
        if not args.image_suffixes:
            raise ValueError("BatchQualifierArgs.image_suffixes: at least one suffix is required")
        if args.reserved_concurrency < 1:
            raise ValueError("BatchQualifierArgs.reserved_concurrency: must be >= 1")
        image_objects = pulumi.Output.concat(args.image_bucket_arn, "/*")
        properties_objects = [
            pulumi.Output.concat(arn, "/*")
            for arn in (args.properties_bucket_arns or (args.image_bucket_arn,))
        ]
        statements = [
            allow(
                "ReadImagesAndTags",
                ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"],
                [image_objects],
            ),
            allow("ReadProperties", ["s3:GetObject", "s3:GetObjectVersion"], properties_objects),
            # Without ListBucket S3 answers 403 for a missing object; with it, 404, so a deleted image or
            # Properties object is reported as missing, not as a permission problem.
            allow("ListBuckets", ["s3:ListBucket"], [args.image_bucket_arn, *args.properties_bucket_arns]),
            allow("SendToIndexer", ["sqs:SendMessage"], [args.queue_arn]),
        ]
        environment: dict[str, Any] = {
            "QUEUE_URL": args.queue_url,
            "REGISTRATION_PROVIDER": args.provider,
            "REGISTRATION_PROVIDER_CONFIG": json.dumps(args.provider_config, sort_keys=True),
            "IMAGE_SUFFIXES": ",".join(args.image_suffixes),
            "HISTORY_TTL_DAYS": str(args.history_ttl_days),
            **powertools_env(args.lambda_settings, "batch_qualifier"),
        }
        if args.history_table_name is not None:
            environment["HISTORY_TABLE"] = args.history_table_name
            statements.append(
                allow(
                    "WriteHistory",
                    ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                    [args.history_table_arn],
                )
            )
        for index, extra in enumerate(args.extra_policy_statements):
            statements.append({"Sid": f"Provider{index}", **extra})

        self.function = secure_function(
            f"{name}-function",
            self,
            args.lambda_settings,
            FunctionOptions(
                "batch_qualifier",
                timeout_seconds=args.timeout_seconds,
                memory_mb=args.memory_mb,
                reserved_concurrency=args.reserved_concurrency,
                function_name=args.function_name,
            ),
            environment=environment,
            statements=statements,
        )
        self.function_name = self.function.function.name
        self.function_arn = self.function.function.arn
        self.register_outputs(
            {
                "function_name": self.function_name,
                "function_arn": self.function_arn,
                "role_arn": self.function.role.arn,
            }
        )
