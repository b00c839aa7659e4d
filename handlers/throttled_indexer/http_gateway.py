"""An existing HTTP registration API ("UserPortal") as the face index.

`POST {url}/register` with JSON `{"UserId", "Properties", "Image"}` (image base64): 2xx registered (an id in
the response body is recorded), 409 already registered, 408/429/5xx and timeouts retry later (Retry-After
honoured), any other 4xx is a permanent refusal recorded with the status and a body excerpt.
Deregistration (ARCHITECTURE is silent on it): `POST {url}/deregister` with `{"UserId", "ImageId"}`;
2xx and 404 (nothing registered) count as done.
Auth: none, SigV4 for API Gateway (`execute-api`), or an `x-api-key` read from Secrets Manager (cached, read
again once when the API answers 401/403, so a rotated key is picked up).
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from handlers.throttled_indexer.gateway import (
    GatewayBusy,
    GatewayRejected,
    Registration,
    RegistrationRequest,
)

# Bounds on what we read back: registration APIs answer small JSON documents.
MAX_RESPONSE_BYTES = 64 * 1024
EXCERPT_CHARS = 300
_ID_FIELDS = ("ImageId", "FaceId", "RegistrationId", "Id", "id", "imageId", "faceId")


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class ApiKeySource:
    """An API key from Secrets Manager, read on first use and again on demand (rotation)."""

    def __init__(self, secretsmanager, secret_arn: str) -> None:
        self._client = secretsmanager
        self._arn = secret_arn
        self._key: str | None = None

    def get(self, refresh: bool = False) -> str:
        if self._key is None or refresh:
            secret = self._client.get_secret_value(SecretId=self._arn)
            self._key = _api_key_from_secret(secret.get("SecretString") or "", self._arn)
        return self._key


def _api_key_from_secret(text: str, arn: str) -> str:
    """The secret is the key itself, or a JSON object holding it under api_key / apiKey / x-api-key."""
    try:
        data = json.loads(text)
    except ValueError:
        data = text
    if isinstance(data, dict):
        for name in ("api_key", "apiKey", "x-api-key", "key"):
            if isinstance(data.get(name), str) and data[name]:
                return data[name]
        raise ValueError(f"secret {arn} is a JSON object without an api_key / apiKey / x-api-key field")
    if not isinstance(data, str) or not data.strip():
        raise ValueError(f"secret {arn} holds no API key string")
    return data.strip()


Signer = Callable[[str, str, bytes, dict[str, str]], dict[str, str]]


def sigv4_signer(credentials_provider: Callable[[], Any], region: str) -> Signer:
    """Sign requests for API Gateway (`execute-api`) with the function's role credentials."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    def sign(method: str, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(credentials_provider(), "execute-api", region).add_auth(request)
        return dict(request.headers.items())

    return sign


class HttpGateway:
    name = "http"
    needs_bytes = True
    registers_per_image = False

    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float = 10.0,
        signer: Signer | None = None,
        api_key: ApiKeySource | None = None,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"GATEWAY_URL must be an http(s) URL, got {base_url!r}")
        self._base = base_url.rstrip("/")
        self._parts = parts
        self._host = parts.hostname  # checked above: a str from here on
        self._timeout = timeout_seconds
        self._signer = signer
        self._api_key = api_key
        self._ssl = ssl_context or ssl.create_default_context()
        self._clock = clock
        self._before_send: Callable[[str], None] | None = None

    def pace_calls(self, before_call: Callable[[str], None]) -> None:
        """Call `before_call("http")` right before each request goes out, after the connection is open
        (pacing.PacedGateway: the slot is waited for as late as possible, so calls reach the API on time)."""
        self._before_send = before_call

    # ------------------------------------------------------------------------------------------ operations
    def register(self, request: RegistrationRequest) -> Registration:
        if request.image is None:
            raise ValueError("the http gateway needs the image bytes")
        body = {
            "UserId": request.user_id,
            "Properties": request.properties,
            "Image": base64.b64encode(request.image).decode("ascii"),
        }
        response = self._call("/register", body)
        if 200 <= response.status < 300:
            return Registration(
                image_id=_id_from_body(response.body), details={"http_status": response.status}
            )
        if response.status == 409:
            # After a lost answer the registration that exists is ours: keep its id when
            # the API names it, or a later delete could not name it to /deregister. Without an id in the body
            # the record says so (`registration_id_unknown`): /deregister then gets the UserId alone.
            image_id = _id_from_body(response.body)
            details: dict[str, Any] = {"http_status": 409}
            if image_id is None:
                details["registration_id_unknown"] = True
            return Registration(already_registered=True, image_id=image_id, details=details)
        raise self._failure("register", response)

    def find_registration(self, request: RegistrationRequest) -> Registration | None:
        """The API has no lookup; none is needed: registering again after a lost answer gets 409 (already
        registered), recorded as indexed."""
        return None

    def deregister(self, user_id: str, face_ids: tuple[str, ...], image_id: str | None) -> None:
        response = self._call("/deregister", {"UserId": user_id, "ImageId": image_id})
        if 200 <= response.status < 300 or response.status == 404:
            return
        raise self._failure("deregister", response)

    # ------------------------------------------------------------------------------------------ transport
    def _call(self, path: str, document: dict[str, Any]) -> HttpResponse:
        body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        response = self._send(path, body, refresh_key=False)
        if response.status in (401, 403) and self._api_key is not None:
            response = self._send(path, body, refresh_key=True)  # the key may have been rotated
        return response

    def _send(self, path: str, body: bytes, *, refresh_key: bool) -> HttpResponse:
        url = self._base + path
        target = (self._parts.path.rstrip("/") + path) or "/"
        if self._parts.query:
            target += "?" + self._parts.query
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key is not None:
            headers["x-api-key"] = self._api_key.get(refresh=refresh_key)
        if self._signer is not None:
            headers = self._signer("POST", url, body, headers)
        if self._parts.scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                self._host, self._parts.port, timeout=self._timeout, context=self._ssl
            )
        else:
            connection = http.client.HTTPConnection(self._host, self._parts.port, timeout=self._timeout)
        try:
            if self._before_send is not None:
                connection.connect()
                self._before_send("http")
            connection.request("POST", target, body=body, headers=headers)
            raw = connection.getresponse()
            data = raw.read(MAX_RESPONSE_BYTES)
            return HttpResponse(raw.status, {k.lower(): v for k, v in raw.getheaders()}, data)
        except TimeoutError as exc:
            raise GatewayBusy(f"http {path}: timed out after {self._timeout:g}s") from exc
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            raise GatewayBusy(f"http {path}: {type(exc).__name__}: {exc}") from exc
        finally:
            connection.close()

    def _failure(self, operation: str, response: HttpResponse) -> Exception:
        excerpt = response.body[:EXCERPT_CHARS].decode("utf-8", errors="replace")
        if response.status in (408, 429) or response.status >= 500:
            return GatewayBusy(
                f"http {operation}: HTTP {response.status}",
                _retry_after(response.headers, self._clock()),
                may_have_registered=response.status != 429,  # 429: refused before doing anything
                throttled=response.status == 429,
            )
        if 400 <= response.status < 500:
            return GatewayRejected(
                f"http-{response.status}",
                f"{operation} refused with HTTP {response.status}: {excerpt}",
                {"http_status": response.status, "body_excerpt": excerpt},
            )
        # 1xx/3xx: the URL or a proxy is misconfigured; retried, then recorded as failed.
        return RuntimeError(f"http {operation}: unexpected HTTP {response.status}: {excerpt}")


def _id_from_body(body: bytes) -> str | None:
    try:
        data = json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, ValueError):
        return None
    if isinstance(data, dict):
        for name in _ID_FIELDS:
            value = data.get(name)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                return str(value)
    return None


def _retry_after(headers: dict[str, str], now: datetime) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())
