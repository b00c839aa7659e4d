"""BatchQualifier: the function S3 Batch Operations invokes per object; qualifies it and queues it. It also
owns the image bucket's tag-change route (EventBridge rule -> tag-events queue + DLQ -> the same function)
and the alarm on that DLQ (`bulk-loader redrive --tag-events` moves its messages back)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from handlers.batch_qualifier.settings import Settings as QualifierEnv
from handlers.common.contracts import TAG_EVENT_TYPES

from .alarms import queue_not_empty_alarm
from .builders import SecureQueue, secure_queue
from .iam import allow, rule_may_send
from .lambda_function import FunctionOptions, powertools_env, secure_function
from .names import aws_context, lambda_function_arn, physical_name, s3_bucket_arn
from .sections import BatchQualifierSettings, LambdaSettings, SharedSettings
from .throttled_indexer import VISIBILITY_TIMEOUT_FACTOR

# Tag events are few next to an inventory's tasks: two workers (Lambda's minimum for an SQS mapping) leave
# most of the reserved concurrency to S3 Batch jobs; a message left waiting is polled again.
TAG_EVENTS_MAX_CONCURRENCY = 2
TAG_EVENTS_BATCH_SIZE = 10


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
    alarm_actions: tuple[pulumi.Input[str], ...] = ()
    """Targets of the tag-events DLQ alarm (empty: an alarm without actions)."""


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
        self.tag_events_rule: aws.cloudwatch.EventRule | None = None
        self.tag_events_queue: SecureQueue | None = None
        if section.tag_events:
            self.tag_events_rule, self.tag_events_queue = self._tag_events_route(name, args)
            statements.append(
                allow(
                    "ConsumeTagEvents",
                    [
                        "sqs:ReceiveMessage",
                        "sqs:DeleteMessage",
                        "sqs:GetQueueAttributes",
                        "sqs:ChangeMessageVisibility",
                    ],
                    [self.tag_events_queue.queue.arn],
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
        self.tag_events_target: aws.cloudwatch.EventTarget | None = None
        self.tag_events_mapping: aws.lambda_.EventSourceMapping | None = None
        if self.tag_events_rule is not None and self.tag_events_queue is not None:
            self.tag_events_target = aws.cloudwatch.EventTarget(
                f"{name}-tag-events-target",
                rule=self.tag_events_rule.name,
                arn=self.tag_events_queue.queue.arn,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.tag_events_queue.policy]),
            )
            self.tag_events_mapping = aws.lambda_.EventSourceMapping(
                f"{name}-tag-events-mapping",
                event_source_arn=self.tag_events_queue.queue.arn,
                function_name=self.function_arn,
                batch_size=TAG_EVENTS_BATCH_SIZE,
                scaling_config={"maximum_concurrency": TAG_EVENTS_MAX_CONCURRENCY},
                function_response_types=["ReportBatchItemFailures"],
                # Lambda checks the role can read the queue when the mapping is created.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.function.role_policy]),
            )
        # The stack outputs this component contributes, by their stack output names.
        self.stack_outputs: dict[str, pulumi.Input[str]] = {
            "batch_function_name": self.function_name,
            "batch_function_arn": self.function_arn,
            "batch_function_role_arn": self.function.role.arn,
        }
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        if self.tag_events_queue is not None:
            dead_letters = self.tag_events_queue.dead_letter_queue
            assert dead_letters is not None  # secure_queue made one
            self.stack_outputs["tag_events_queue_url"] = self.tag_events_queue.queue.url
            self.stack_outputs["tag_events_dlq_url"] = dead_letters.url
            self.alarms["tag-events-dlq-not-empty"] = queue_not_empty_alarm(
                f"{name}-tag-events-dlq-not-empty",
                self,
                dead_letters,
                list(args.alarm_actions),
                "Tag-change events the qualifier gave up on are waiting in the tag-events DLQ",
            )
        self.register_outputs(self.stack_outputs)

    def _tag_events_route(
        self, name: str, args: BatchQualifierArgs
    ) -> tuple[aws.cloudwatch.EventRule, SecureQueue]:
        """S3's "Object Tags Added" / "Object Tags Deleted" events of the image bucket (S3 User Guide, "Using
        EventBridge": event types), and their queue, which only this rule may send to."""
        rule = aws.cloudwatch.EventRule(
            f"{name}-tag-changes",
            description="Image-bucket tag changes, to re-qualify the object",
            event_pattern=pulumi.Output.json_dumps(
                {
                    "source": ["aws.s3"],
                    "detail-type": list(TAG_EVENT_TYPES),
                    "detail": {"bucket": {"name": [args.image_bucket_name]}},
                }
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        ctx = aws_context(self)
        queue = secure_queue(
            f"{name}-tag-events",
            self,
            visibility_timeout_seconds=VISIBILITY_TIMEOUT_FACTOR * args.settings.timeout_seconds,
            extra_statements=rule_may_send(ctx, "AllowTagEventsRule", rule.arn),
        )
        return rule, queue
