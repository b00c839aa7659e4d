"""Create a resource, or use an existing one: one shape for every component that offers the choice.

pulumi-awsx's `{existing, args}` inputs (awsx/cloudwatch/logGroup.ts `requiredLogGroup`, awsx/role.ts): given
an existing resource, the component only refers to it; otherwise it creates one with its secure defaults.
Either way the rest of the component sees the same `Handle` (the id and ARN other resources need). The choice
is made from a plain config value, never from a Pulumi Output (whether a resource exists must be known when
the program runs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import pulumi

Existing = TypeVar("Existing")
Created = TypeVar("Created")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Handle(Generic[Created]):
    """A resource the component created (`created` holds it) or was given (`created` is None)."""

    id: pulumi.Output[str]
    """What other resources name it by (bucket name, collection id, topic ARN)."""
    arn: pulumi.Output[str]
    """Its ARN, for policies."""
    created: Created | None = None


def create_or_use(
    existing: Existing | None, *, use: Callable[[Existing], Result], create: Callable[[], Result]
) -> Result:
    """`use(existing)` when the config names an existing resource (or resources), else `create()`; both
    give the same kind of result, usually a `Handle`."""
    if isinstance(existing, pulumi.Output):
        raise TypeError("create_or_use: whether a resource exists is a plain config value, not an Output")
    if existing is not None and existing != ():
        return use(existing)
    return create()
