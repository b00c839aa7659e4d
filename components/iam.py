"""IAM policy statements and documents.

Every grant to an AWS service principal carries `aws:SourceAccount` (and, when known, `aws:SourceArn`)
conditions (`service_grant`). Policies are JSON documents built with `pulumi.Output.json_dumps`, so statements
may hold Outputs (ARNs) without being decided by them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pulumi

from .defaults import Statement
from .names import AwsContext
from .stack_types import IAM_SID_PATTERN

StatementsFor = Callable[[pulumi.Output[str]], Sequence[Statement]]
"""Statements for a resource policy, given the ARN of the resource it is attached to."""


def service_grant(
    ctx: AwsContext,
    *,
    sid: str,
    service: str,
    actions: Sequence[str],
    resources: Sequence[Any],
    source_arn: Any | None,
    extra_conditions: dict[str, dict[str, Any]] | None = None,
) -> Statement:
    """Allow an AWS service principal, only on behalf of our account (and, when given, one source ARN)."""
    condition: dict[str, dict[str, Any]] = {"StringEquals": {"aws:SourceAccount": ctx.account_id}}
    if source_arn is not None:
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    for operator, values in (extra_conditions or {}).items():
        condition.setdefault(operator, {}).update(values)
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": list(actions),
        "Resource": list(resources) if len(resources) > 1 else resources[0],
        "Condition": condition,
    }


def rule_may_send(ctx: AwsContext, sid: str, rule_arn: pulumi.Input[str]) -> StatementsFor:
    """A queue policy's statements letting one EventBridge rule (and no other) deliver to the queue."""
    return lambda queue_arn: [
        service_grant(
            ctx,
            sid=sid,
            service="events.amazonaws.com",
            actions=["sqs:SendMessage"],
            resources=[queue_arn],
            source_arn=rule_arn,
        )
    ]


def allow(
    sid: str, actions: Sequence[str], resources: Sequence[Any], condition: dict | None = None
) -> Statement:
    """An identity-policy statement: explicit actions on explicit resources."""
    statement: Statement = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": list(actions),
        "Resource": list(resources),
    }
    if condition:
        statement["Condition"] = condition
    return statement


def policy_document(statements: Sequence[Statement]) -> pulumi.Output[str]:
    """A policy of `statements`, whose Sids are checked here, before `pulumi up` would reject them: ASCII
    letters and digits only, unique within the policy (IAM JSON policy elements: Sid)."""
    seen: set[str] = set()
    for statement in statements:
        sid = statement.get("Sid")
        if sid is None:
            continue
        if not (isinstance(sid, str) and IAM_SID_PATTERN.fullmatch(sid)):
            raise ValueError(f"policy statement Sid {sid!r}: IAM allows only ASCII letters and digits")
        if sid in seen:
            raise ValueError(
                f"policy statement Sid {sid!r} appears twice; IAM requires unique Sids per policy"
            )
        seen.add(sid)
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})
