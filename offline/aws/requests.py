"""What the front door hands each emulated service and gets back: who signed the request (Caller, known from
Identities), the request, the response, and the AccessDenied an emulated service raises."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Caller:
    """Who signed a request."""

    access_key: str
    kind: str
    """'admin' (the runtime's own credentials), 'role' (an assumed role) or 'unknown'."""
    arn: str = ""
    role_name: str = ""

    @property
    def label(self) -> str:
        return self.role_name or self.kind


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    service: str
    region: str
    caller: Caller

    @property
    def raw_query(self) -> str:
        return "&".join(f"{k}={v}" for k, vs in self.query.items() for v in vs)


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] | None = None


class RekognitionHandler(Protocol):
    def handle(self, action: str, body: dict[str, Any], caller: Caller) -> tuple[int, dict[str, Any]]: ...


class AccessDenied(Exception):
    def __init__(self, action: str, resource: str, caller: Caller, reason: str) -> None:
        super().__init__(
            f"User: {caller.arn or caller.access_key} is not authorized to perform: {action} on resource: "
            f"{resource} because {reason}"
        )
        self.action = action
        self.resource = resource
        self.caller = caller


class Identities:
    """Access key -> caller. The runtime registers its admin key and every role's assumed credentials."""

    def __init__(self) -> None:
        self._by_key: dict[str, Caller] = {}
        self._lock = threading.Lock()

    def add(self, caller: Caller) -> None:
        with self._lock:
            self._by_key[caller.access_key] = caller

    def get(self, access_key: str) -> Caller:
        with self._lock:
            return self._by_key.get(access_key) or Caller(access_key=access_key, kind="unknown")


def json_response(status: int, body: Any, error_type: str | None = None) -> Response:
    headers = {"Content-Type": "application/json"}
    if error_type:
        headers["x-amzn-ErrorType"] = error_type
    return Response(status, json.dumps(body).encode(), headers)
