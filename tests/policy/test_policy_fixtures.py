"""A broken stack per rule: the dev stack's recorded resources with ONE thing broken, which the rule must
reject, naming the broken resource. The unbroken stack passes every rule (test_policy_stacks.py), so a rule
that cannot fail, or that fails on anything, is caught here."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from bulk_loader_policy import RULES, Resource
from recorded import stack_resources

Stack = list[Resource]
RULES_BY_NAME = {rule.name: rule for rule in RULES}


# ------------------------------------------------------------------------------------------- edits
def _find(stack: Stack, typ: str, name: str) -> Resource:
    found = [r for r in stack if r.type.endswith(f":{typ}") and r.name == name]
    assert len(found) == 1, f"no single {typ} named {name} in {[r.name for r in stack if typ in r.type]}"
    return found[0]


def set_props(typ: str, name: str, keep_refs: bool = False, **props: Any) -> Callable[[Stack], Stack]:
    """Set (or, with None, remove) top-level properties of one resource; the references the old values made
    go with them unless `keep_refs` (the new value still names the same resources)."""

    def edit(stack: Stack) -> Stack:
        target = _find(stack, typ, name)
        new = {k: v for k, v in {**target.props, **props}.items() if v is not None}
        refs = {k: v for k, v in target.refs.items() if keep_refs or k not in props}
        return [replace(r, props=new, refs=refs) if r is target else r for r in stack]

    return edit


def drop(typ: str, name: str) -> Callable[[Stack], Stack]:
    def edit(stack: Stack) -> Stack:
        target = _find(stack, typ, name)
        return [r for r in stack if r is not target]

    return edit


def add_copy(typ: str, name: str, new_name: str) -> Callable[[Stack], Stack]:
    def edit(stack: Stack) -> Stack:
        target = _find(stack, typ, name)
        return [*stack, replace(target, name=new_name, key=new_name)]

    return edit


def edit_statement(typ: str, name: str, sid: str, change: Callable[[dict], None], prop: str = "policy"):
    """Change the statement `sid` of a resource's JSON policy document."""

    def edit(stack: Stack) -> Stack:
        target = _find(stack, typ, name)
        document = json.loads(target.props[prop])
        (statement,) = [s for s in document["Statement"] if s.get("Sid") == sid]
        change(statement)
        return set_props(typ, name, keep_refs=True, **{prop: json.dumps(document)})(stack)

    return edit


def add_statement(typ: str, name: str, statement: dict, prop: str = "policy"):
    def edit(stack: Stack) -> Stack:
        document = json.loads(_find(stack, typ, name).props[prop])
        document["Statement"].append(statement)
        return set_props(typ, name, **{prop: json.dumps(document)})(stack)

    return edit


def without(key: str) -> Callable[[dict], None]:
    return lambda statement: statement.pop(key)


@dataclass(frozen=True)
class Broken:
    rule: str
    breaks: str
    edit: Callable[[Stack], Stack]
    culprit: str | tuple[str, ...]
    """Logical name(s) of the resource(s) the violations must name."""

    @property
    def culprits(self) -> set[str]:
        return {self.culprit} if isinstance(self.culprit, str) else set(self.culprit)


ALLOW_ALL = {"Sid": "Everything", "Effect": "Allow", "Action": "*", "Resource": "*"}
BROKEN = [
    # encryption-at-rest
    Broken(
        "encryption-at-rest",
        "queue without SSE",
        set_props("Queue", "indexer-queue", sqsManagedSseEnabled=None),
        "indexer-queue",
    ),
    Broken(
        "encryption-at-rest",
        "SSE-SQS switched off",
        set_props("Queue", "inventory-failures", sqsManagedSseEnabled=False),
        "inventory-failures",
    ),
    Broken(
        "encryption-at-rest",
        "topic without a key",
        set_props("Topic", "inventory-inventory-topic", kmsMasterKeyId=None),
        "inventory-inventory-topic",
    ),
    Broken(
        "encryption-at-rest",
        "table on an AWS owned key",
        set_props("Table", "indexer-history", serverSideEncryption={"enabled": False}),
        "indexer-history",
    ),
    Broken(
        "encryption-at-rest",
        "bucket encryption with an unknown algorithm",
        set_props(
            "BucketServerSideEncryptionConfiguration",
            "inventory-inventory-encryption",
            rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "none"}}],
        ),
        "inventory-inventory-encryption",
    ),
    # bucket-default-encryption
    Broken(
        "bucket-default-encryption",
        "bucket without an SSE configuration",
        drop("BucketServerSideEncryptionConfiguration", "inventory-images-encryption"),
        "inventory-images",
    ),
    # tls-only-resource-policies
    Broken(
        "tls-only-resource-policies",
        "bucket policy without the TLS deny",
        edit_statement(
            "BucketPolicy",
            "inventory-inventory-policy",
            "DenyInsecureTransport",
            lambda s: s.update(Effect="Allow"),
        ),
        "inventory-inventory-policy",
    ),
    Broken(
        "tls-only-resource-policies",
        "TLS deny on the wrong condition value",
        edit_statement(
            "TopicPolicy",
            "inventory-inventory-topic-policy",
            "DenyInsecureTransport",
            lambda s: s.update(Condition={"Bool": {"aws:SecureTransport": "true"}}),
        ),
        "inventory-inventory-topic-policy",
    ),
    Broken(
        "tls-only-resource-policies",
        "DLQ without a policy",
        drop("QueuePolicy", "indexer-queue-dlq-policy"),
        "indexer-queue-dlq",
    ),
    Broken(
        "tls-only-resource-policies",
        "second policy on one queue",
        add_copy("QueuePolicy", "indexer-queue-policy", "indexer-queue-policy-2"),
        "indexer-queue",
    ),
    # s3-public-access-blocked
    Broken(
        "s3-public-access-blocked",
        "one setting off",
        set_props(
            "BucketPublicAccessBlock", "inventory-artifacts-public-access", restrictPublicBuckets=False
        ),
        "inventory-artifacts-public-access",
    ),
    Broken(
        "s3-public-access-blocked",
        "bucket without a block",
        drop("BucketPublicAccessBlock", "inventory-images-public-access"),
        "inventory-images",
    ),
    # queue-dead-letter-queue
    Broken(
        "queue-dead-letter-queue",
        "input queue without redrive",
        set_props("Queue", "indexer-queue", redrivePolicy=None),
        # Its DLQ is then no dead-letter sink any more, just a queue without a DLQ.
        ("indexer-queue", "indexer-queue-dlq"),
    ),
    Broken(
        "queue-dead-letter-queue",
        "redrive without maxReceiveCount",
        lambda stack: set_props(
            "Queue",
            "indexer-queue",
            keep_refs=True,
            redrivePolicy=json.dumps(
                {
                    "deadLetterTargetArn": json.loads(
                        _find(stack, "Queue", "indexer-queue").props["redrivePolicy"]
                    )["deadLetterTargetArn"]
                }
            ),
        )(stack),
        "indexer-queue",
    ),
    # Without the async invoke config the failure queue is no longer a dead-letter sink: it needs a DLQ.
    Broken(
        "queue-dead-letter-queue",
        "sink no longer a sink",
        drop("FunctionEventInvokeConfig", "inventory-inventory-created-async"),
        "inventory-failures",
    ),
    # queue-visibility-covers-consumer (indexer-function: 60 s timeout on the dev stack)
    Broken(
        "queue-visibility-covers-consumer",
        "visibility one second short",
        set_props("Queue", "indexer-queue", visibilityTimeoutSeconds=359),
        "indexer-queue",
    ),
    Broken(
        "queue-visibility-covers-consumer",
        "SQS's default visibility",
        set_props("Queue", "indexer-queue", visibilityTimeoutSeconds=None),
        "indexer-queue",
    ),
    # table-point-in-time-recovery
    Broken(
        "table-point-in-time-recovery",
        "PITR off",
        set_props("Table", "indexer-history", pointInTimeRecovery={"enabled": False}),
        "indexer-history",
    ),
    Broken(
        "table-point-in-time-recovery",
        "PITR unset",
        set_props("Table", "indexer-history", pointInTimeRecovery=None),
        "indexer-history",
    ),
    # service-principal-source-conditions
    Broken(
        "service-principal-source-conditions",
        "lambda permission for any SNS topic",
        set_props("Permission", "inventory-inventory-created-sns", sourceArn=None, sourceAccount=None),
        "inventory-inventory-created-sns",
    ),
    Broken(
        "service-principal-source-conditions",
        "topic policy grant to S3 without conditions",
        edit_statement(
            "TopicPolicy",
            "inventory-inventory-topic-policy",
            "AllowInventoryBucketNotifications",
            without("Condition"),
        ),
        "inventory-inventory-topic-policy",
    ),
    Broken(
        "service-principal-source-conditions",
        "key policy grant to S3 without conditions",
        edit_statement(
            "Key", "inventory-inventory-topic-key", "AllowPublisherToEncrypt", without("Condition")
        ),
        "inventory-inventory-topic-key",
    ),
    Broken(
        "service-principal-source-conditions",
        "bucket policy grant to S3 Inventory without conditions",
        edit_statement(
            "BucketPolicy", "inventory-inventory-policy", "AllowS3InventoryDelivery", without("Condition")
        ),
        "inventory-inventory-policy",
    ),
    Broken(
        "service-principal-source-conditions",
        "queue policy grant to EventBridge without conditions",
        edit_statement("QueuePolicy", "indexer-queue-policy", "AllowDeleteEventsRule", without("Condition")),
        "indexer-queue-policy",
    ),
    Broken(
        "service-principal-source-conditions",
        "S3 Batch trust without conditions",
        lambda stack: set_props(
            "Role",
            "inventory-batch-role",
            assumeRolePolicy=json.dumps(
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
        )(stack),
        "inventory-batch-role",
    ),
    # iam-no-wildcards
    Broken(
        "iam-no-wildcards",
        "allow everything",
        add_statement("RolePolicy", "indexer-function-policy", ALLOW_ALL),
        "indexer-function-policy",
    ),
    Broken(
        "iam-no-wildcards",
        "a whole service",
        edit_statement(
            "RolePolicy",
            "indexer-function-policy",
            "ImportHistory",
            lambda s: s.update(Action=["dynamodb:*"]),
        ),
        "indexer-function-policy",
    ),
    Broken(
        "iam-no-wildcards",
        "'*' resource for an action that has resource-level permissions",
        edit_statement(
            "RolePolicy",
            "qualifier-function-policy",
            "XRayTracing",
            lambda s: s["Action"].append("s3:GetObject"),
        ),
        "qualifier-function-policy",
    ),
    Broken(
        "iam-no-wildcards",
        "NotAction",
        add_statement(
            "RolePolicy",
            "inventory-batch-role-policy",
            {"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:s3:::x"},
        ),
        "inventory-batch-role-policy",
    ),
    Broken(
        "iam-no-wildcards",
        "'*' action in a resource policy",
        add_statement(
            "QueuePolicy",
            "indexer-queue-policy",
            {**ALLOW_ALL, "Principal": {"AWS": "arn:aws:iam::123456789012:root"}},
        ),
        "indexer-queue-policy",
    ),
    # log-retention
    Broken(
        "log-retention",
        "log group kept forever",
        set_props("LogGroup", "indexer-function-logs", retentionInDays=None),
        "indexer-function-logs",
    ),
    Broken(
        "log-retention",
        "function logging to an undeclared group",
        set_props("Function", "indexer-function", loggingConfig=None),
        "indexer-function",
    ),
    # function-tracing
    Broken(
        "function-tracing",
        "no tracing config",
        set_props("Function", "qualifier-function", tracingConfig=None),
        "qualifier-function",
    ),
    Broken(
        "function-tracing",
        "PassThrough only",
        set_props("Function", "indexer-function", tracingConfig={"mode": "PassThrough"}),
        "indexer-function",
    ),
    # bounded-concurrency
    Broken(
        "bounded-concurrency",
        "mapping without maximum concurrency",
        set_props("EventSourceMapping", "indexer-queue-mapping", scalingConfig=None),
        "indexer-queue-mapping",
    ),
    Broken(
        "bounded-concurrency",
        "S3 Batch target without reserved concurrency",
        set_props("Function", "qualifier-function", reservedConcurrentExecutions=None),
        "qualifier-function",
    ),
]


def test_every_rule_has_a_broken_stack():
    assert {b.rule for b in BROKEN} == set(RULES_BY_NAME)


@pytest.mark.parametrize("broken", BROKEN, ids=[f"{b.rule}: {b.breaks}" for b in BROKEN])
def test_the_rule_rejects_the_broken_stack_naming_the_resource(broken):
    rule = RULES_BY_NAME[broken.rule]
    stack = list(stack_resources("dev"))
    assert not rule.violations(stack), "the unbroken dev stack must pass"
    violations = rule.violations(broken.edit(stack))
    assert violations, f"{broken.rule} accepted a stack with {broken.breaks}"
    assert {v.resource.name for v in violations} == broken.culprits
    assert all(f"'{v.resource.name}'" in v.message for v in violations)


# ------------------------------------------------------------------------------------------- accepted
def test_a_queue_on_a_kms_key_is_encrypted():
    stack = set_props("Queue", "indexer-queue", sqsManagedSseEnabled=None, kmsMasterKeyId="alias/aws/sqs")(
        list(stack_resources("dev"))
    )
    assert not RULES_BY_NAME["encryption-at-rest"].violations(stack)


def test_a_function_with_reserved_concurrency_needs_no_mapping_limit():
    stack = list(stack_resources("dev"))
    stack = set_props("EventSourceMapping", "indexer-queue-mapping", scalingConfig=None)(stack)
    stack = set_props("Function", "indexer-function", reservedConcurrentExecutions=4)(stack)
    assert not RULES_BY_NAME["bounded-concurrency"].violations(stack)


def test_only_the_lambda_execution_role_trust_goes_without_source_conditions():
    """Lambda sends no source context when it assumes an execution role: the one exception. The same trust
    statement for another service is rejected."""
    rule = RULES_BY_NAME["service-principal-source-conditions"]
    stack = list(stack_resources("dev"))
    trust = json.loads(_find(stack, "Role", "indexer-function-role").props["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert "Condition" not in trust["Statement"][0]
    assert not rule.violations(stack)
    trust["Statement"][0]["Principal"] = {"Service": "states.amazonaws.com"}
    broken = set_props("Role", "indexer-function-role", assumeRolePolicy=json.dumps(trust))(stack)
    assert [v.resource.name for v in rule.violations(broken)] == ["indexer-function-role"]


def test_the_tls_deny_may_spell_its_condition_key_and_value_either_way():
    """IAM condition keys are case-insensitive, and a Bool condition takes a JSON boolean as well as text."""
    stack = edit_statement(
        "BucketPolicy",
        "inventory-inventory-policy",
        "DenyInsecureTransport",
        lambda s: s.update(Condition={"Bool": {"aws:securetransport": False}}),
    )(list(stack_resources("dev")))
    assert not RULES_BY_NAME["tls-only-resource-policies"].violations(stack)
