"""A small IAM policy evaluator for the services the offline runtime emulates itself (S3 Batch, Lambda Invoke,
Rekognition) and for the resource policies on AWS-service deliveries (S3 -> SNS, SNS -> Lambda,
EventBridge -> SQS), where moto checks nothing.

It covers what our policies use: Allow/Deny, Action/NotAction and Resource/NotResource with `*`/`?` wildcards,
Principal for resource policies, and the String*/Arn*/Bool conditions (with IfExists). An explicit Deny wins;
an operator it does not know makes the statement not apply (so an Allow that depends on it does not grant).
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from typing import Any

from moto.iam.models import iam_backends


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    # fnmatch treats [] as classes; IAM does not: escape them first.
    regex = fnmatch.translate(pattern.replace("[", "\x00").replace("]", "\x01"))
    regex = regex.replace("\x00", r"\[").replace("\x01", r"\]")
    flags = 0 if case_sensitive else re.IGNORECASE
    return re.match(regex, value, flags) is not None


def _action_matches(patterns: list[str], action: str) -> bool:
    return any(_wildcard(p, action, case_sensitive=False) for p in patterns)


def _resource_matches(patterns: list[str], resource: str) -> bool:
    return any(_wildcard(p, resource) for p in patterns)


def _principal_matches(principal: Any, caller: dict[str, str]) -> bool:
    """`caller`: {"service": "s3.amazonaws.com"} or {"arn": "arn:aws:iam::...:role/x", "account": "..."}."""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    if "service" in caller and caller["service"] in _as_list(principal.get("Service")):
        return True
    for aws in _as_list(principal.get("AWS")):
        if aws == "*" or aws == caller.get("arn"):
            return True
        if caller.get("account") and aws in (caller["account"], f"arn:aws:iam::{caller['account']}:root"):
            return True
    return False


_NEGATED = {"StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike", "StringNotEqualsIgnoreCase"}


def _condition_holds(operator: str, key: str, expected: Any, context: dict[str, Any]) -> bool | None:
    """True/False, or None when the operator is unknown."""
    if_exists = operator.endswith("IfExists")
    base = operator[: -len("IfExists")] if if_exists else operator
    values = [str(v) for v in _as_list(expected)]
    # Condition keys are case-insensitive.
    actual = next((v for k, v in context.items() if k.lower() == key.lower()), None)
    if actual is None:
        return if_exists or base in _NEGATED
    actuals = [str(a) for a in _as_list(actual)]
    if base in ("StringEquals", "ArnEquals"):
        return any(a in values for a in actuals)
    if base == "StringEqualsIgnoreCase":
        return any(a.lower() in [v.lower() for v in values] for a in actuals)
    if base in ("StringLike", "ArnLike"):
        return any(_wildcard(v, a) for v in values for a in actuals)
    if base in ("StringNotEquals", "ArnNotEquals"):
        return all(a not in values for a in actuals)
    if base in ("StringNotLike", "ArnNotLike"):
        return not any(_wildcard(v, a) for v in values for a in actuals)
    if base == "Bool":
        return any(a.lower() in [v.lower() for v in values] for a in actuals)
    if base == "Null":
        return (actual is None) == (values[0].lower() == "true")
    return None


def _statement_applies(
    statement: dict[str, Any], action: str, resource: str, context: dict[str, Any]
) -> bool:
    if "Action" in statement and not _action_matches(_as_list(statement["Action"]), action):
        return False
    if "NotAction" in statement and _action_matches(_as_list(statement["NotAction"]), action):
        return False
    if "Resource" in statement and not _resource_matches(_as_list(statement["Resource"]), resource):
        return False
    if "NotResource" in statement and _resource_matches(_as_list(statement["NotResource"]), resource):
        return False
    for operator, block in (statement.get("Condition") or {}).items():
        for key, expected in block.items():
            if _condition_holds(operator, key, expected, context) is not True:
                return False
    return True


def evaluate(
    documents: list[dict[str, Any]],
    action: str,
    resource: str,
    context: dict[str, Any] | None = None,
    principal: dict[str, str] | None = None,
) -> Decision:
    """Evaluate identity policies (principal None) or a resource policy (principal = the caller)."""
    context = context or {}
    allowed_by = None
    for document in documents:
        for statement in _as_list(document.get("Statement")):
            if principal is not None and not _principal_matches(statement.get("Principal"), principal):
                continue
            if not _statement_applies(statement, action, resource, context):
                continue
            if statement.get("Effect") == "Deny":
                return Decision(False, f"explicit deny in statement {statement.get('Sid', '(no Sid)')}")
            if statement.get("Effect") == "Allow":
                allowed_by = statement.get("Sid", "(no Sid)")
    if allowed_by is not None:
        return Decision(True, f"allowed by statement {allowed_by}")
    return Decision(False, "no statement allows it")


def _load(document: Any) -> dict[str, Any]:
    if isinstance(document, dict):
        return document
    from urllib.parse import unquote

    text = document if document.lstrip().startswith("{") else unquote(document)
    return json.loads(text)


def role_policies(account_id: str, role_name: str) -> list[dict[str, Any]]:
    """The inline and attached managed policies of a role, read from moto's IAM backend (in-process)."""
    role = iam_backends[account_id]["aws"].get_role(role_name)
    documents = [_load(doc) for doc in role.policies.values()]
    for managed in role.managed_policies.values():
        for version in managed.versions:
            if version.is_default:
                documents.append(_load(version.document))
    return documents


def role_trust_policy(account_id: str, role_name: str) -> dict[str, Any]:
    return _load(iam_backends[account_id]["aws"].get_role(role_name).assume_role_policy_document)


def role_trusts_service(account_id: str, role_name: str, service: str, source_arn: str | None = None) -> bool:
    """Whether the service may assume the role on behalf of this account (the confused-deputy keys set)."""
    trust = role_trust_policy(account_id, role_name)
    context = {"aws:SourceAccount": account_id, **({"aws:SourceArn": source_arn} if source_arn else {})}
    return evaluate([trust], "sts:AssumeRole", "*", context, principal={"service": service}).allowed
