"""The throttled indexer's settings, read once from the environment and validated with clear errors."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

# SQS: a message's visibility timeout can be at most 12 hours from when it was received.
MAX_VISIBILITY_SECONDS = 43_200


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
        )
