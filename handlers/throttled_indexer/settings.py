"""The throttled indexer's settings, read once from the environment and validated with clear errors."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

# SQS: a message's visibility timeout can be at most 12 hours from when it was received.
MAX_VISIBILITY_SECONDS = 43_200
# Bounds of a paced rate (calls per second); components/config.py declares the stack setting with the same
# bounds (tests/infra checks they agree).
MIN_RATE_PER_SECOND = 0.01
MAX_RATE_PER_SECOND = 10_000.0
# What each gateway's calls are paced under (handlers/throttled_indexer/pacing.py): Rekognition per API, the
# HTTP API as one limit.
PACED_APIS = {"rekognition": ("IndexFaces", "DeleteFaces", "SearchFacesByImage"), "http": ("http",)}


class SettingsError(ValueError):
    """A missing or invalid environment variable; the text names it."""


@dataclass(frozen=True)
class Settings:
    history_table: str
    gateway: Literal["rekognition", "http"]
    collection_id: str | None = None
    gateway_url: str | None = None
    gateway_auth: Literal["none", "sigv4", "api-key"] = "none"
    gateway_api_key_secret_arn: str | None = None
    gateway_timeout_seconds: float = 10.0
    queue_url: str | None = None
    dlq_url: str | None = None
    max_receive_count: int = 5
    history_ttl_days: int = 14
    backoff_base_seconds: int = 60
    backoff_max_seconds: int = 6 * 3600
    max_wait_hours: float = 72.0
    max_image_bytes: int = 15 * 1024 * 1024
    quarantine_bucket: str | None = None
    quarantine_prefix: str = "quarantine/"
    region: str | None = None
    gateway_rates: dict[str, float] = field(default_factory=dict)
    """Calls per second per paced API (GATEWAY_RATE_PER_SECOND); empty: not paced."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def text(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def number(name: str, default: float, low: float, high: float, kind: type = int):
            raw = text(name)
            if raw is None:
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise SettingsError(f"{name} must be a number, got {raw!r}") from None
            if not low <= value <= high:
                raise SettingsError(f"{name} must be between {low} and {high}, got {raw!r}")
            return value

        history_table = text("HISTORY_TABLE")
        if history_table is None:
            raise SettingsError("HISTORY_TABLE is required (the import-history DynamoDB table name)")
        gateway = (text("GATEWAY") or "").lower()
        if gateway not in ("rekognition", "http"):
            raise SettingsError(f"GATEWAY must be 'rekognition' or 'http', got {env.get('GATEWAY')!r}")
        collection_id = text("COLLECTION_ID")
        gateway_url = text("GATEWAY_URL")
        auth = (text("GATEWAY_AUTH") or "none").lower()
        if auth not in ("none", "sigv4", "api-key"):
            raise SettingsError(
                f"GATEWAY_AUTH must be none, sigv4 or api-key, got {env.get('GATEWAY_AUTH')!r}"
            )
        secret_arn = text("GATEWAY_API_KEY_SECRET_ARN")
        if gateway == "rekognition" and collection_id is None:
            raise SettingsError("COLLECTION_ID is required when GATEWAY=rekognition")
        if gateway == "http":
            if gateway_url is None:
                raise SettingsError("GATEWAY_URL is required when GATEWAY=http")
            if not gateway_url.startswith(("https://", "http://")):
                raise SettingsError(f"GATEWAY_URL must be an http(s) URL, got {gateway_url!r}")
            if auth == "api-key" and secret_arn is None:
                raise SettingsError("GATEWAY_API_KEY_SECRET_ARN is required when GATEWAY_AUTH=api-key")
        rates = _gateway_rates(text("GATEWAY_RATE_PER_SECOND"), gateway)
        backoff_max = number("BACKOFF_MAX_SECONDS", 6 * 3600, 1, MAX_VISIBILITY_SECONDS - 60)
        return cls(
            history_table=history_table,
            gateway=gateway,  # type: ignore[arg-type]
            collection_id=collection_id,
            gateway_url=gateway_url.rstrip("/") if gateway_url else None,
            gateway_auth=auth,  # type: ignore[arg-type]
            gateway_api_key_secret_arn=secret_arn,
            gateway_timeout_seconds=number("GATEWAY_TIMEOUT_SECONDS", 10.0, 0.1, 900, float),
            queue_url=text("QUEUE_URL"),
            dlq_url=text("DLQ_URL"),
            max_receive_count=number("MAX_RECEIVE_COUNT", 5, 1, 1000),
            history_ttl_days=number("HISTORY_TTL_DAYS", 14, 1, 3650),
            backoff_base_seconds=number("BACKOFF_BASE_SECONDS", 60, 1, backoff_max),
            backoff_max_seconds=backoff_max,
            max_wait_hours=number("MAX_WAIT_HOURS", 72.0, 0, 24 * 14, float),
            max_image_bytes=number("MAX_IMAGE_BYTES", 15 * 1024 * 1024, 1, 50 * 1024 * 1024),
            quarantine_bucket=text("QUARANTINE_BUCKET"),
            quarantine_prefix=text("QUARANTINE_PREFIX") or "quarantine/",
            region=text("AWS_REGION"),
            gateway_rates=rates,
        )


def _gateway_rates(raw: str | None, gateway: str) -> dict[str, float]:
    """GATEWAY_RATE_PER_SECOND: a number (every paced API of the gateway at that rate) or a JSON object of
    API name -> calls per second (rekognition: IndexFaces, DeleteFaces, SearchFacesByImage; http: http)."""
    name, apis = "GATEWAY_RATE_PER_SECOND", PACED_APIS[gateway]
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number or a JSON object, got {raw!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float | dict):
        raise SettingsError(f"{name} must be a number or a JSON object, got {raw!r}")
    rates = dict.fromkeys(apis, value) if not isinstance(value, dict) else value
    unknown = sorted(set(rates) - set(apis))
    if unknown:
        raise SettingsError(f"{name}: unknown API(s) {unknown} for GATEWAY={gateway}; allowed: {list(apis)}")
    checked = {}
    for api, rate in rates.items():
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise SettingsError(f"{name}: {api} must be a number, got {rate!r}")
        if not MIN_RATE_PER_SECOND <= rate <= MAX_RATE_PER_SECOND:
            raise SettingsError(
                f"{name}: {api} must be between {MIN_RATE_PER_SECOND} and {MAX_RATE_PER_SECOND}, got {rate!r}"
            )
        checked[api] = float(rate)
    return checked
