"""The function's settings, read once from environment variables (documented in the README)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from handlers.inventory_created.errors import SettingsError

# Rekognition's limit for an image read from S3; the gateway can take nothing larger.
DEFAULT_MAX_IMAGE_BYTES = 15 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    batch_function_arn: str
    batch_role_arn: str
    manifest_bucket: str
    manifest_prefix: str = "batch/manifests/"
    report_prefix: str = "batch/reports/"
    state_prefix: str = "batch/state/"
    image_suffixes: tuple[str, ...] = (".png", ".jpg", ".jpeg")
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES
    only_new_objects: bool = False
    # S3 Inventory is eventually consistent: objects changed shortly before the previous snapshot may be
    # missing from it, so "new since the last import" reaches back this far before that snapshot.
    new_objects_overlap_seconds: int = 3600
    job_priority: int = 10
    # Part size of the manifest's multipart upload (S3's minimum is 5 MiB for every part but the last).
    manifest_part_bytes: int = 8 * 1024 * 1024

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            batch_function_arn=_required(env, "BATCH_FUNCTION_ARN"),
            batch_role_arn=_required(env, "BATCH_ROLE_ARN"),
            manifest_bucket=_required(env, "MANIFEST_BUCKET"),
            manifest_prefix=_prefix(env, "MANIFEST_PREFIX", "batch/manifests/"),
            report_prefix=_prefix(env, "REPORT_PREFIX", "batch/reports/"),
            state_prefix=_prefix(env, "STATE_PREFIX", "batch/state/"),
            image_suffixes=_suffixes(env.get("IMAGE_SUFFIXES", ".png,.jpg,.jpeg")),
            max_image_bytes=_int(env, "MAX_IMAGE_BYTES", DEFAULT_MAX_IMAGE_BYTES, minimum=1),
            only_new_objects=_bool(env, "ONLY_NEW_OBJECTS", False),
            new_objects_overlap_seconds=_int(env, "NEW_OBJECTS_OVERLAP_SECONDS", 3600, minimum=0),
            job_priority=_int(env, "JOB_PRIORITY", 10, minimum=0),
            manifest_part_bytes=_int(env, "MANIFEST_PART_BYTES", 8 * 1024 * 1024, minimum=5 * 1024 * 1024),
        )


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"environment variable {name} is required and is not set")
    return value


def _prefix(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, default).strip().lstrip("/")
    if not value:
        raise SettingsError(f"environment variable {name} must not be empty (default {default!r})")
    return value if value.endswith("/") else value + "/"


def _suffixes(raw: str) -> tuple[str, ...]:
    suffixes = tuple(s.strip().lower() for s in raw.split(",") if s.strip())
    if not suffixes:
        raise SettingsError(f"environment variable IMAGE_SUFFIXES lists no suffix: {raw!r}")
    return suffixes


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"environment variable {name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"environment variable {name} must be >= {minimum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"environment variable {name} must be true or false, got {raw!r}")
