"""The qualifier's settings, read once from the environment with clear errors (README: batch_qualifier)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from handlers.batch_qualifier.provider_loader import parse_provider_config

DEFAULT_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DEFAULT_HISTORY_TTL_DAYS = 14


class SettingsError(Exception):
    """An environment variable is missing or malformed; the text names it."""


@dataclass(frozen=True)
class Settings:
    queue_url: str
    history_table: str | None
    provider: str
    provider_config: Mapping[str, Any]
    image_suffixes: tuple[str, ...]
    history_ttl_days: int

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Settings:
        queue_url = environ.get("QUEUE_URL", "").strip()
        if not queue_url.startswith(("https://", "http://")):
            raise SettingsError(f"QUEUE_URL must be the SQS queue URL, got {queue_url!r}")
        return cls(
            queue_url=queue_url,
            history_table=environ.get("HISTORY_TABLE", "").strip() or None,
            provider=environ.get("REGISTRATION_PROVIDER", "").strip() or "s3-tags",
            provider_config=parse_provider_config(environ.get("REGISTRATION_PROVIDER_CONFIG")),
            image_suffixes=_suffixes(environ.get("IMAGE_SUFFIXES")),
            history_ttl_days=_positive_int(
                "HISTORY_TTL_DAYS", environ.get("HISTORY_TTL_DAYS"), DEFAULT_HISTORY_TTL_DAYS
            ),
        )


def _suffixes(raw: str | None) -> tuple[str, ...]:
    if raw is None or not raw.strip():
        return DEFAULT_IMAGE_SUFFIXES
    suffixes = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    bad = [suffix for suffix in suffixes if not suffix.startswith(".")]
    if not suffixes or bad:
        raise SettingsError(f"IMAGE_SUFFIXES must be a comma-separated list like '.png,.jpg', got {raw!r}")
    return suffixes


def _positive_int(name: str, raw: str | None, default: int) -> int:
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise SettingsError(f"{name} must be a positive whole number of days, got {raw!r}")
    return value
