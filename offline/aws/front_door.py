"""The one local endpoint (127.0.0.1, threaded) that every worker and client uses as AWS_ENDPOINT_URL.

It routes by the SigV4 credential scope's service name (Authorization header or presigned query) or the
X-Amz-Target header:
- `s3control` jobs API (CreateJob, DescribeJob, ListJobs, UpdateJobStatus) -> the S3 Batch emulator;
- `lambda` Invoke -> the worker pool (RequestResponse / Event / DryRun);
- `rekognition` -> the pluggable Rekognition handler;
- everything else -> proxied byte for byte to moto (which authenticates and authorizes once IAM is enforced).
For the emulated services it enforces IAM itself (the caller's role policies, see policy_eval.py); a denial
answers AccessDenied in the AWS format naming the action, and every denial (moto's too) is recorded.
It counts the API calls per service and action, which the demo and the benchmark read.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from offline.aws.operations import credential_scope, dynamodb_resources, iam_action, operation_name
from offline.aws.policy_eval import evaluate, role_policies
from offline.aws.requests import AccessDenied, Caller, Identities, Request, Response
from offline.loopback_server import LoopbackServer

_STREAM_CHUNK = 256 * 1024
# Bodies up to this size are read whole (to find the action of query-protocol calls); larger ones stream.
_SMALL_BODY = 1024 * 1024
_MAX_DENIALS_KEPT = 1000


class FrontDoor:
    def __init__(self, moto_endpoint: str, account_id: str, identities: Identities) -> None:
        parts = urlsplit(moto_endpoint)
        self._moto_host = parts.hostname or "127.0.0.1"
        self._moto_port = parts.port or 80
        self.account_id = account_id
        self.identities = identities
        self.enforce_iam = False
        self.routes: dict[str, Callable[[Request], Response | None]] = {}
        """service -> handler; a handler returning None lets the request through to moto."""
        self.calls: Counter[tuple[str, str]] = Counter()
        self.calls_by_caller: Counter[tuple[str, str, str]] = Counter()
        self.denials: list[dict[str, str]] = []
        self.denial_counts: Counter[tuple[str, str]] = Counter()
        self.listeners: list[Callable[[Request, int], None]] = []
        """Called after each request with its status (OfflineRuntime.on_api_call: the demo counts)."""
        self._lock = threading.Lock()
        self._server: LoopbackServer | None = None
        self._thread: threading.Thread | None = None
        self.endpoint = ""

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> str:
        door = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body leave in separate writes: without this, Nagle + delayed ACK add ~40 ms.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:
                door._handle(self)

            do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = LoopbackServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="offline-front-door", daemon=True
        )
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.endpoint = f"http://{host}:{port}"
        return self.endpoint

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)

    # -- IAM for the emulated services ------------------------------------------------------------------
    def authorize(
        self, caller: Caller, action: str, resource: str, context: dict[str, Any] | None = None
    ) -> None:
        """Raise AccessDenied unless the caller's role allows `action` on `resource` (IAM enforced only)."""
        if not self.enforce_iam or caller.kind == "admin":
            return
        if caller.kind != "role":
            self.record_denial(action, resource, caller, "unknown access key")
            raise AccessDenied(action, resource, caller, "the access key is unknown")
        decision = evaluate(role_policies(self.account_id, caller.role_name), action, resource, context)
        if not decision.allowed:
            self.record_denial(action, resource, caller, decision.reason)
            raise AccessDenied(action, resource, caller, f"{decision.reason} in the role's policies")

    def record_denial(self, action: str, resource: str, caller: Caller, reason: str) -> None:
        with self._lock:
            self.denial_counts[(action, caller.label)] += 1
            # Bounded: a poller retrying a denied call every second must not grow this without end.
            if len(self.denials) < _MAX_DENIALS_KEPT:
                self.denials.append(
                    {"action": action, "resource": resource, "caller": caller.label, "reason": reason}
                )

    # -- request handling -------------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        try:
            self._dispatch(handler)
        except (BrokenPipeError, ConnectionResetError):
            return
        except Exception as exc:  # a bug here must reach the client as a 500, not hang it
            body = json.dumps({"__type": "InternalFailure", "message": f"offline front door: {exc}"}).encode()
            _send(handler, Response(500, body, {"Content-Type": "application/json"}))

    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        headers = {k: v for k, v in handler.headers.items()}
        split = urlsplit(handler.path)
        query = parse_qs(split.query, keep_blank_values=True)
        length = headers.get("Content-Length") or headers.get("content-length")
        chunked = (
            "chunked" in (headers.get("Transfer-Encoding") or headers.get("transfer-encoding") or "").lower()
        )
        service, region, access_key = credential_scope(headers, query)
        if service == "s3" and split.path.startswith("/v20180820/"):
            service = "s3control"  # S3 Control signs as "s3"; its paths are versioned
        caller = self.identities.get(access_key)
        body: bytes | None = None
        if chunked:
            body = _read_chunked(handler)
        elif length is None or int(length) <= _SMALL_BODY:
            body = handler.rfile.read(int(length or 0))
        action = operation_name(service, handler.command, split.path, query, headers, body)
        with self._lock:
            self.calls[(service, action)] += 1
            self.calls_by_caller[(caller.label, service, action)] += 1
        request = Request(handler.command, split.path, query, headers, body or b"", service, region, caller)
        route = self.routes.get(service)
        response = None
        try:
            if service == "dynamodb" and body is not None:
                # moto cannot name DynamoDB resources: their resource-level check happens here.
                for resource in dynamodb_resources(body, region or "us-east-1", self.account_id):
                    self.authorize(caller, f"dynamodb:{action}", resource)
            if route is not None and body is not None:
                response = route(request)
        except AccessDenied as exc:
            response = _access_denied(service, exc)
        if response is not None:
            _send(handler, response)
            status = response.status
        else:
            status = self._proxy(handler, headers, body, int(length or 0), service, action, caller)
        for listener in self.listeners:
            listener(request, status)

    def _proxy(
        self,
        handler: BaseHTTPRequestHandler,
        headers: dict[str, str],
        body: bytes | None,
        length: int,
        service: str,
        action: str,
        caller: Caller,
    ) -> int:
        connection = http.client.HTTPConnection(self._moto_host, self._moto_port, timeout=120)
        try:
            forward = {
                k: v for k, v in headers.items() if k.lower() not in ("transfer-encoding", "connection")
            }
            if body is not None:
                forward = {k: v for k, v in forward.items() if k.lower() != "content-length"}
                forward["Content-Length"] = str(len(body))
            # Host is kept: the signature covers it, and moto builds URLs (queue URLs) from it.
            connection.putrequest(handler.command, handler.path, skip_host=True, skip_accept_encoding=True)
            for key, value in forward.items():
                connection.putheader(key, value)
            if connection.sock is None:
                connection.connect()
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if body is not None:
                connection.endheaders(body)  # one write: headers and body together
            else:
                connection.endheaders()
                remaining = length
                while remaining > 0:
                    chunk = handler.rfile.read(min(_STREAM_CHUNK, remaining))
                    if not chunk:
                        break
                    connection.send(chunk)
                    remaining -= len(chunk)
            upstream = connection.getresponse()
            status = upstream.status
            response_headers = [
                (k, v)
                for k, v in upstream.getheaders()
                if k.lower() not in ("transfer-encoding", "connection")
            ]
            if status == 403 or (
                status == 400 and service in ("sqs", "sns", "dynamodb", "lambda", "iam", "sts")
            ):
                payload = upstream.read()
                if (
                    b"AccessDenied" in payload
                    or b"not authorized" in payload
                    or b"InvalidClientTokenId" in payload
                ):
                    self.record_denial(
                        iam_action(service, action), "", caller, payload.decode(errors="replace")[:300]
                    )
                _send(handler, Response(status, payload, dict(response_headers)), keep_headers=True)
                return status
            handler.send_response(status)
            has_length = False
            for key, value in response_headers:
                if key.lower() == "content-length":
                    has_length = True
                handler.send_header(key, value)
            if not has_length:
                payload = upstream.read()
                handler.send_header("Content-Length", str(len(payload)))
                handler.end_headers()
                if handler.command != "HEAD":
                    handler.wfile.write(payload)
                return status
            handler.end_headers()
            if handler.command != "HEAD":
                while True:
                    chunk = upstream.read(_STREAM_CHUNK)
                    if not chunk:
                        break
                    handler.wfile.write(chunk)
            return status
        finally:
            connection.close()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "api_calls": {f"{s}:{a}": n for (s, a), n in sorted(self.calls.items())},
                "api_calls_by_caller": {
                    f"{c} {s}:{a}": n for (c, s, a), n in sorted(self.calls_by_caller.items())
                },
                "access_denied": list(self.denials),
                "access_denied_counts": {f"{c} {a}": n for (a, c), n in sorted(self.denial_counts.items())},
            }


def _read_chunked(handler: BaseHTTPRequestHandler) -> bytes:
    data = bytearray()
    while True:
        size_line = handler.rfile.readline()
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return bytes(data)
        data += handler.rfile.read(size)
        handler.rfile.readline()


def _access_denied(service: str, exc: AccessDenied) -> Response:
    """AccessDenied in the service's own error format."""
    message = str(exc)
    if service in ("s3control", "s3"):
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><ErrorResponse><Error><Code>AccessDenied</Code>'
            f"<Message>{_xml_escape(message)}</Message></Error></ErrorResponse>"
        ).encode()
        return Response(403, body, {"Content-Type": "application/xml", "x-amz-request-id": "offline"})
    if service == "lambda":
        body = json.dumps({"Type": "User", "Message": message}).encode()
        return Response(
            403, body, {"Content-Type": "application/json", "x-amzn-ErrorType": "AccessDeniedException"}
        )
    body = json.dumps({"__type": "AccessDeniedException", "Message": message}).encode()
    return Response(400, body, {"Content-Type": "application/x-amz-json-1.1"})


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _send(handler: BaseHTTPRequestHandler, response: Response, keep_headers: bool = False) -> None:
    handler.send_response(response.status)
    headers = dict(response.headers or {})
    headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
    for key, value in headers.items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(response.body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(response.body)
