"""IAM: grants to AWS services carry source conditions; no `*` action; `*` resources only where AWS allows
nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import aws_types as t
from .model import UNKNOWN, Resource, as_list, condition_keys, policy_document, service_principals, statements

# IAM User Guide, "The confused deputy problem" / "Cross-service confused deputy prevention": a grant to a
# service principal names the account (and where possible the resource) it acts for.
SOURCE_CONDITION_KEYS = frozenset(
    {"aws:sourcearn", "aws:sourceaccount", "aws:sourceorgid", "aws:sourceorgpaths"}
)
# Trust policies of these services cannot carry source conditions: the service does not send them when it
# assumes the role, so a condition would lock it out (components/defaults.py, LAMBDA_TRUST_STATEMENT).
TRUST_WITHOUT_SOURCE_CONTEXT = {
    "lambda.amazonaws.com": "Lambda sends no source context when it assumes an execution role",
}

# Actions whose only valid resource is "*": the Service Authorization Reference lists no resource type for
# them (the reason is kept per action, for the message and for review).
STAR_RESOURCE_ACTIONS = {
    "s3:CreateJob": "S3 Batch Operations: CreateJob has no resource-level permission",
    "xray:PutTraceSegments": "X-Ray trace APIs have no resource-level permissions",
    "xray:PutTelemetryRecords": "X-Ray trace APIs have no resource-level permissions",
}


def _is_service(principal: str) -> bool:
    return principal.endswith((".amazonaws.com", ".amazonaws.com.cn"))


def _documents(resource: Resource) -> Iterator[tuple[str, dict[str, Any] | str]]:
    """(where, document) for each policy document the resource holds; `document` is an error message when
    the text is not a policy; unknown documents are skipped (checked again by `pulumi up`)."""
    props = []
    if resource.type in t.RESOURCE_POLICY_PROPS:
        props.append(t.RESOURCE_POLICY_PROPS[resource.type])
    if resource.type in t.IDENTITY_POLICY_TYPES:
        props.append("policy")
    for prop in props:
        try:
            document = policy_document(resource.get(prop), f"{resource.label} {prop}")
        except ValueError as error:
            yield prop, str(error)
            continue
        if isinstance(document, dict):
            yield prop, document
    if resource.type == t.ROLE:  # inline policies of the role are identity policies
        inline = resource.get("inlinePolicies", default=[])
        for index, entry in enumerate(as_list(inline) if inline is not UNKNOWN else []):
            where = f"inlinePolicies[{index}].policy"
            try:
                document = policy_document(
                    entry.get("policy") if isinstance(entry, dict) else None, f"{resource.label} {where}"
                )
            except ValueError as error:
                yield where, str(error)
                continue
            if isinstance(document, dict):
                yield where, document


def _is_identity_document(resource: Resource, where: str) -> bool:
    return resource.type in t.IDENTITY_POLICY_TYPES or where.startswith("inlinePolicies")


# ------------------------------------------------------------------------------------------- source condition
def check_service_principal_conditions(resource: Resource) -> Iterator[str]:
    """Lambda permissions and resource-policy statements that allow an AWS service say on whose behalf."""
    if resource.type == t.PERMISSION:
        principal = resource.get("principal")
        unconditioned = resource.get("sourceArn") is None and resource.get("sourceAccount") is None
        if isinstance(principal, str) and _is_service(principal) and unconditioned:
            yield (
                f"{resource.label} lets {principal} invoke the function for any source: set sourceArn "
                "(the resource that invokes it) and sourceAccount"
            )
        return
    for where, document in _documents(resource):
        if isinstance(document, str):
            yield document
            continue
        if _is_identity_document(resource, where):
            continue
        for index, statement in enumerate(statements(document)):
            if statement.get("Effect") != "Allow":
                continue
            services = [p for p in service_principals(statement) if _is_service(p)]
            if resource.type == t.ROLE:
                services = [p for p in services if p not in TRUST_WITHOUT_SOURCE_CONTEXT]
            if services and not condition_keys(statement) & SOURCE_CONDITION_KEYS:
                sid = statement.get("Sid", f"#{index}")
                yield (
                    f"{resource.label} {where} statement {sid} allows {', '.join(services)} without a "
                    "source condition: add aws:SourceArn and/or aws:SourceAccount"
                )


# ------------------------------------------------------------------------------------------- wildcards
def _actions(statement: dict[str, Any]) -> list[str]:
    return [a for a in as_list(statement.get("Action")) if isinstance(a, str)]


def check_no_wildcards(resource: Resource) -> Iterator[str]:
    """Allow statements name their actions (never `*`; in identity policies never a whole service either),
    and identity policies use `*` resources only for actions that have no resource-level permission."""
    for where, document in _documents(resource):
        if isinstance(document, str):
            yield document
            continue
        identity = _is_identity_document(resource, where)
        for index, statement in enumerate(statements(document)):
            if statement.get("Effect") != "Allow":
                continue
            sid = statement.get("Sid", f"#{index}")
            prefix = f"{resource.label} {where} statement {sid}"
            if "NotAction" in statement:
                yield f"{prefix} allows NotAction (every other action): list the actions it needs"
            actions = _actions(statement)
            if "*" in actions:
                yield f"{prefix} allows every action ('*'): list the actions it needs"
            whole_services = [a for a in actions if identity and a.endswith(":*")]
            if whole_services:
                yield f"{prefix} allows whole services ({', '.join(whole_services)}): list the actions"
            # Resources are checked in identity policies only: a resource policy applies to the resource it is
            # attached to (in a key policy "*" is the key itself; AWS KMS Developer Guide, "Key policies").
            if not identity:
                continue
            if "NotResource" in statement:
                yield f"{prefix} uses NotResource (every other resource): list the resources"
            if "*" in as_list(statement.get("Resource")):
                unlisted = [a for a in actions if a not in STAR_RESOURCE_ACTIONS]
                if unlisted:
                    yield (
                        f"{prefix} grants {', '.join(unlisted)} on every resource ('*'): name the resources "
                        f"(only {', '.join(sorted(STAR_RESOURCE_ACTIONS))} have no resource-level permission)"
                    )
