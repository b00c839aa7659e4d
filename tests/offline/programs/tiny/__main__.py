"""A small Pulumi program for the offline runtime tests: one of each resource type the emulator creates.

The `echo` function (handlers/echo/app.py) is wired like the real functions: S3 notification -> SNS -> Lambda,
an SQS event source mapping with a DLQ, an async failure destination, an S3 Batch role that may invoke it, and
an EventBridge rule for the image bucket's deletions into a queue.
"""

import json

import pulumi
import pulumi_aws as aws

config = pulumi.Config()
settings = config.get_object("settings") or {}
max_concurrency = config.get_int("maxConcurrency") or 2
account = aws.get_caller_identity().account_id
region = aws.get_region().region


def policy(statements):
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements})


images = aws.s3.Bucket("images", force_destroy=True)
aws.s3.BucketVersioning("images-versioning", bucket=images.id, versioning_configuration={"status": "Enabled"})
aws.s3.BucketPublicAccessBlock(
    "images-pab",
    bucket=images.id,
    block_public_acls=True,
    block_public_policy=True,
    ignore_public_acls=True,
    restrict_public_buckets=True,
)
inventory = aws.s3.Bucket("inventory", force_destroy=True)
aws.s3.BucketServerSideEncryptionConfiguration(
    "inventory-sse",
    bucket=inventory.id,
    rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
)
aws.s3.BucketOwnershipControls(
    "inventory-ownership", bucket=inventory.id, rule={"object_ownership": "BucketOwnerEnforced"}
)
aws.s3.BucketLifecycleConfiguration(
    "inventory-lifecycle",
    bucket=inventory.id,
    rules=[
        {"id": "expire-batch", "status": "Enabled", "filter": {"prefix": "batch/"}, "expiration": {"days": 7}}
    ],
)
aws.s3.BucketPolicy(
    "inventory-policy",
    bucket=inventory.id,
    policy=policy(
        [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [inventory.arn, inventory.arn.apply(lambda a: f"{a}/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
    ),
)
aws.s3.Inventory(
    "images-inventory",
    bucket=images.id,
    name="daily",
    included_object_versions="Current",
    schedule={"frequency": "Daily"},
    optional_fields=["Size", "ETag"],
    destination={"bucket": {"bucket_arn": inventory.arn, "format": "CSV", "prefix": "inventory"}},
)

topic = aws.sns.Topic("inventory-created")
topic_policy = aws.sns.TopicPolicy(
    "inventory-created-policy",
    arn=topic.arn,
    policy=policy(
        [
            {
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic.arn,
                "Condition": {
                    "ArnLike": {"aws:SourceArn": inventory.arn},
                    "StringEquals": {"aws:SourceAccount": account},
                },
            }
        ]
    ),
)
aws.s3.BucketNotification(
    "inventory-notification",
    bucket=inventory.id,
    topics=[{"topic_arn": topic.arn, "events": ["s3:ObjectCreated:*"], "filter_suffix": "manifest.checksum"}],
    opts=pulumi.ResourceOptions(depends_on=[topic_policy]),
)
aws.s3.BucketNotification("images-notification", bucket=images.id, eventbridge=True)

dlq = aws.sqs.Queue("input-dlq", sqs_managed_sse_enabled=True)
queue = aws.sqs.Queue(
    "input",
    visibility_timeout_seconds=2,
    sqs_managed_sse_enabled=True,
    redrive_policy=dlq.arn.apply(lambda arn: json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 2})),
)
failures = aws.sqs.Queue("async-failures", sqs_managed_sse_enabled=True)
deletions = aws.sqs.Queue("deletions", sqs_managed_sse_enabled=True)
seen = aws.dynamodb.Table(
    "seen",
    billing_mode="PAY_PER_REQUEST",
    hash_key="pk",
    attributes=[{"name": "pk", "type": "S"}, {"name": "body", "type": "S"}],
    global_secondary_indexes=[{"name": "by-body", "hash_key": "body", "projection_type": "ALL"}],
    ttl={"attribute_name": "expires_at", "enabled": True},
    point_in_time_recovery={"enabled": True},
)

lambda_trust = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)
role = aws.iam.Role("echo-role", assume_role_policy=lambda_trust)
aws.iam.RolePolicy(
    "echo-policy",
    role=role.id,
    policy=policy(
        [
            {
                "Effect": "Allow",
                "Action": [
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:ChangeMessageVisibility",
                ],
                "Resource": queue.arn,
            },
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": failures.arn},
            {"Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": seen.arn},
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": images.arn.apply(lambda a: f"{a}/*")},
        ]
    ),
)
log_group = aws.cloudwatch.LogGroup("echo-logs", retention_in_days=7)
layer = aws.lambda_.LayerVersion(
    "deps", layer_name="tiny-deps", code=pulumi.AssetArchive({"python/README": pulumi.StringAsset("deps")})
)
echo = aws.lambda_.Function(
    "echo",
    role=role.arn,
    runtime="python3.12",
    handler="handlers.echo.app.handler",
    code=pulumi.AssetArchive({"handlers": pulumi.FileArchive("./handlers")}),
    timeout=5,
    memory_size=256,
    reserved_concurrent_executions=3,
    layers=[layer.arn],
    tracing_config={"mode": "Active"},
    environment={"variables": {"SEEN_TABLE": seen.name, "IMAGE_BUCKET": images.bucket}},
)
aws.lambda_.FunctionEventInvokeConfig(
    "echo-async",
    function_name=echo.name,
    maximum_retry_attempts=0,
    destination_config={"on_failure": {"destination": failures.arn}},
)
aws.lambda_.Permission(
    "echo-from-sns",
    function=echo.name,
    action="lambda:InvokeFunction",
    principal="sns.amazonaws.com",
    source_arn=topic.arn,
)
aws.sns.TopicSubscription("echo-subscription", topic=topic.arn, protocol="lambda", endpoint=echo.arn)
aws.lambda_.EventSourceMapping(
    "echo-mapping",
    event_source_arn=queue.arn,
    function_name=echo.name,
    batch_size=settings.get("batchSize", 10),
    scaling_config={"maximum_concurrency": max_concurrency},
    function_response_types=["ReportBatchItemFailures"],
)

batch_role = aws.iam.Role(
    "batch-role",
    assume_role_policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "batchoperations.s3.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    ),
)
aws.iam.RolePolicy(
    "batch-policy",
    role=batch_role.id,
    policy=policy(
        [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": inventory.arn.apply(lambda a: f"{a}/manifests/*"),
            },
            {
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": inventory.arn.apply(lambda a: f"{a}/reports/*"),
            },
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": echo.arn},
        ]
    ),
)

rule = aws.cloudwatch.EventRule(
    "images-deleted",
    event_pattern=images.bucket.apply(
        lambda b: json.dumps(
            {"source": ["aws.s3"], "detail-type": ["Object Deleted"], "detail": {"bucket": {"name": [b]}}}
        )
    ),
)
aws.cloudwatch.EventTarget("images-deleted-target", rule=rule.name, arn=deletions.arn)
aws.sqs.QueuePolicy(
    "deletions-policy",
    queue_url=deletions.id,
    policy=policy(
        [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": deletions.arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule.arn}},
            }
        ]
    ),
)
aws.cloudwatch.MetricAlarm(
    "dlq-not-empty",
    comparison_operator="GreaterThanThreshold",
    evaluation_periods=1,
    metric_name="ApproximateNumberOfMessagesVisible",
    namespace="AWS/SQS",
    period=60,
    statistic="Maximum",
    threshold=0,
    dimensions={"QueueName": dlq.name},
    alarm_actions=[topic.arn],
)
key = aws.kms.Key("data-key", description="tiny data key", enable_key_rotation=True)
aws.kms.Alias("data-key-alias", name="alias/tiny-data", target_key_id=key.key_id)
readonly = aws.iam.Policy(
    "read-images",
    policy=policy(
        [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": images.arn.apply(lambda a: f"{a}/*")}]
    ),
)
aws.iam.RolePolicyAttachment("batch-read-images", role=batch_role.name, policy_arn=readonly.arn)
aws.s3.BucketObjectv2("readme", bucket=inventory.id, key="docs/README.txt", content="tiny")
secret = aws.secretsmanager.Secret("api-key")
aws.secretsmanager.SecretVersion("api-key-value", secret_id=secret.id, secret_string="s3cr3t")
if config.get_bool("withCollection"):
    aws.rekognition.Collection("faces", collection_id="tiny-faces")
# A type the emulator does not create: it must be listed, never skipped silently.
aws.ec2.Vpc("unsupported", cidr_block="10.0.0.0/16")

pulumi.export("image_bucket", images.bucket)
pulumi.export("inventory_bucket", inventory.bucket)
pulumi.export("queue_url", queue.url)
pulumi.export("dlq_url", dlq.url)
pulumi.export("failures_url", failures.url)
pulumi.export("deletions_url", deletions.url)
pulumi.export("topic_arn", topic.arn)
pulumi.export("function_name", echo.name)
pulumi.export("function_arn", echo.arn)
pulumi.export("batch_role_arn", batch_role.arn)
pulumi.export("table", seen.name)
pulumi.export("log_group", log_group.name)
pulumi.export("secret_arn", secret.arn)
pulumi.export("key_arn", key.arn)
pulumi.export("readonly_policy_arn", readonly.arn)
pulumi.export("nested", {"rule_arn": rule.arn, "region": region})
