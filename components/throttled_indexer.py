"""ThrottledIndexer: input queue -> throttled_indexer (bounded concurrency) -> face index + import history."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from .alarms import alarm_topic, function_errors_alarm, oldest_message_alarm, queue_not_empty_alarm
from .builders import SecureTopic, secure_queue, secure_table
from .config import MAX_RATE_PER_SECOND, MIN_RATE_PER_SECOND, PACED_APIS, LambdaSettings
from .iam import allow, service_grant
from .lambda_function import FunctionOptions, powertools_env, secure_function
from .names import aws_context

# The table's keys, declared once next to the handlers that read and write them. Installed as `bulk_loader`,
# handlers/ is the sibling package `bulk_loader.handlers`; in the source tree it is the top-level `handlers`
# (components/ is then top-level too, so the relative import has no parent package to climb to).
try:
    from ..handlers.common import history_schema
except ImportError:
    from handlers.common import history_schema

GATEWAYS = ("rekognition", "http")
GATEWAY_AUTHS = ("none", "sigv4", "api-key")
# Lambda's guidance for SQS sources: visibility timeout at least 6x the function timeout, so a batch that is
# retried by Lambda's poller is not redelivered while still in flight.
VISIBILITY_TIMEOUT_FACTOR = 6


@dataclass
class ThrottledIndexerArgs:
    """Inputs of a ThrottledIndexer."""

    image_bucket_name: pulumi.Input[str]
    """The bucket holding the images."""
    image_bucket_arn: pulumi.Input[str]
    """ARN of the image bucket (for the role's object permissions)."""
    lambda_settings: LambdaSettings
    """Runtime, architecture, log retention/level shared by every function."""
    gateway: str = "rekognition"
    """`rekognition` (IndexFaces into a collection) or `http` (POST {gateway_url}/register)."""
    collection_id: str | None = None
    """Existing Rekognition collection; None (with gateway rekognition) creates one."""
    gateway_url: str | None = None
    """Base URL of the HTTP registration API (gateway http)."""
    gateway_auth: str = "none"
    """`none`, `sigv4` (IAM-signed, needs gateway_api_arn) or `api-key` (needs the secret ARN)."""
    gateway_api_arn: str | None = None
    """execute-api ARN the function may invoke (sigv4)."""
    gateway_api_key_secret_arn: str | None = None
    """Secrets Manager secret holding the API key (api-key)."""
    gateway_timeout_seconds: int = 10
    """Timeout of one gateway call (env GATEWAY_TIMEOUT_SECONDS); below timeout_seconds."""
    timeout_seconds: int = 60
    """Function timeout; the queue's visibility timeout is 6x this."""
    memory_mb: int = 512
    """Function memory."""
    batch_size: int = 10
    """Messages per invocation."""
    max_concurrency: int = 5
    """The event source mapping's maximum concurrency (>= 2): the rate limit on the face index."""
    max_receive_count: int = 5
    """Deliveries before a message moves to the DLQ."""
    gateway_rates: dict[str, float] | None = None
    """Calls per second per paced API (StackConfig.gateway_rates; env GATEWAY_RATE_PER_SECOND), shared by
    every worker through the history table; None or empty: not paced."""
    history_ttl_days: int = 14
    """Non-success history records expire after this many days."""
    quarantine_bucket: str | None = None
    """Bucket for images the gateway rejects permanently (optional)."""
    quarantine_prefix: str = "quarantine/"
    """Key prefix in the quarantine bucket."""
    delete_events: bool = True
    """Route image-bucket deletions (EventBridge rule) into the input queue."""
    enable_bucket_eventbridge: bool = False
    """Own the image bucket's notification configuration to switch on EventBridge delivery. A bucket has ONE
    notification configuration: turn this on only when nothing else (console, other stacks) configures
    notifications on that bucket, or it overwrites them."""
    alarm_actions: tuple[str, ...] = ()
    """Alarm targets (SNS/Lambda ARNs); empty creates an alarm topic."""
    alarm_topic_name: str | None = None
    """Physical name of the created alarm topic (so other components can alarm to it before it exists);
    None lets Pulumi auto-name it."""
    oldest_message_alarm_seconds: int = 3600
    """Alarm when the oldest queued message is this old."""
    history_deletion_protection: bool = True
    """DynamoDB deletion protection on the history table."""
    max_image_bytes: int = 15 * 1024 * 1024
    """Images larger than this are rejected before the gateway call (env MAX_IMAGE_BYTES)."""
    properties_bucket_arns: tuple[pulumi.Input[str], ...] = ()
    """Buckets that `Properties` references (s3://bucket/key) may point into; empty: the image bucket."""


class ThrottledIndexer(pulumi.ComponentResource):
    """Queue + DLQ, the `throttled_indexer` function, import history, face collection, deletions, alarms."""

    def __init__(
        self, name: str, args: ThrottledIndexerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("bulkloader:index:ThrottledIndexer", name, None, opts)
        _validate(args)
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
            deletion_protection=args.history_deletion_protection,
        )

        # ---- face collection (created or given) / HTTP gateway
        self.collection: aws.rekognition.Collection | None = None
        self.collection_id: pulumi.Output[str] | None = None
        collection_arn = None
        if args.gateway == "rekognition":
            if args.collection_id is None:
                self.collection = aws.rekognition.Collection(
                    f"{name}-collection",
                    collection_id=_collection_name(
                        f"{pulumi.get_project()}-{pulumi.get_stack()}-{name}-faces"
                    ),
                    opts=child,
                )
                self.collection_id = self.collection.collection_id
                collection_arn = self.collection.arn
            else:
                self.collection_id = pulumi.Output.from_input(args.collection_id)
                collection_arn = ctx.arn("rekognition", f"collection/{args.collection_id}")

        # ---- deletions from the image bucket, via EventBridge (the rule exists before the queue's policy)
        self.delete_rule: aws.cloudwatch.EventRule | None = None
        if args.delete_events:
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
            visibility_timeout_seconds=VISIBILITY_TIMEOUT_FACTOR * args.timeout_seconds,
            max_receive_count=args.max_receive_count,
            extra_statements=(
                (
                    lambda queue_arn: [
                        service_grant(
                            ctx,
                            sid="AllowDeleteEventsRule",
                            service="events.amazonaws.com",
                            actions=["sqs:SendMessage"],
                            resources=[queue_arn],
                            source_arn=rule.arn,
                        )
                    ]
                )
                if rule is not None
                else None
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
        self.bucket_notification: aws.s3.BucketNotification | None = None
        if args.enable_bucket_eventbridge:
            # This resource owns the image bucket's ONE notification configuration (see the args docstring).
            self.bucket_notification = aws.s3.BucketNotification(
                f"{name}-image-bucket-eventbridge",
                bucket=args.image_bucket_name,
                eventbridge=True,
                opts=child,
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
        environment: dict[str, pulumi.Input[str]] = {
            "GATEWAY": args.gateway,
            "GATEWAY_TIMEOUT_SECONDS": str(args.gateway_timeout_seconds),
            "HISTORY_TABLE": self.history_table.name,
            "QUEUE_URL": self.queue.queue.url,
            "DLQ_URL": self.queue.dead_letter_queue.url,
            "MAX_RECEIVE_COUNT": str(args.max_receive_count),
            "MAX_IMAGE_BYTES": str(args.max_image_bytes),
            "HISTORY_TTL_DAYS": str(args.history_ttl_days),
            **powertools_env(args.lambda_settings, "throttled_indexer"),
        }
        if args.gateway_rates:
            # The workers' shared slot book lives in the history table (handlers/throttled_indexer/pacing.py):
            # the ImportHistory grant's GetItem / UpdateItem on the table covers it, no new permission.
            environment["GATEWAY_RATE_PER_SECOND"] = json.dumps(args.gateway_rates, sort_keys=True)
        if args.gateway == "rekognition":
            assert self.collection_id is not None and collection_arn is not None
            environment["COLLECTION_ID"] = self.collection_id
            # SearchFacesByImage: after a worker died between IndexFaces and the history write, the next
            # one looks the face up by image instead of registering it twice (throttled_indexer/recovery.py).
            statements.append(
                allow(
                    "FaceCollection",
                    ["rekognition:IndexFaces", "rekognition:DeleteFaces", "rekognition:SearchFacesByImage"],
                    [collection_arn],
                )
            )
        else:
            assert args.gateway_url is not None
            environment["GATEWAY_URL"] = args.gateway_url
            environment["GATEWAY_AUTH"] = args.gateway_auth
            if args.gateway_auth == "sigv4":
                statements.append(allow("InvokeGatewayApi", ["execute-api:Invoke"], [args.gateway_api_arn]))
            if args.gateway_auth == "api-key":
                environment["GATEWAY_API_KEY_SECRET_ARN"] = args.gateway_api_key_secret_arn or ""
                statements.append(
                    allow(
                        "ReadGatewayApiKey",
                        ["secretsmanager:GetSecretValue"],
                        [args.gateway_api_key_secret_arn],
                    )
                )
        if args.quarantine_bucket:
            environment["QUARANTINE_BUCKET"] = args.quarantine_bucket
            environment["QUARANTINE_PREFIX"] = args.quarantine_prefix
            statements.append(
                allow(
                    "WriteQuarantine",
                    ["s3:PutObject"],
                    [
                        pulumi.Output.concat(
                            "arn:", ctx.partition, f":s3:::{args.quarantine_bucket}/{args.quarantine_prefix}*"
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
                timeout_seconds=args.timeout_seconds,
                memory_mb=args.memory_mb,
            ),
            environment=environment,
            statements=statements,
        )
        fn = self.function.function
        self.event_source_mapping = aws.lambda_.EventSourceMapping(
            f"{name}-queue-mapping",
            event_source_arn=self.queue.queue.arn,
            function_name=fn.arn,
            batch_size=args.batch_size,
            scaling_config={"maximum_concurrency": args.max_concurrency},
            function_response_types=["ReportBatchItemFailures"],
            # Lambda checks the role can read the queue when the mapping is created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.function.role_policy]),
        )

        # ---- alarms
        self.alarm_topic: SecureTopic | None = None
        if args.alarm_actions:
            alarm_actions: list[pulumi.Input[str]] = list(args.alarm_actions)
        else:
            self.alarm_topic = alarm_topic(f"{name}-alarms", self, ctx, topic_name=args.alarm_topic_name)
            alarm_actions = [self.alarm_topic.topic.arn]
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
                threshold_seconds=args.oldest_message_alarm_seconds,
            ),
            "function-errors": function_errors_alarm(f"{name}-function-errors", self, fn, alarm_actions),
        }

        self.queue_arn = self.queue.queue.arn
        self.queue_url = self.queue.queue.url
        self.history_table_name = self.history_table.name
        self.history_table_arn = self.history_table.arn
        self.function_name = fn.name
        self.function_arn = fn.arn
        self.register_outputs(
            {
                "queue_url": self.queue.queue.url,
                "queue_arn": self.queue.queue.arn,
                "dlq_url": self.queue.dead_letter_queue.url,
                "history_table_name": self.history_table.name,
                "function_name": fn.name,
                "function_arn": fn.arn,
                "role_arn": self.function.role.arn,
                "collection_id": self.collection_id,
                "alarm_topic_arn": self.alarm_topic.topic.arn if self.alarm_topic else None,
            }
        )


def _collection_name(raw: str) -> str:
    return "".join(c if c.isalnum() or c in "_.-" else "-" for c in raw)[:255]


def _validate(args: ThrottledIndexerArgs) -> None:
    if args.gateway not in GATEWAYS:
        raise ValueError(f"ThrottledIndexerArgs.gateway: one of {GATEWAYS}, got {args.gateway!r}")
    if args.gateway_auth not in GATEWAY_AUTHS:
        raise ValueError(
            f"ThrottledIndexerArgs.gateway_auth: one of {GATEWAY_AUTHS}, got {args.gateway_auth!r}"
        )
    if args.gateway == "http" and not args.gateway_url:
        raise ValueError("ThrottledIndexerArgs.gateway_url: required for gateway 'http'")
    if args.gateway == "rekognition" and args.gateway_url:
        raise ValueError("ThrottledIndexerArgs.gateway_url: only for gateway 'http'")
    if args.gateway_auth == "sigv4" and not args.gateway_api_arn:
        raise ValueError("ThrottledIndexerArgs.gateway_api_arn: required for gateway_auth 'sigv4'")
    if args.gateway_auth == "api-key" and not args.gateway_api_key_secret_arn:
        raise ValueError(
            "ThrottledIndexerArgs.gateway_api_key_secret_arn: required for gateway_auth 'api-key'"
        )
    apis = PACED_APIS[args.gateway]
    for api, rate in (args.gateway_rates or {}).items():
        if api not in apis:
            raise ValueError(
                f"ThrottledIndexerArgs.gateway_rates: {api!r} is not an API of gateway {args.gateway}"
            )
        if not MIN_RATE_PER_SECOND <= rate <= MAX_RATE_PER_SECOND:
            raise ValueError(
                f"ThrottledIndexerArgs.gateway_rates[{api!r}]: {MIN_RATE_PER_SECOND}-{MAX_RATE_PER_SECOND}, "
                f"got {rate}"
            )
    if args.max_concurrency < 2:
        raise ValueError("ThrottledIndexerArgs.max_concurrency: Lambda's minimum is 2")
    if not 1 <= args.batch_size <= 10:
        raise ValueError("ThrottledIndexerArgs.batch_size: 1-10 (no batching window is configured)")
    if VISIBILITY_TIMEOUT_FACTOR * args.timeout_seconds > 12 * 3600:
        raise ValueError(
            "ThrottledIndexerArgs.timeout_seconds: 6x it must fit SQS's 12-hour visibility limit"
        )
