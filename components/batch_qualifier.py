"""BatchQualifier: the function S3 Batch Operations invokes per object; qualifies it and queues it."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from handlers.batch_qualifier.settings import Settings as QualifierEnv

from .iam import allow
from .lambda_function import FunctionOptions, powertools_env, secure_function
from .names import lambda_function_arn, physical_name, s3_bucket_arn
from .sections import BatchQualifierSettings, LambdaSettings, SharedSettings


@dataclass
class BatchQualifierArgs:
    """Inputs of a BatchQualifier: what it is wired to, plus its stack section."""

    image_bucket_name: pulumi.Input[str]
    """The bucket whose objects S3 Batch hands over."""
    image_bucket_arn: pulumi.Input[str]
    """ARN of the image bucket (for the role's object permissions)."""
    queue_arn: pulumi.Input[str]
    """The indexer's input queue (ThrottledIndexer's, or an existing one)."""
    queue_url: pulumi.Input[str]
    """URL of the same queue."""
    lambda_settings: LambdaSettings
    """Runtime, architecture, log retention/level shared by every function."""
    settings: BatchQualifierSettings = field(default_factory=BatchQualifierSettings)
    """The `bulk-loader:batchQualifier` section (provider, concurrency, sizing, extra statements)."""
    shared: SharedSettings = field(default_factory=SharedSettings)
    """Settings the functions share (image suffixes, history TTL)."""
    history_table_name: pulumi.Input[str] | None = None
    """Import-history table; None: the qualifier writes no history."""
    history_table_arn: pulumi.Input[str] | None = None
    """ARN of the history table; given together with history_table_name."""


class BatchQualifier(pulumi.ComponentResource):
    """The `batch_qualifier` function with reserved concurrency and a least-privilege role."""

    @staticmethod
    def physical_function_name(name: str) -> str:
        """The function's physical name: fixed, so S3 Batch's role (InventoryPipeline) can name its ARN before
        the function exists, although the function reads the image bucket that the pipeline may create."""
        return physical_name(f"{pulumi.get_project()}-{pulumi.get_stack()}-batch-{name}")

    @staticmethod
    def function_arn_for(name: str) -> pulumi.Output[str]:
        return lambda_function_arn(BatchQualifier.physical_function_name(name))

    def __init__(
        self, name: str, args: BatchQualifierArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("bulkloader:index:BatchQualifier", name, None, opts)
        if (args.history_table_name is None) != (args.history_table_arn is None):
            raise ValueError("BatchQualifierArgs.history_table_name/history_table_arn: give both or neither")
        section = args.settings
        bucket_arns = tuple(s3_bucket_arn(bucket, self) for bucket in section.properties_buckets)
        image_objects = pulumi.Output.concat(args.image_bucket_arn, "/*")
        properties_objects = [
            pulumi.Output.concat(arn, "/*") for arn in (bucket_arns or (args.image_bucket_arn,))
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
            allow("ListBuckets", ["s3:ListBucket"], [args.image_bucket_arn, *bucket_arns]),
            allow("SendToIndexer", ["sqs:SendMessage"], [args.queue_arn]),
        ]
        if args.history_table_arn is not None:
            statements.append(
                allow(
                    "WriteHistory",
                    ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                    [args.history_table_arn],
                )
            )
        for index, extra in enumerate(section.extra_policy_statements):
            statements.append({"Sid": f"Provider{index}", **extra})
        environment = QualifierEnv.to_environment(
            {
                **section.values_for(QualifierEnv),
                **args.shared.values_for(QualifierEnv),
                "queue_url": args.queue_url,
                "history_table": args.history_table_name,
            }
        )

        self.function = secure_function(
            f"{name}-function",
            self,
            args.lambda_settings,
            FunctionOptions(
                "batch_qualifier",
                timeout_seconds=section.timeout_seconds,
                memory_mb=section.memory_mb,
                reserved_concurrency=section.reserved_concurrency,
                function_name=self.physical_function_name(name),
            ),
            environment={**environment, **powertools_env(args.lambda_settings, "batch_qualifier")},
            statements=statements,
        )
        self.function_name = self.function.function.name
        self.function_arn = self.function.function.arn
        # The stack outputs this component contributes, by their stack output names.
        self.stack_outputs: dict[str, pulumi.Input[str]] = {
            "batch_function_name": self.function_name,
            "batch_function_arn": self.function_arn,
            "batch_function_role_arn": self.function.role.arn,
        }
        self.register_outputs(self.stack_outputs)
