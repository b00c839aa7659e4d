"""What a rule sees: resources as type + properties + references, independent of where they come from.

The same `Resource` is built from a CrossGuard request (policy/__main__.py: props from the engine, references
from its property dependencies, keyed by URN) and from the unit tests' recorded mock registrations
(tests/policy/recorded.py: references recovered from the recorded values, keyed by logical name). Property
names are the engine's camelCase input names, the same in every Pulumi language.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal


class Unknown:
    """A value a preview cannot know yet (an output of a resource still to be created)."""

    _instance: Unknown | None = None

    def __new__(cls) -> Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown until the resource it comes from exists>"


UNKNOWN = Unknown()
"""Rules never report a violation on an unknown value: `pulumi up` runs the pack again on the resolved inputs
of each resource before it is created or updated."""


def is_known(value: Any) -> bool:
    return value is not UNKNOWN


@dataclass(frozen=True)
class Resource:
    """One resource of a stack: its type token, logical name and input properties."""

    type: str
    name: str
    props: Mapping[str, Any]
    key: str = ""
    """Identifies the resource within one run (URN in CrossGuard, logical name in tests); default: name."""
    refs: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Top-level property -> keys of the resources its value was computed from."""

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", self.name)

    @property
    def label(self) -> str:
        """`Queue 'indexer-queue'`: how a message names the resource."""
        return f"{self.type.rsplit(':', 1)[-1]} '{self.name}'"

    def get(self, *path: str | int, default: Any = None) -> Any:
        """The value at `path` (keys and list indexes), `default` when absent, UNKNOWN when unknown."""
        value: Any = self.props
        for step in path:
            if value is UNKNOWN:
                return UNKNOWN
            if isinstance(step, int):
                if not isinstance(value, Sequence) or isinstance(value, str) or step >= len(value):
                    return default
            elif not isinstance(value, Mapping) or step not in value:
                return default
            value = value[step]
        return default if value is None else value


@dataclass(frozen=True)
class Violation:
    resource: Resource
    message: str


class Stack:
    """Every resource of one run, with the joins the stack rules need."""

    def __init__(self, resources: Iterable[Resource]) -> None:
        self.resources = list(resources)
        self._by_key = {r.key: r for r in self.resources}

    def of_type(self, *types: str) -> list[Resource]:
        return [r for r in self.resources if r.type in types]

    def referenced(self, resource: Resource, prop: str, *types: str) -> list[Resource]:
        """The resources of `types` that `resource`'s `prop` was computed from."""
        found = (self._by_key.get(key) for key in resource.refs.get(prop, ()))
        return [r for r in found if r is not None and r.type in types]

    def referrers(self, target: Resource, prop: str, *types: str) -> list[Resource]:
        """The resources of `types` whose `prop` was computed from `target`."""
        return [r for r in self.of_type(*types) if target.key in r.refs.get(prop, ())]


Level = Literal["mandatory", "advisory"]
ResourceCheck = Callable[[Resource], Iterable[str]]
StackCheck = Callable[[Stack], Iterable[Violation]]


@dataclass(frozen=True)
class Rule:
    """One policy: a resource check (messages about one resource) or a stack check (joins resources)."""

    name: str
    description: str
    level: Level
    resource_check: ResourceCheck | None = None
    stack_check: StackCheck | None = None

    def __post_init__(self) -> None:
        if (self.resource_check is None) == (self.stack_check is None):
            raise ValueError(f"rule {self.name}: give exactly one of resource_check and stack_check")

    def violations(self, resources: Iterable[Resource]) -> list[Violation]:
        if self.resource_check is not None:
            check = self.resource_check
            return [Violation(r, message) for r in resources for message in check(r)]
        assert self.stack_check is not None
        return list(self.stack_check(Stack(resources)))


# ------------------------------------------------------------------------------------------- documents
def policy_document(value: Any, where: str) -> dict[str, Any] | Unknown | None:
    """A policy document property (JSON text or an object): the document, UNKNOWN, or None when unset.

    Raises ValueError naming `where` for text that is not a JSON object."""
    if value is UNKNOWN:
        return UNKNOWN
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where}: the policy is not valid JSON ({error})") from error
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: the policy is not a JSON object")
    return dict(value)


def statements(document: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The statements of a document (IAM allows one statement object instead of a list)."""
    found = document.get("Statement", [])
    for statement in as_list(found):
        if isinstance(statement, Mapping):
            yield dict(statement)


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def service_principals(statement: Mapping[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if not isinstance(principal, Mapping):
        return []
    return [p for p in as_list(principal.get("Service")) if isinstance(p, str)]


def condition_keys(statement: Mapping[str, Any]) -> set[str]:
    """Every condition key of a statement, lower-cased (IAM condition keys are case-insensitive)."""
    condition = statement.get("Condition")
    if not isinstance(condition, Mapping):
        return set()
    return {
        key.lower()
        for values in condition.values()
        if isinstance(values, Mapping)
        for key in values
        if isinstance(key, str)
    }
