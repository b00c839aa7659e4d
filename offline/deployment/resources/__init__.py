"""Creators: one function per pulumi-aws resource type that creates the resource for real in moto.

A creator takes the context, the Pulumi logical name and the resource inputs (camelCased, as the Pulumi mock
monitor hands them over) and returns `(physical id, outputs)`. Outputs use the pulumi-aws output property
names (`arn`, `invokeArn`, `bucket`, `url`, ...) and include the inputs, as a provider's state does.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class CreatedResource:
    """One resource the program declared, with what the emulator made of it."""

    urn: str
    type: str
    name: str
    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    """Creator-specific facts (a function's code directory, a notification's targets, ...)."""


class CreatorError(RuntimeError):
    """A resource could not be created; the text names the resource and the reason."""


@dataclass
class CreateContext:
    client: Callable[[str], Any]
    """boto3 client factory (admin credentials, moto endpoint)."""
    account_id: str
    region: str
    workdir: Path
    program_dir: Path = field(default_factory=Path.cwd)
    """Relative asset paths in the program are relative to its project directory."""
    rekognition: Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]] | None = None
    """Calls the Rekognition emulator as the admin: (action, body) -> (status, body)."""
    resources: list[CreatedResource] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def find(self, type_suffix: str, **outputs: Any) -> CreatedResource | None:
        """The first created resource of a type (token suffix) whose outputs match."""
        with self.lock:
            for resource in self.resources:
                if resource.type.endswith(type_suffix) and all(
                    resource.outputs.get(k) == v for k, v in outputs.items()
                ):
                    return resource
        return None

    def arn(self, service: str, resource: str, region: bool = True, account: bool = True) -> str:
        region_part = self.region if region else ""
        account_part = self.account_id if account else ""
        return f"arn:aws:{service}:{region_part}:{account_part}:{resource}"


Creator = Callable[[CreateContext, str, dict[str, Any]], tuple[str, dict[str, Any]]]
CREATORS: dict[str, Creator] = {}
# Types that are only bookkeeping for the emulator (no AWS API call makes sense offline).
NOTE_ONLY: dict[str, str] = {}


def creates(*tokens: str) -> Callable[[Creator], Creator]:
    def register(fn: Creator) -> Creator:
        for token in tokens:
            CREATORS[token] = fn
        return fn

    return register


def autoname(logical: str, max_len: int, lower: bool = False, suffix: str = "") -> str:
    """Pulumi's auto-naming: logical name + '-' + 7 random hex characters."""
    name = f"{logical}-{secrets.token_hex(4)[:7]}"
    if lower:
        name = name.lower()
    return name[: max_len - len(suffix)] + suffix


def to_int(value: Any) -> int | None:
    return None if value is None else int(value)


def json_text(value: Any) -> str:
    """A policy/document input: Pulumi passes JSON text, a program may pass a dict."""
    return value if isinstance(value, str) else json.dumps(value)


def first(value: Any) -> Any:
    """Some nested blocks arrive as a one-element list (max_items=1 blocks)."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


# Import the creator modules so that they register themselves.
from offline.deployment.resources import compute, messaging, storage  # noqa: E402

__all__ = [
    "CREATORS",
    "NOTE_ONLY",
    "CreateContext",
    "CreatedResource",
    "CreatorError",
    "compute",
    "messaging",
    "storage",
]
