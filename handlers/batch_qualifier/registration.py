"""The registration provider interface and the registration data rules every provider shares.

A provider answers, for one S3 Batch task, who the image belongs to (`UserRegistration`), or why it is not
imported: `Skip` (a deliberate no, the task succeeds) or `Invalid` (bad registration data, a permanent failure
that a person fixes). AWS errors are raised (as `outcomes.TaskFailure`, or botocore's own errors, which the
qualifier classifies).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from handlers.common.contracts import USER_RECORD_MAX_BYTES

Mode = Literal["import", "reindex"]
USER_ID_MAX_CHARS = 128

# How a provider gets AWS clients: `handlers.common.aws.client` in Lambda, moto-backed factories in tests.
ClientFactory = Callable[[str], Any]


@dataclass(frozen=True)
class BatchTask:
    """One S3 Batch task, decoded: the object version to qualify and the run it belongs to."""

    task_id: str
    bucket: str
    key: str
    version_id: str | None
    run_id: str
    job_id: str
    mode: Mode = "import"


@dataclass(frozen=True)
class UserRegistration:
    user_id: str
    properties: Mapping[str, str] | None = None
    properties_ref: str | None = None
    """Where the properties can be read again (`s3://bucket/key`); sent instead of them when they are too
    large to inline in a queue message."""


@dataclass(frozen=True)
class Skip:
    """Not imported on purpose; the task succeeds with `skipped:<reason>`."""

    reason: str


@dataclass(frozen=True)
class Invalid:
    """Bad registration data; the task fails permanently with `invalid:<reason>: <detail>`."""

    reason: str
    detail: str = ""

    def describe(self) -> str:
        return f"invalid:{self.reason}: {self.detail}" if self.detail else f"invalid:{self.reason}"


RegistrationResult = UserRegistration | Skip | Invalid


@runtime_checkable
class RegistrationProvider(Protocol):
    """What REGISTRATION_PROVIDER names. Constructed once per cold start as
    `Provider(clients=<ClientFactory>, **REGISTRATION_PROVIDER_CONFIG)`.

    A provider may say, with a class attribute `needs_full_rescans: bool`, whether a change of its
    registration data is seen only by re-qualifying every object (a full re-scan): True for a source the image
    bucket's tag events do not cover (a mapping table, an external directory). Left out, it counts as True
    (`needs_full_rescans` below): an unknown source is not assumed to announce its changes."""

    def get_registration_data(self, task: BatchTask) -> RegistrationResult: ...


def needs_full_rescans(provider: object) -> bool:
    """Whether incremental imports can miss a change of `provider`'s registration data (see the Protocol)."""
    declared = getattr(type(provider), "needs_full_rescans", True)
    if not isinstance(declared, bool):
        raise TypeError(
            f"{type(provider).__name__}.needs_full_rescans must be True or False, not {declared!r}"
        )
    return declared


class InvalidRegistration(Exception):
    """Raised by the shared validators; providers turn it into `Invalid`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.invalid = Invalid(reason, detail)


def validate_user_id(value: object) -> str:
    """The tag contract's UserId: a string of 1-128 characters without control characters."""
    if value is None or value == "":
        raise InvalidRegistration("user-id-missing", "no UserId")
    if not isinstance(value, str):
        raise InvalidRegistration("user-id", f"UserId must be a string, not {type(value).__name__}")
    if len(value) > USER_ID_MAX_CHARS:
        raise InvalidRegistration(
            "user-id", f"UserId has {len(value)} characters; at most {USER_ID_MAX_CHARS}"
        )
    for position, char in enumerate(value):
        if unicodedata.category(char) in ("Cc", "Cs"):
            raise InvalidRegistration(
                "user-id", f"UserId has control character U+{ord(char):04X} at {position}"
            )
    return value


def validate_properties(value: object, where: str) -> dict[str, str]:
    """Properties must be a JSON object whose keys and values are all strings."""
    if not isinstance(value, dict):
        raise InvalidRegistration("properties-json", f"{where} is a JSON {_json_type(value)}, not an object")
    for name, item in value.items():
        if not isinstance(name, str) or not isinstance(item, str):
            raise InvalidRegistration(
                "properties-json",
                f"{where}: value of {str(name)[:64]!r} is a JSON {_json_type(item)}, not a string",
            )
    return value


def user_record_bytes(user_id: str, properties: Mapping[str, str] | None) -> int:
    """UTF-8 size of the user record (user id + properties) as compact JSON."""
    record = {"UserId": user_id, "Properties": dict(properties or {})}
    return len(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def check_user_record(user_id: str, properties: Mapping[str, str] | None) -> None:
    size = user_record_bytes(user_id, properties)
    if size > USER_RECORD_MAX_BYTES:
        raise InvalidRegistration(
            "user-record-too-large", f"user id + properties are {size} bytes; at most {USER_RECORD_MAX_BYTES}"
        )


def parse_bool_tag(name: str, value: str | None) -> bool:
    """`True` / `False` in any case; absent means False; anything else is invalid."""
    if value is None:
        return False
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise InvalidRegistration(f"tag-{name.lower()}", f"{name} must be True or False, not {value[:64]!r}")


def _json_type(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )
