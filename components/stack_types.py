"""Value types of stack keys that no function reads (ARNs of existing resources, IAM statements, retention).

The types the functions share with the stack (bucket names, suffixes, prefixes, URLs) are declared once in
handlers/common/shared_settings.py.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator

from handlers.common.shared_settings import matching

# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy, retentionInDays).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)  # fmt: skip
# IAM JSON policy elements: Sid (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_sid.html):
# "The Sid element supports ASCII uppercase letters (A-Z), lowercase letters (a-z), and numbers (0-9)", and in
# IAM a Sid must be unique within a policy.
IAM_SID_PATTERN = re.compile(r"[A-Za-z0-9]+")

_PARTITION = r"arn:aws(?:-cn|-us-gov)?"
_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d"
_ACCOUNT = r"\d{12}"


LambdaArn = Annotated[
    str,
    matching(
        rf"{_PARTITION}:lambda:{_REGION}:{_ACCOUNT}:function:[A-Za-z0-9_-]{{1,64}}",
        "a Lambda function ARN (arn:aws:lambda:<region>:<account>:function:<name>, unqualified)",
    ),
]
QueueArn = Annotated[
    str, matching(rf"{_PARTITION}:sqs:{_REGION}:{_ACCOUNT}:[A-Za-z0-9_-]{{1,80}}", "an SQS queue ARN")
]
QueueUrl = Annotated[
    str,
    matching(
        r"https://sqs\.[a-z]{2}(?:-[a-z]+)+-\d\.amazonaws\.com(?:\.cn)?/\d{12}/[A-Za-z0-9_-]{1,80}",
        "an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)",
    ),
]
TableArn = Annotated[
    str,
    matching(
        rf"{_PARTITION}:dynamodb:{_REGION}:{_ACCOUNT}:table/[A-Za-z0-9_.-]{{3,255}}", "a DynamoDB table ARN"
    ),
]
ExecuteApiArn = Annotated[
    str,
    matching(
        rf"{_PARTITION}:execute-api:{_REGION}:{_ACCOUNT}:[a-z0-9]{{10}}/[A-Za-z0-9_*-]+/[A-Z*]+/\S*",
        "an execute-api ARN (arn:aws:execute-api:<region>:<account>:<api id>/<stage>/<METHOD>/<path>)",
    ),
]
AlarmActionArn = Annotated[
    str,
    matching(
        rf"{_PARTITION}:(?:sns:{_REGION}:{_ACCOUNT}:[A-Za-z0-9_-]{{1,256}}"
        rf"|lambda:{_REGION}:{_ACCOUNT}:function:[A-Za-z0-9_-]{{1,64}})",
        "an SNS topic ARN or Lambda function ARN",
    ),
]


def _retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        raise ValueError(
            f"must be one of CloudWatch Logs' retention periods {LOG_RETENTION_DAYS}, got {value}"
        )
    return value


LogRetentionDays = Annotated[int, AfterValidator(_retention)]


def _policy_statement(value: dict[str, Any]) -> dict[str, Any]:
    """An extra IAM statement for a custom registration provider: Allow, explicit actions and resources."""
    allowed = {"Sid", "Effect", "Action", "Resource", "Condition"}
    if unknown := set(value) - allowed:
        raise ValueError(f"unknown statement fields {sorted(unknown)}; allowed: {sorted(allowed)}")
    if value.get("Effect", "Allow") != "Allow":
        raise ValueError("only Effect 'Allow' statements are accepted")
    sid = value.get("Sid")
    if sid is not None and not (isinstance(sid, str) and IAM_SID_PATTERN.fullmatch(sid)):
        raise ValueError(
            f"Sid must be ASCII letters and digits only (A-Z, a-z, 0-9: IAM JSON policy elements: Sid), "
            f"got {sid!r}"
        )
    actions = value.get("Action")
    resources = value.get("Resource")
    actions = [actions] if isinstance(actions, str) else actions
    resources = [resources] if isinstance(resources, str) else resources
    if not actions or not all(
        isinstance(a, str) and re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", a) for a in actions
    ):
        raise ValueError("Action must be one or more explicit 'service:Action' names (no wildcards)")
    if not resources or not all(isinstance(r, str) and r.startswith("arn:") for r in resources):
        raise ValueError("Resource must be one or more ARNs")
    if any(r in {"*", "arn:*"} for r in resources):
        raise ValueError("Resource '*' is not accepted")
    return {"Effect": "Allow", **value, "Action": actions, "Resource": resources}


def _unique_sids(statements: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
    """In IAM a Sid must be unique within a policy: two extra statements may not share one."""
    seen: dict[str, int] = {}
    for index, statement in enumerate(statements):
        sid = statement.get("Sid")
        if sid is None:
            continue
        if sid in seen:
            raise ValueError(
                f"Sid {sid!r} of statement [{index}] is already used by statement [{seen[sid]}]; IAM "
                "requires a Sid to be unique within a policy"
            )
        seen[sid] = index
    return statements


PolicyStatements = Annotated[
    tuple[Annotated[dict[str, Any], AfterValidator(_policy_statement)], ...], AfterValidator(_unique_sids)
]
