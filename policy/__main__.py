"""The bulk-loader CrossGuard policy pack: `pulumi preview --policy-pack policy` (see README, "Policy pack").

The Pulumi CLI runs this file (`python -m pulumi.policy <engine> policy/`, the directory on sys.path); every
rule lives in bulk_loader_policy as a plain function, and this file only adapts CrossGuard's arguments to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bulk_loader_policy import RULES, UNKNOWN, Resource, Rule
from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

# The SDK's marker for a value that a preview cannot know; its proxies raise it on access.
from pulumi_policy.proxy import UnknownValueError

PACK_NAME = "bulk-loader"
LEVELS = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}


def plain(value: Any) -> Any:
    """CrossGuard's properties as plain dicts and lists, unknown values as UNKNOWN.

    The SDK's proxies raise UnknownValueError on the first unknown value they meet, which would abort a whole
    stack rule in a preview; converted, each rule skips only the values it cannot know."""
    if isinstance(value, Mapping):
        out = {}
        for key in value:
            try:
                out[key] = plain(value[key])
            except UnknownValueError:
                out[key] = UNKNOWN
        return out
    if isinstance(value, Sequence) and not isinstance(value, str):
        items = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    return value


def resource_policy(rule: Rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        resource = Resource(args.resource_type, args.name, plain(args.props), key=args.urn)
        for violation in rule.violations([resource]):
            report_violation(violation.message, None)

    return ResourceValidationPolicy(
        name=rule.name, description=rule.description, validate=validate, enforcement_level=LEVELS[rule.level]
    )


def stack_policy(rule: Rule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [
            Resource(
                r.resource_type,
                r.name,
                plain(r.props),
                key=r.urn,
                refs={prop: frozenset(d.urn for d in deps) for prop, deps in r.property_dependencies.items()},
            )
            for r in args.resources
        ]
        for violation in rule.violations(resources):
            report_violation(violation.message, violation.resource.key)

    return StackValidationPolicy(
        name=rule.name, description=rule.description, validate=validate, enforcement_level=LEVELS[rule.level]
    )


def policies() -> list[ResourceValidationPolicy | StackValidationPolicy]:
    return [resource_policy(r) if r.resource_check is not None else stack_policy(r) for r in RULES]


if __name__ == "__main__":
    # Serves the analyzer over gRPC on 127.0.0.1 (port printed on stdout) until the CLI stops it.
    PolicyPack(name=PACK_NAME, policies=policies(), enforcement_level=EnforcementLevel.ADVISORY)
