"""Function operations: log retention, tracing, and a concurrency limit where invocations fan out."""

from __future__ import annotations

from collections.abc import Iterator

from . import aws_types as t
from .model import UNKNOWN, Resource, Stack, Violation, is_known, policy_document, service_principals
from .model import statements as statements_of

S3_BATCH_PRINCIPAL = "batchoperations.s3.amazonaws.com"


# ------------------------------------------------------------------------------------------- logs
def check_log_retention(stack: Stack) -> Iterator[Violation]:
    """Log groups expire their events, and every function logs to a log group the stack declares: otherwise
    Lambda creates /aws/lambda/<function> on the first invocation, keeping its events forever (CloudWatch
    Logs: a new log group's retention is "Never expire")."""
    for group in stack.of_type(t.LOG_GROUP):
        days = group.get("retentionInDays")
        if days is not UNKNOWN and (days is None or days <= 0):
            yield Violation(group, f"{group.label} keeps its events forever: set retentionInDays")
    groups_by_name = {g.get("name"): g for g in stack.of_type(t.LOG_GROUP) if isinstance(g.get("name"), str)}
    for function in stack.of_type(t.FUNCTION):
        if stack.referenced(function, "loggingConfig", t.LOG_GROUP):
            continue
        name = function.get("name")
        if name is UNKNOWN or (isinstance(name, str) and f"/aws/lambda/{name}" in groups_by_name):
            continue
        yield Violation(
            function,
            f"{function.label} logs to a log group the stack does not declare (Lambda would create it "
            "without retention): declare an aws.cloudwatch.LogGroup with retentionInDays and point "
            "loggingConfig.logGroup at it",
        )


# ------------------------------------------------------------------------------------------- tracing
def check_tracing(resource: Resource) -> Iterator[str]:
    """Functions record X-Ray traces of every invocation (PassThrough only forwards an upstream decision)."""
    if resource.type == t.FUNCTION and resource.get("tracingConfig", "mode") not in ("Active", UNKNOWN):
        yield f"{resource.label} is not traced: set tracingConfig: {{mode: Active}}"


# ------------------------------------------------------------------------------------------- concurrency
def _reserved(function: Resource) -> bool:
    reserved = function.get("reservedConcurrentExecutions", default=-1)  # -1: Lambda's "unreserved"
    return not is_known(reserved) or reserved >= 0


def _is_sqs_source(stack: Stack, mapping: Resource) -> bool:
    if stack.referenced(mapping, "eventSourceArn", t.QUEUE):
        return True
    arn = mapping.get("eventSourceArn")
    return isinstance(arn, str) and arn.split(":")[2:3] == ["sqs"]


def _s3_batch_targets(stack: Stack) -> Iterator[tuple[Resource, Resource]]:
    """(function, role) for each function a role that S3 Batch Operations assumes is given a policy over."""
    for role in stack.of_type(t.ROLE):
        try:
            trust = policy_document(role.get("assumeRolePolicy"), role.label)
        except ValueError:
            continue  # reported by the IAM rules
        if not isinstance(trust, dict) or not any(
            S3_BATCH_PRINCIPAL in service_principals(s) for s in statements_of(trust)
        ):
            continue
        for policy in stack.referrers(role, "role", t.ROLE_POLICY):
            for function in stack.referenced(policy, "policy", t.FUNCTION):
                yield function, role


def check_bounded_concurrency(stack: Stack) -> Iterator[Violation]:
    """Functions invoked once per record (an SQS event source mapping's, or an S3 Batch Operations job's)
    have a concurrency limit, so a large import cannot take the account's whole pool or outrun what the
    function calls. (Lambda Developer Guide: "Configuring maximum concurrency for Amazon SQS event sources";
    "Configuring reserved concurrency for a function".)"""
    for mapping in stack.of_type(t.EVENT_SOURCE_MAPPING):
        if (
            not _is_sqs_source(stack, mapping)
            or mapping.get("scalingConfig", "maximumConcurrency") is not None
        ):
            continue
        for function in stack.referenced(mapping, "functionName", t.FUNCTION):
            if not _reserved(function):
                yield Violation(
                    mapping,
                    f"{mapping.label} invokes {function.label} without a limit: set "
                    "scalingConfig.maximumConcurrency (or the function's reservedConcurrentExecutions)",
                )
    reported: set[str] = set()
    for function, role in _s3_batch_targets(stack):
        if function.key not in reported and not _reserved(function):
            reported.add(function.key)
            yield Violation(
                function,
                f"{function.label} runs once per S3 Batch Operations task ({role.label} may invoke it) "
                "without a limit: set reservedConcurrentExecutions",
            )
