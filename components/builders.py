"""Secure builders of the storage and messaging resources every component uses: bucket, queue, topic, table.

Each applies the defaults of defaults.py and gives its resource ONE policy (a second BucketPolicy /
QueuePolicy / TopicPolicy would fight the first), into which the caller's statements are merged.
Modelled on AWS Solutions Constructs' `core/lib/*-helper.ts` (e.g. `sqs-helper.ts`'s `buildQueue`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from . import defaults
from .defaults import Statement
from .iam import StatementsFor, policy_document, service_grant
from .names import AwsContext


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
    extra_statements: StatementsFor | None = None,
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
        f"{name}-public-access", bucket=bucket.id, **defaults.BUCKET_PUBLIC_ACCESS_BLOCK, opts=opts
    )
    encryption = aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption", bucket=bucket.id, rules=defaults.BUCKET_ENCRYPTION_RULES, opts=opts
    )
    ownership = aws.s3.BucketOwnershipControls(
        f"{name}-ownership", bucket=bucket.id, rule=defaults.BUCKET_OWNERSHIP_RULE, opts=opts
    )
    versioning = (
        aws.s3.BucketVersioning(
            f"{name}-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=opts
        )
        if versioned
        else None
    )
    rules = [defaults.expiry_lifecycle_rule(rule.rule_id, rule.prefix, rule.days) for rule in expiry_rules]
    if noncurrent_expire_days is not None:
        rules.append(defaults.noncurrent_lifecycle_rule(noncurrent_expire_days))
    lifecycle = None
    if rules:
        lifecycle = aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=rules,
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[versioning] if versioning else None),
        )
    statements = [
        defaults.deny_insecure_transport("s3:*", [bucket.arn, pulumi.Output.concat(bucket.arn, "/*")])
    ]
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
    dead_letter_policy: aws.sqs.QueuePolicy | None = None


def secure_queue(
    name: str,
    parent: pulumi.Resource,
    *,
    visibility_timeout_seconds: int = defaults.QUEUE_VISIBILITY_TIMEOUT_SECONDS,
    max_receive_count: int | None = defaults.QUEUE_MAX_RECEIVE_COUNT,
    retention_seconds: int = defaults.QUEUE_RETENTION_SECONDS,
    extra_statements: StatementsFor | None = None,
) -> SecureQueue:
    """An SQS-SSE queue with (unless max_receive_count is None) a DLQ, each with ONE TLS-only QueuePolicy."""
    opts = pulumi.ResourceOptions(parent=parent)
    dlq = None
    dlq_policy = None
    redrive = None
    if max_receive_count is not None:
        dlq = aws.sqs.Queue(
            f"{name}-dlq",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=defaults.MAX_QUEUE_RETENTION_SECONDS,
            opts=opts,
        )
        # The DLQ holds the same messages as the queue: TLS-only like it (the policy pack's
        # tls-only-resource-policies rule).
        dlq_policy = aws.sqs.QueuePolicy(
            f"{name}-dlq-policy",
            queue_url=dlq.url,
            policy=policy_document([defaults.deny_insecure_transport("sqs:*", [dlq.arn])]),
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
    statements = [defaults.deny_insecure_transport("sqs:*", [queue.arn])]
    if extra_statements is not None:
        statements.extend(extra_statements(queue.arn))
    policy = aws.sqs.QueuePolicy(
        f"{name}-policy", queue_url=queue.url, policy=policy_document(statements), opts=opts
    )
    return SecureQueue(queue, dlq, policy, dlq_policy)


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
    publisher_sid: str = "AllowPublisher",
    extra_statements: StatementsFor | None = None,
    topic_name: str | None = None,
) -> SecureTopic:
    """An encrypted topic with ONE TopicPolicy.

    AWS services that publish to an encrypted topic (S3 event notifications, CloudWatch alarms) need
    kms:GenerateDataKey*/Decrypt on its key, which the AWS managed key `alias/aws/sns` never grants them. So
    when `publisher_service` is given the topic gets a customer managed key (rotation on) whose policy
    allows that service, with source conditions, and the topic policy lets it publish (statement
    `publisher_sid`, same conditions); otherwise `alias/aws/sns`.
    """
    opts = pulumi.ResourceOptions(parent=parent)
    key = None
    kms_key_id: Any = defaults.SNS_MANAGED_KEY
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
            deletion_window_in_days=defaults.KMS_KEY_DELETION_WINDOW_DAYS,
            policy=policy_document(key_statements),
            opts=opts,
        )
        kms_key_id = key.arn
    topic = aws.sns.Topic(name, name=topic_name, kms_master_key_id=kms_key_id, opts=opts)
    statements: list[Statement] = [defaults.deny_insecure_transport("sns:Publish", [topic.arn])]
    if publisher_service is not None:
        sources = list(publisher_source_arns)
        statements.append(
            service_grant(
                ctx,
                sid=publisher_sid,
                service=publisher_service,
                actions=["sns:Publish"],
                resources=[topic.arn],
                source_arn=(sources[0] if len(sources) == 1 else sources) or None,
            )
        )
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
    attributes: list[aws.dynamodb.TableAttributeArgsDict] = [
        {"name": n, "type": "S"} for n in dict.fromkeys(attribute_names)
    ]
    indexes: list[aws.dynamodb.TableGlobalSecondaryIndexArgsDict] = []
    for index, pk, sk in global_secondary_indexes:
        key_schemas: list[aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgsDict] = [
            {"attribute_name": pk, "key_type": "HASH"}
        ]
        if sk:
            key_schemas.append({"attribute_name": sk, "key_type": "RANGE"})
        indexes.append({"name": index, "key_schemas": key_schemas, "projection_type": "ALL"})
    return aws.dynamodb.Table(
        name,
        billing_mode=defaults.TABLE_BILLING_MODE,
        hash_key=hash_key,
        range_key=range_key,
        attributes=attributes,
        global_secondary_indexes=indexes,
        point_in_time_recovery=defaults.TABLE_POINT_IN_TIME_RECOVERY,
        server_side_encryption=defaults.TABLE_ENCRYPTION,
        ttl={"attribute_name": ttl_attribute, "enabled": True} if ttl_attribute else None,
        deletion_protection_enabled=deletion_protection,
        opts=pulumi.ResourceOptions(parent=parent),
    )
