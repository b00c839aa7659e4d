"""Every rule of the pack, with its enforcement level: mandatory rules stop `pulumi up` (and fail a preview),
advisory ones print a warning. Security and data-loss rules are mandatory; observability and throughput ones
are advisory."""

from __future__ import annotations

from . import functions, iam, queues, storage
from .model import Rule

RULES: tuple[Rule, ...] = (
    Rule(
        "encryption-at-rest",
        "Queues, topics and tables are encrypted at rest; bucket encryption uses an S3 algorithm.",
        "mandatory",
        resource_check=storage.check_encryption_at_rest,
    ),
    Rule(
        "bucket-default-encryption",
        "Every bucket has a default server-side encryption configuration.",
        "mandatory",
        stack_check=storage.check_buckets_encrypted,
    ),
    Rule(
        "tls-only-resource-policies",
        "Every bucket, queue and topic has one policy, and it denies requests without TLS.",
        "mandatory",
        stack_check=storage.check_tls_only_policies,
    ),
    Rule(
        "s3-public-access-blocked",
        "Every bucket blocks all public access (all four public access block settings on).",
        "mandatory",
        stack_check=storage.check_public_access_blocked,
    ),
    Rule(
        "queue-dead-letter-queue",
        "Every queue that is not itself a dead-letter sink has a redrive policy to a DLQ.",
        "mandatory",
        stack_check=queues.check_dead_letter_queues,
    ),
    Rule(
        "queue-visibility-covers-consumer",
        "A queue's visibility timeout is at least 6x the timeout of the function that consumes it.",
        "mandatory",
        stack_check=queues.check_visibility_covers_consumer,
    ),
    Rule(
        "table-point-in-time-recovery",
        "DynamoDB tables have point-in-time recovery.",
        "mandatory",
        resource_check=storage.check_point_in_time_recovery,
    ),
    Rule(
        "service-principal-source-conditions",
        "Grants to AWS service principals carry aws:SourceArn / aws:SourceAccount conditions.",
        "mandatory",
        resource_check=iam.check_service_principal_conditions,
    ),
    Rule(
        "iam-no-wildcards",
        "No '*' action; '*' resources only for actions without resource-level permissions.",
        "mandatory",
        resource_check=iam.check_no_wildcards,
    ),
    Rule(
        "log-retention",
        "Log groups expire their events, and every function logs to a declared log group.",
        "advisory",
        stack_check=functions.check_log_retention,
    ),
    Rule(
        "function-tracing",
        "Functions have X-Ray active tracing.",
        "advisory",
        resource_check=functions.check_tracing,
    ),
    Rule(
        "bounded-concurrency",
        "Functions invoked per record (SQS mappings, S3 Batch Operations) have a concurrency limit.",
        "advisory",
        stack_check=functions.check_bounded_concurrency,
    ),
)
