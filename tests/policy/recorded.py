"""The policy rules' view of the program run under the tests' Pulumi mocks (tests/infra/infra_harness.py).

The mocks see input values but not Pulumi's property dependencies, which CrossGuard hands the rules in a real
preview. They are recovered here from the values: a property refers to a resource when one of its values (at
any depth, JSON policy text included) is that resource's id, name, ARN or URL as the mocks returned it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import Any

from bulk_loader_policy import Resource
from infra_harness import REPO, Run, run_main, stack_config

STACKS = sorted(p.name.split(".")[1] for p in REPO.glob("Pulumi.*.yaml"))

# The outputs by which other resources name each resource (what the mocks return for it).
IDENTITY_OUTPUTS = {
    "aws:s3/bucket:Bucket": ("bucket", "arn"),
    "aws:sqs/queue:Queue": ("name", "arn", "url"),
    "aws:sns/topic:Topic": ("arn",),
    "aws:lambda/function:Function": ("name", "arn"),
    "aws:iam/role:Role": ("name", "arn"),
    "aws:dynamodb/table:Table": ("name", "arn"),
    "aws:cloudwatch/logGroup:LogGroup": ("name", "arn"),
    "aws:kms/key:Key": ("arn", "keyId"),
    "aws:cloudwatch/eventRule:EventRule": ("name", "arn"),
}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        if value[:1] in ("{", "["):
            try:
                yield from _strings(json.loads(value))
                return
            except json.JSONDecodeError:
                pass
        yield value


def from_run(run: Run) -> list[Resource]:
    """Every recorded resource with the references its inputs make to the others."""
    owners: dict[str, set[str]] = {}
    for recorded in run.resources:
        for key in IDENTITY_OUTPUTS.get(recorded.typ, ()):
            value = recorded.outputs.get(key)
            if isinstance(value, str) and value:
                owners.setdefault(value, set()).add(recorded.name)
    resources = []
    for recorded in run.resources:
        refs = {}
        for prop, value in recorded.inputs.items():
            names = {name for s in _strings(value) for name in owners.get(s, ())} - {recorded.name}
            if names:
                refs[prop] = frozenset(names)
        resources.append(Resource(recorded.typ, recorded.name, recorded.inputs, refs=refs))
    return resources


@cache
def stack_resources(stack: str) -> tuple[Resource, ...]:
    """The resources the program registers for Pulumi.<stack>.yaml (run once per test process)."""
    return tuple(from_run(run_main(stack_config(stack), stack)))
