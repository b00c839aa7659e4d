"""ThrottledIndexer: input queue -> throttled_indexer (bounded concurrency) -> face index + import history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from .alarms import alarm_topic, function_errors_alarm, oldest_message_alarm, queue_not_empty_alarm
from .builders import SecureTopic, secure_queue, secure_table
from .existing import Handle, create_or_use
from .iam import allow, rule_may_send
from .lambda_function import FunctionOptions, powertools_env, secure_function
from .names import aws_context, physical_name, sns_topic_arn
from .sections import LambdaSettings, SharedSettings, ThrottledIndexerSettings

# The table's keys, declared once next to the handlers that read and write them. Installed as `bulk_loader`,
# handlers/ is the sibling package `bulk_loader.handlers`; in the source tree it is the top-level `handlers`
# (components/ is then top-level too, so the relative import has no parent package to climb to).
try:
    from ..handlers.common import history_schema  # type: ignore[import-not-found]  # source tree: no parent
except ImportError:
    from handlers.common import history_schema
from handlers.throttled_indexer.settings import MAX_VISIBILITY_SECONDS
from handlers.throttled_indexer.settings import Settings as IndexerEnv

# Lambda's guidance for SQS sources: visibility timeout at least 6x the function timeout, so a batch that is
# retried by Lambda's poller is not redelivered while still in flight.
VISIBILITY_TIMEOUT_FACTOR = 6


@dataclass
class ThrottledIndexerArgs:
    """Inputs of a ThrottledIndexer: what it is wired to, plus its stack section."""

    image_bucket_name: pulumi.Input[str]
    """The bucket holding the images."""
    image_bucket_arn: pulumi.Input[str]
    """ARN of the image bucket (for the role's object permissions)."""
    lambda_settings: LambdaSettings
    """Runtime, architecture, log retention/level shared by every function."""
    settings: ThrottledIndexerSettings = field(default_factory=ThrottledIndexerSettings)
    """The `bulk-loader:throttledIndexer` section (gateway, queue, sizing, alarms)."""
    shared: SharedSettings = field(default_factory=SharedSettings)
    """Settings the functions share (history TTL, maximum image size)."""
    properties_bucket_arns: tuple[pulumi.Input[str], ...] = ()
    """Buckets that `Properties` references (s3://bucket/key) may point into; empty: the image bucket."""


class ThrottledIndexer(pulumi.ComponentResource):
    """Queue + DLQ, the `throttled_indexer` function, import history, face collection, deletions, alarms."""

    @staticmethod
    def alarm_topic_name() -> str:
        """The created alarm topic's physical name: fixed, so other components (InventoryPipeline) can alarm
        to it before it exists."""
        return physical_name(f"{pulumi.get_project()}-{pulumi.get_stack()}-alarms", limit=256)

    @staticmethod
    def alarm_topic_arn() -> pulumi.Output[str]:
        return sns_topic_arn(ThrottledIndexer.alarm_topic_name())

    def __init__(
        self, name: str, args: ThrottledIndexerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("bulkloader:index:ThrottledIndexer", name, None, opts)
        section = args.settings
        if VISIBILITY_TIMEOUT_FACTOR * section.timeout_seconds > MAX_VISIBILITY_SECONDS:
            raise ValueError(
                "ThrottledIndexerArgs.settings.timeout_seconds: 6x it must fit SQS's 12-hour limit"
            )
        ctx = aws_context(self)
        child = pulumi.ResourceOptions(parent=self)

        # ---- import history
        self.history_table = secure_table(
            f"{name}-history",
            self,
            hash_key=history_schema.PARTITION_KEY,
            range_key=history_schema.SORT_KEY,
            global_secondary_indexes=history_schema.GLOBAL_SECONDARY_INDEXES,
            ttl_attribute=history_schema.TTL_ATTRIBUTE,
            deletion_protection=section.history_deletion_protection,
        )

        # ---- face collection (created or given) / HTTP gateway
        def create_collection() -> Handle[aws.rekognition.Collection]:
            faces = f"{pulumi.get_project()}-{pulumi.get_stack()}-{name}-faces"
            collection = aws.rekognition.Collection(
                f"{name}-collection", collection_id=_collection_name(faces), opts=child
            )
            return Handle(collection.collection_id, collection.arn, collection)

        collection: Handle[aws.rekognition.Collection] | None = None
        if section.gateway == "rekognition":
            collection = create_or_use(
                section.collection_id,
                use=lambda given: Handle(
                    pulumi.Output.from_input(given), ctx.arn("rekognition", f"collection/{given}")
                ),
                create=create_collection,
            )
        self.collection = collection.created if collection else None
        self.collection_id = collection.id if collection else None
        collection_arn = collection.arn if collection else None

        # ---- deletions from the image bucket, via EventBridge (the rule exists before the queue's policy)
        self.delete_rule: aws.cloudwatch.EventRule | None = None
        if section.delete_events:
            self.delete_rule = aws.cloudwatch.EventRule(
                f"{name}-deletions",
                description="Image-bucket object deletions, to deregister faces",
                event_pattern=pulumi.Output.json_dumps(
                    {
                        "source": ["aws.s3"],
                        "detail-type": ["Object Deleted"],
                        "detail": {"bucket": {"name": [args.image_bucket_name]}},
                    }
                ),
                opts=child,
            )
        rule = self.delete_rule

        # ---- input queue + DLQ, with its ONE policy (EventBridge may send, for our rule only)
        self.queue = secure_queue(
            f"{name}-queue",
            self,
            visibility_timeout_seconds=VISIBILITY_TIMEOUT_FACTOR * section.timeout_seconds,
            max_receive_count=section.max_receive_count,
            extra_statements=(
                rule_may_send(ctx, "AllowDeleteEventsRule", rule.arn) if rule is not None else None
            ),
        )
        self.delete_target: aws.cloudwatch.EventTarget | None = None
        if rule is not None:
            self.delete_target = aws.cloudwatch.EventTarget(
                f"{name}-deletions-target",
                rule=rule.name,
                arn=self.queue.queue.arn,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.queue.policy]),
            )

        # ---- the function
        assert self.queue.dead_letter_queue is not None  # secure_queue made one (max_receive_count is set)
        image_objects = pulumi.Output.concat(args.image_bucket_arn, "/*")
        table_arn = self.history_table.arn
        statements = [
            allow(
                "ConsumeQueue",
                [
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:ChangeMessageVisibility",
                ],
                [self.queue.queue.arn],
            ),
            allow(
                "ReadAndTagImages",
                [
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                    "s3:GetObjectTagging",
                    "s3:GetObjectVersionTagging",
                    "s3:PutObjectTagging",
                    "s3:PutObjectVersionTagging",
                ],
                [image_objects],
            ),
            # Without ListBucket S3 answers 403 for a missing object; with it, 404, so an image deleted
            # since it was queued is recognised as gone instead of failing as "access denied".
            allow("ListBuckets", ["s3:ListBucket"], [args.image_bucket_arn, *args.properties_bucket_arns]),
            # It re-queues messages that must wait (backoff) and copies unparseable ones to the DLQ.
            allow(
                "RequeueAndDeadLetter",
                ["sqs:SendMessage"],
                [self.queue.queue.arn, self.queue.dead_letter_queue.arn],
            ),
            allow(
                "ReadProperties",
                ["s3:GetObject", "s3:GetObjectVersion"],
                [
                    pulumi.Output.concat(arn, "/*")
                    for arn in (args.properties_bucket_arns or (args.image_bucket_arn,))
                ],
            ),
            allow(
                "ImportHistory",
                [
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:Query",
                ],
                [table_arn, pulumi.Output.concat(table_arn, "/index/*")],
            ),
        ]
        # The workers' shared slot book lives in the history table (handlers/throttled_indexer/pacing.py): the
        # ImportHistory grant's GetItem / UpdateItem on the table covers pacing, no new permission.
        environment = IndexerEnv.to_environment(
            {
                **section.values_for(IndexerEnv),
                **args.shared.values_for(IndexerEnv),
                "history_table": self.history_table.name,
                "queue_url": self.queue.queue.url,
                "dlq_url": self.queue.dead_letter_queue.url,
                "collection_id": self.collection_id,
                "gateway_rates": section.gateway_rates or None,
            }
        )
        if section.gateway == "rekognition":
            assert collection_arn is not None
            # SearchFacesByImage: after a worker died between IndexFaces and the history write, the next
            # one looks the face up by image instead of registering it twice (throttled_indexer/recovery.py).
            actions = ["rekognition:IndexFaces", "rekognition:DeleteFaces", "rekognition:SearchFacesByImage"]
            if section.rekognition_mode == "users":
                # One Rekognition user per UserId (throttled_indexer/rekognition_users.py): CreateUser and
                # AssociateFaces to register, DisassociateFaces / ListFaces (faces left?) / DeleteUser to
                # deregister; all on the collection (Service Authorization Reference, Amazon Rekognition).
                actions += [
                    "rekognition:CreateUser",
                    "rekognition:AssociateFaces",
                    "rekognition:DisassociateFaces",
                    "rekognition:ListFaces",
                    "rekognition:DeleteUser",
                ]
            statements.append(allow("FaceCollection", actions, [collection_arn]))
        if section.gateway == "http" and section.gateway_auth == "sigv4":
            statements.append(allow("InvokeGatewayApi", ["execute-api:Invoke"], [section.gateway_api_arn]))
        if section.gateway == "http" and section.gateway_auth == "api-key":
            statements.append(
                allow(
                    "ReadGatewayApiKey",
                    ["secretsmanager:GetSecretValue"],
                    [section.gateway_api_key_secret_arn],
                )
            )
        if section.quarantine_bucket:
            statements.append(
                allow(
                    "WriteQuarantine",
                    ["s3:PutObject"],
                    [
                        pulumi.Output.concat(
                            "arn:",
                            ctx.partition,
                            f":s3:::{section.quarantine_bucket}/{section.quarantine_prefix}*",
                        )
                    ],
                )
            )

        self.function = secure_function(
            f"{name}-function",
            self,
            args.lambda_settings,
            FunctionOptions(
                "throttled_indexer",
                timeout_seconds=section.timeout_seconds,
                memory_mb=section.memory_mb,
            ),
            environment={**environment, **powertools_env(args.lambda_settings, "throttled_indexer")},
            statements=statements,
        )
        fn = self.function.function
        self.event_source_mapping = aws.lambda_.EventSourceMapping(
            f"{name}-queue-mapping",
            event_source_arn=self.queue.queue.arn,
            function_name=fn.arn,
            batch_size=section.batch_size,
            scaling_config={"maximum_concurrency": section.max_concurrency},
            function_response_types=["ReportBatchItemFailures"],
            # Lambda checks the role can read the queue when the mapping is created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.function.role_policy]),
        )

        # ---- alarms
        def create_alarm_topic() -> tuple[list[pulumi.Input[str]], SecureTopic | None]:
            topic = alarm_topic(f"{name}-alarms", self, ctx, topic_name=self.alarm_topic_name())
            return [topic.topic.arn], topic

        # Existing alarm targets (SNS topics, functions: the stack's alarmActions), or a topic of our own.
        def use_alarm_actions(given: Sequence[str]) -> tuple[list[pulumi.Input[str]], SecureTopic | None]:
            return list(given), None

        alarm_actions, self.alarm_topic = create_or_use(
            section.alarm_actions, use=use_alarm_actions, create=create_alarm_topic
        )
        self.alarm_actions = alarm_actions
        self.alarms = {
            "dlq-not-empty": queue_not_empty_alarm(
                f"{name}-dlq-not-empty",
                self,
                self.queue.dead_letter_queue,
                alarm_actions,
                "Messages the indexer gave up on are waiting in the DLQ",
            ),
            "oldest-message": oldest_message_alarm(
                f"{name}-oldest-message",
                self,
                self.queue.queue,
                alarm_actions,
                "The indexer's input queue is not draining",
                threshold_seconds=section.oldest_message_alarm_seconds,
            ),
            "function-errors": function_errors_alarm(f"{name}-function-errors", self, fn, alarm_actions),
        }

        self.queue_arn = self.queue.queue.arn
        self.queue_url = self.queue.queue.url
        self.history_table_name = self.history_table.name
        self.history_table_arn = self.history_table.arn
        self.function_name = fn.name
        self.function_arn = fn.arn
        # The stack outputs this component contributes, by their stack output names.
        self.stack_outputs: dict[str, pulumi.Input[str]] = {
            "queue_url": self.queue.queue.url,
            "queue_arn": self.queue.queue.arn,
            "dlq_url": self.queue.dead_letter_queue.url,
            "history_table_name": self.history_table.name,
            "indexer_function_name": fn.name,
            "indexer_function_arn": fn.arn,
            "indexer_function_role_arn": self.function.role.arn,
        }
        if self.collection_id is not None:
            self.stack_outputs["collection_id"] = self.collection_id
        if self.alarm_topic is not None:
            self.stack_outputs["alarm_topic_arn"] = self.alarm_topic.topic.arn
        self.register_outputs(self.stack_outputs)


def _collection_name(raw: str) -> str:
    return "".join(c if c.isalnum() or c in "_.-" else "-" for c in raw)[:255]
