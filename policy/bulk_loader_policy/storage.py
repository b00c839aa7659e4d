"""Storage and messaging at rest and in transit: encryption, TLS-only policies, public access, backups."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import aws_types as t
from .model import UNKNOWN, Resource, Stack, Violation, as_list, is_known, policy_document, statements

# S3 default encryption (S3 User Guide, "Setting default server-side encryption behavior for Amazon S3
# buckets"): SSE-S3, SSE-KMS or DSSE-KMS.
S3_SSE_ALGORITHMS = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


# ------------------------------------------------------------------------------------------- encryption
def check_encryption_at_rest(resource: Resource) -> Iterator[str]:
    """Queues, topics and tables say how they are encrypted; bucket encryption configurations use S3's
    algorithms. (Log groups are not checked: CloudWatch Logs always encrypts log data at rest, a KMS key is
    an option on top; CloudWatch Logs User Guide, "Encrypt log data in CloudWatch Logs using AWS KMS".)"""
    if resource.type == t.QUEUE:
        # SQS Developer Guide, "Encryption at rest": SSE-SQS (SQS-owned keys) or SSE-KMS.
        if resource.get("sqsManagedSseEnabled") is not True and not resource.get("kmsMasterKeyId"):
            yield (
                f"{resource.label} is not encrypted at rest: set sqsManagedSseEnabled: true (SSE-SQS) "
                "or kmsMasterKeyId (SSE-KMS)"
            )
    elif resource.type == t.TOPIC:
        # SNS Developer Guide, "Encryption at rest": topics are encrypted only with a KMS key.
        if not resource.get("kmsMasterKeyId"):
            yield (
                f"{resource.label} is not encrypted at rest: set kmsMasterKeyId (alias/aws/sns, or a "
                "customer managed key when an AWS service publishes to it)"
            )
    elif resource.type == t.TABLE:
        # DynamoDB always encrypts; enabled: true puts the table under a KMS key the account can audit and
        # control (aws/dynamodb or a customer managed key) instead of an AWS owned key.
        if resource.get("serverSideEncryption", "enabled") not in (True, UNKNOWN):
            yield (
                f"{resource.label} is not encrypted with a KMS key: set serverSideEncryption: "
                "{enabled: true} (optionally with kmsKeyArn)"
            )
    elif resource.type in t.BUCKET_ENCRYPTIONS:
        rules = resource.get("rules", default=[])
        if is_known(rules) and not rules:
            yield f"{resource.label} has no rules: add one with applyServerSideEncryptionByDefault"
        for index, rule in enumerate(as_list(rules) if is_known(rules) else []):
            algorithm = Resource(resource.type, resource.name, rule).get(
                "applyServerSideEncryptionByDefault", "sseAlgorithm"
            )
            if algorithm is not UNKNOWN and algorithm not in S3_SSE_ALGORITHMS:
                yield (
                    f"{resource.label} rules[{index}]: sseAlgorithm {algorithm!r} is not one of "
                    f"{sorted(S3_SSE_ALGORITHMS)}"
                )


def check_buckets_encrypted(stack: Stack) -> Iterator[Violation]:
    """Every bucket of the stack has a default-encryption configuration (resource, or inline)."""
    for bucket in stack.of_type(*t.BUCKETS):
        if bucket.get("serverSideEncryptionConfiguration") is not None:
            continue  # inline (deprecated form); its algorithm is checked like the resource's
        if not stack.referrers(bucket, "bucket", *t.BUCKET_ENCRYPTIONS):
            yield Violation(
                bucket,
                f"{bucket.label} has no default encryption: add an "
                "aws.s3.BucketServerSideEncryptionConfiguration for it (sseAlgorithm AES256 or aws:kms)",
            )


# ------------------------------------------------------------------------------------------- TLS only
POLICY_OF = {t.BUCKET_POLICY: "bucket", t.QUEUE_POLICY: "queueUrl", t.TOPIC_POLICY: "arn"}
TARGETS = {t.BUCKET_POLICY: t.BUCKETS, t.QUEUE_POLICY: (t.QUEUE,), t.TOPIC_POLICY: (t.TOPIC,)}


def _denies_insecure_transport(document: dict[str, Any]) -> bool:
    """A Deny for every principal when aws:SecureTransport is false (S3 User Guide, "Security best practices
    for Amazon S3": enforce encryption of data in transit; the same condition key guards SQS and SNS)."""
    for statement in statements(document):
        if statement.get("Effect") != "Deny" or statement.get("Principal") not in ("*", {"AWS": "*"}):
            continue
        condition = statement.get("Condition")
        bool_condition = condition.get("Bool") if isinstance(condition, dict) else None
        if not isinstance(bool_condition, dict):
            continue
        # Condition keys are case-insensitive; a value may be a JSON boolean, a string or a list of them.
        flags = [v for k, v in bool_condition.items() if k.lower() == "aws:securetransport"]
        if any(str(value).lower() == "false" for flag in flags for value in as_list(flag)):
            return True
    return False


def check_tls_only_policies(stack: Stack) -> Iterator[Violation]:
    """Each bucket, queue and topic has ONE policy (a second one fights the first), and every such policy
    denies requests that do not use TLS."""
    for policy_type, prop in POLICY_OF.items():
        for policy in stack.of_type(policy_type):
            yield from _tls_only(policy, policy.get("policy"))
        for target in stack.of_type(*TARGETS[policy_type]):
            attached = [p.name for p in stack.referrers(target, prop, policy_type)]
            inline = target.get("policy")
            if inline is not None:  # the deprecated inline form counts as one more policy
                attached.append(f"{target.name}.policy")
                yield from _tls_only(target, inline)
            if not attached:
                yield Violation(
                    target,
                    f"{target.label} has no {policy_type.rsplit(':', 1)[-1]}: give it one that denies "
                    "requests without TLS (aws:SecureTransport false)",
                )
            elif len(attached) > 1:
                yield Violation(
                    target,
                    f"{target.label} has {len(attached)} policies ({', '.join(sorted(attached))}): each "
                    "replaces the other's document; merge them into one",
                )


def _tls_only(holder: Resource, value: Any) -> Iterator[Violation]:
    try:
        document = policy_document(value, holder.label)
    except ValueError as error:
        yield Violation(holder, str(error))
        return
    if document is not UNKNOWN and (document is None or not _denies_insecure_transport(document)):
        yield Violation(
            holder,
            f"{holder.label} does not deny insecure transport: add a Deny statement for Principal '*' with "
            "Condition {Bool: {aws:SecureTransport: 'false'}}",
        )


# ------------------------------------------------------------------------------------------- public access
def check_public_access_blocked(stack: Stack) -> Iterator[Violation]:
    """Every bucket has a public access block with all four settings on (S3 User Guide, "Blocking public
    access to your Amazon S3 storage")."""
    for block in stack.of_type(t.BUCKET_PUBLIC_ACCESS_BLOCK):
        off = [flag for flag in PUBLIC_ACCESS_FLAGS if block.get(flag) not in (True, UNKNOWN)]
        if off:
            yield Violation(block, f"{block.label} leaves public access open: set {', '.join(off)} to true")
    for bucket in stack.of_type(*t.BUCKETS):
        if not stack.referrers(bucket, "bucket", t.BUCKET_PUBLIC_ACCESS_BLOCK):
            yield Violation(
                bucket,
                f"{bucket.label} has no public access block: add an aws.s3.BucketPublicAccessBlock with "
                f"{', '.join(PUBLIC_ACCESS_FLAGS)} true",
            )


# ------------------------------------------------------------------------------------------- backups
def check_point_in_time_recovery(resource: Resource) -> Iterator[str]:
    """DynamoDB tables keep 35 days of point-in-time backups (DynamoDB Developer Guide, "Point-in-time
    recovery for DynamoDB")."""
    if resource.type == t.TABLE and resource.get("pointInTimeRecovery", "enabled") not in (True, UNKNOWN):
        yield f"{resource.label} has no point-in-time recovery: set pointInTimeRecovery: {{enabled: true}}"
