"""May an AWS service principal deliver to a topic, queue or function? Its resource policy decides, and for
an encrypted topic or queue also its KMS key's policy, as AWS checks them (policies read from moto's
backends)."""

from __future__ import annotations

import json
from typing import Any

from moto.awslambda.utils import get_backend as lambda_backend
from moto.kms.models import kms_backends
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends

from offline.aws.policy_eval import Decision, evaluate

DELIVERY_ACTION = {"sns": "sns:Publish", "sqs": "sqs:SendMessage", "lambda": "lambda:InvokeFunction"}


def delivery_decision(
    service: str, target_arn: str, principal: str, context: dict[str, Any]
) -> tuple[str, Decision]:
    """(the action checked, the decision) for `principal` (a service) delivering to `target_arn`."""
    action = DELIVERY_ACTION[service]
    document = resource_policy(service, target_arn)
    decision = evaluate(
        [document] if document else [], action, target_arn, context, principal={"service": principal}
    )
    if decision.allowed and service in ("sns", "sqs"):
        decision = kms_allows(service, target_arn, principal, context)
        action = action if decision.allowed else f"kms:GenerateDataKey (for {action})"
    return action, decision


def kms_allows(service: str, target_arn: str, principal: str, context: dict[str, Any]) -> Decision:
    """An encrypted topic/queue also needs its KMS key to let the service principal encrypt (as in AWS).

    The AWS managed keys (alias/aws/sns, alias/aws/sqs) never grant that to a service principal.
    """
    parts = target_arn.split(":")
    region, account = parts[3], parts[4]
    if service == "sns":
        key_id = sns_backends[account][region].get_topic(target_arn).kms_master_key_id
    else:
        key_id = getattr(sqs_backends[account][region].get_queue(parts[5]), "kms_master_key_id", None)
    if not key_id:
        return Decision(True, "not encrypted with KMS")
    if key_id.startswith("alias/aws/"):
        return Decision(
            False, f"its key is the AWS managed key {key_id}, whose policy never grants {principal}"
        )
    try:
        key = kms_backends[account][region].describe_key(key_id)
    except Exception:
        return Decision(False, f"its KMS key {key_id} does not exist")
    policy = json.loads(key.policy)
    for kms_action in ("kms:GenerateDataKey", "kms:Decrypt"):
        decision = evaluate([policy], kms_action, key.arn, context, principal={"service": principal})
        if not decision.allowed:
            return Decision(False, f"its KMS key {key.arn} does not allow {kms_action}: {decision.reason}")
    return Decision(True, "the key policy allows it")


def resource_policy(service: str, arn: str) -> dict[str, Any] | None:
    parts = arn.split(":")
    region, account = parts[3], parts[4]
    if service == "sns":
        return sns_backends[account][region].get_topic(arn)._policy_json
    if service == "sqs":
        policy = sqs_backends[account][region].get_queue(parts[5]).policy
        return json.loads(policy) if policy else None
    try:
        text = lambda_backend(account, region).get_policy(parts[6], None)
    except Exception:  # no permission statement at all
        return None
    document = json.loads(text) if isinstance(text, str) else text
    # moto wraps it like the GetPolicy response: {"Policy": "<json>", "RevisionId": ...}.
    if isinstance(document, dict) and isinstance(document.get("Policy"), str):
        document = json.loads(document["Policy"])
    return document
