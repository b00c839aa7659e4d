"""Secure defaults as data: what every bucket, queue, topic, table, function and alarm gets unless a
component says otherwise. Nothing here creates a resource (the builders in builders.py, lambda_function.py
and alarms.py do), so a default is written once and read in one place.

Modelled on AWS Solutions Constructs' `core/lib/*-defaults.ts` (e.g. `sqs-defaults.ts`: `DefaultQueueProps`
and `defaultMaxReceiveCount` as plain values, used by `sqs-helper.ts`'s `buildQueue`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:  # nested inputs typed as pulumi-aws declares them, so a misspelled key fails `make lint`
    import pulumi_aws as aws

Statement = dict[str, Any]
"""One IAM policy statement (JSON-ready; values may be Outputs)."""


# ------------------------------------------------------------------------------------------- every policy
def deny_insecure_transport(action: str, resources: Sequence[Any]) -> Statement:
    """The TLS-only statement that opens every bucket, queue and topic policy."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": action,
        "Resource": list(resources),
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


# ------------------------------------------------------------------------------------------- bucket
class PublicAccessBlock(TypedDict):
    """The keyword arguments of `aws.s3.BucketPublicAccessBlock` that block every kind of public access."""

    block_public_acls: bool
    block_public_policy: bool
    ignore_public_acls: bool
    restrict_public_buckets: bool


BUCKET_PUBLIC_ACCESS_BLOCK: PublicAccessBlock = {
    "block_public_acls": True,
    "block_public_policy": True,
    "ignore_public_acls": True,
    "restrict_public_buckets": True,
}
# SSE-S3: S3 Inventory and S3 Batch reports can write to it without a KMS key policy.
BUCKET_ENCRYPTION_RULES: list[aws.s3.BucketServerSideEncryptionConfigurationRuleArgsDict] = [
    {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}, "bucket_key_enabled": True}
]
BUCKET_OWNERSHIP_RULE: aws.s3.BucketOwnershipControlsRuleArgsDict = {
    "object_ownership": "BucketOwnerEnforced"
}
# Abandoned multipart upload parts are dropped a day after the upload started.
ABORT_INCOMPLETE_UPLOAD: aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgsDict = {
    "days_after_initiation": 1
}


def expiry_lifecycle_rule(
    rule_id: str, prefix: str, days: int
) -> aws.s3.BucketLifecycleConfigurationRuleArgsDict:
    """Objects under `prefix` expire `days` after creation (generated artefacts)."""
    return {
        "id": rule_id,
        "status": "Enabled",
        "filter": {"prefix": prefix},
        "expiration": {"days": days},
        "abort_incomplete_multipart_upload": ABORT_INCOMPLETE_UPLOAD,
    }


def noncurrent_lifecycle_rule(noncurrent_days: int) -> aws.s3.BucketLifecycleConfigurationRuleArgsDict:
    """Bucket-wide expiry of noncurrent versions and of the delete markers they leave.

    S3 lifecycle (Lifecycle configuration elements): NoncurrentVersionExpiration deletes old versions;
    ExpiredObjectDeleteMarker (allowed only without Days/Date in the same Expiration) removes the delete
    markers that are then left alone; AbortIncompleteMultipartUpload drops abandoned upload parts.
    """
    return {
        "id": "expire-noncurrent-versions",
        "status": "Enabled",
        "filter": {"prefix": ""},
        "noncurrent_version_expiration": {"noncurrent_days": noncurrent_days},
        "expiration": {"expired_object_delete_marker": True},
        "abort_incomplete_multipart_upload": ABORT_INCOMPLETE_UPLOAD,
    }


# ------------------------------------------------------------------------------------------- queue
QUEUE_VISIBILITY_TIMEOUT_SECONDS = 30  # SQS's own default
QUEUE_MAX_RECEIVE_COUNT = 5
"""Deliveries before a message moves to the DLQ."""
QUEUE_RETENTION_SECONDS = 4 * 24 * 3600  # SQS's own default
# The maximum SQS allows (14 days): time for a person to look at what landed in a DLQ or failure queue.
MAX_QUEUE_RETENTION_SECONDS = 14 * 24 * 3600


# ------------------------------------------------------------------------------------------- topic
# Without a publishing AWS service, the AWS managed key (which grants no service principal).
SNS_MANAGED_KEY = "alias/aws/sns"
KMS_KEY_DELETION_WINDOW_DAYS = 30  # KMS's maximum: the longest time to notice a key scheduled for deletion


# ------------------------------------------------------------------------------------------- table
TABLE_BILLING_MODE = "PAY_PER_REQUEST"
TABLE_POINT_IN_TIME_RECOVERY: aws.dynamodb.TablePointInTimeRecoveryArgsDict = {"enabled": True}
# enabled without a key ARN: the AWS managed key aws/dynamodb (disabled would mean the AWS owned key).
TABLE_ENCRYPTION: aws.dynamodb.TableServerSideEncryptionArgsDict = {"enabled": True}


# ------------------------------------------------------------------------------------------- function
LAMBDA_TRACING: aws.lambda_.FunctionTracingConfigArgsDict = {"mode": "Active"}
LAMBDA_EPHEMERAL_STORAGE_MB = 512  # Lambda's default and minimum
# JSON is what makes Lambda filter application logs by level at all.
LAMBDA_LOG_FORMAT = "JSON"
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
# Lambda's execution-role trust is the documented exception to source conditions: Lambda does not send
# aws:SourceArn/aws:SourceAccount when it assumes the role, so a condition would lock it out.
LAMBDA_TRUST_STATEMENT: Statement = {
    "Effect": "Allow",
    "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole",
}


# ------------------------------------------------------------------------------------------- alarm
# A 5-minute, single-period alarm; no data is not a breach (an idle pipeline is healthy).
ALARM_PERIOD_SECONDS = 300
ALARM_EVALUATION_PERIODS = 1
ALARM_MISSING_DATA = "notBreaching"
