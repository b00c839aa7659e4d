"""A local HTTP registration API ("UserPortal") for `--gateway http`: what handlers/throttled_indexer/
http_gateway.py talks to.

`POST /register` {"UserId", "Properties", "Image" (base64)} -> 201 {"ImageId"}; 409 when the same (UserId,
SHA-256 of the image) is registered; 422 when the image is not a PNG/JPEG or holds no face; 400 for a bad
request; 429 with Retry-After past the rate limit; injected faults (500, 429, slow answers, a killed caller)
from a FaultPlan (offline.gateways.limits: its `next(subject)` gets the request's UserId).
`POST /deregister` {"UserId", "ImageId"} -> 200, or 404 when nothing is registered under that id.
Optional `api_key`: requests without the right `x-api-key` get 401.
Binds 127.0.0.1 on a free port; daemon threads; `stop()` ends it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from offline.gateways.faces import InvalidImage, analyse_image
from offline.gateways.limits import FaultPlan, Registry, TokenBucket
from offline.loopback_server import LoopbackServer

MAX_BODY_BYTES = 8 * 1024 * 1024
"""The largest request accepted (a base64 image of ~6 MB); larger ones get 413."""


class RegistrationApi:
    def __init__(
        self,
        *,
        rate_per_s: float | None = None,
        burst: float | None = None,
        faults: FaultPlan | None = None,
        registry: Registry | None = None,
        api_key: str | None = None,
        timeout_delay_s: float = 12.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """
        rate_per_s / burst: a token bucket shared by both operations (None: unlimited).
        timeout_delay_s: how long a "timeout" fault holds the answer (longer than the client waits: the
            indexer's default timeout is 10 s).
        """
        self.limit = TokenBucket(rate_per_s, burst, clock)
        self.rate_per_s = rate_per_s
        self.faults = faults or FaultPlan()
        self.registry = registry or Registry()
        self.api_key = api_key
        self.timeout_delay_s = timeout_delay_s
        self.responses: Counter[str] = Counter()
        """`<path> <status>` -> count."""
        self._lock = threading.Lock()
        self._server: LoopbackServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the registration API is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                api._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                return  # counted in `responses`; per-request lines would drown the demo's output

        self._server = LoopbackServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="registration-api", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> RegistrationApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- requests -------------------------------------------------------------------------------------------
    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?", 1)[0].rstrip("/")
        length = int(request.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            request.rfile.read(length)
            return self._reply(request, path, 413, {"error": f"request body over {MAX_BODY_BYTES} bytes"})
        raw = request.rfile.read(length)
        if self.api_key is not None and request.headers.get("x-api-key") != self.api_key:
            return self._reply(request, path, 401, {"error": "missing or wrong x-api-key"})
        if path not in ("/register", "/deregister"):
            return self._reply(request, path, 404, {"error": f"no such operation {path!r}"})
        if not self.limit.try_acquire():
            wait = max(1, math.ceil(1 / self.rate_per_s)) if self.rate_per_s else 1
            return self._reply(
                request, path, 429, {"error": "rate limit exceeded"}, {"Retry-After": str(wait)}
            )
        not_json = ""
        try:
            document = json.loads(raw)
        except ValueError as exc:
            document, not_json = None, f"the body is not JSON ({exc})"
        subject = document.get("UserId") if isinstance(document, dict) else None
        fault = self.faults.next(subject if isinstance(subject, str) else None)
        if fault == "crash_before":
            self.faults.crash()
            return self._reply(request, path, 500, {"error": "injected fault: the caller died"})
        if fault == "outage":
            return self._reply(request, path, 500, {"error": "injected fault: outage"})
        if fault == "throttle":
            return self._reply(
                request, path, 429, {"error": "injected fault: throttled"}, {"Retry-After": "1"}
            )
        if fault == "timeout":
            time.sleep(self.timeout_delay_s)
            return self._reply(request, path, 504, {"error": "injected fault: timed out"})
        try:
            if not_json:
                raise ValueError(not_json)
            if not isinstance(document, dict):
                raise ValueError("the body is not a JSON object")
            status, answer = self._register(document) if path == "/register" else self._deregister(document)
        except ValueError as exc:
            status, answer = 400, {"error": f"bad request: {exc}"}
        if fault == "timeout_after_success":
            time.sleep(self.timeout_delay_s)
        if fault == "crash_after":
            self.faults.crash()  # processed; the caller dies before it reads the answer
        return self._reply(request, path, status, answer)

    def _register(self, document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        user_id = document.get("UserId")
        if not isinstance(user_id, str) or not user_id:
            raise ValueError("UserId must be a non-empty string")
        properties = document.get("Properties")
        if properties is not None and not isinstance(properties, dict):
            raise ValueError("Properties must be an object or null")
        try:
            image = base64.b64decode(document.get("Image") or "", validate=True)
        except (binascii.Error, TypeError):
            raise ValueError("Image is not base64") from None
        try:
            info = analyse_image(image)
        except InvalidImage as exc:
            return 422, {"error": f"invalid image: {exc}"}
        if info.faces == 0:
            return 422, {"error": "no face found in the image"}
        fingerprint = hashlib.sha256(image).hexdigest()
        with self._lock:  # check and add as one step: two concurrent identical requests -> one 201, one 409
            existing = self.registry.find_active(user_id, fingerprint)
            if existing is not None:
                return 409, {"error": "already registered", "ImageId": existing.id}
            registration = self.registry.add(user_id, fingerprint)
        return 201, {"ImageId": registration.id}

    def _deregister(self, document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        image_id = document.get("ImageId")
        if not isinstance(image_id, str) or not image_id:
            raise ValueError("ImageId must be a non-empty string")
        registration = self.registry.get(image_id)
        if registration is None or not registration.active or registration.user_id != document.get("UserId"):
            return 404, {"error": f"no registration {image_id} for this user"}
        self.registry.remove(image_id)
        return 200, {"ImageId": image_id, "deregistered": True}

    def _reply(
        self,
        request: BaseHTTPRequestHandler,
        path: str,
        status: int,
        answer: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        with self._lock:
            self.responses[f"{path} {status}"] += 1
        body = json.dumps(answer).encode()
        try:
            request.send_response(status)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                request.send_header(name, value)
            request.end_headers()
            request.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            return  # the client gave up (a timeout fault): nothing to answer
