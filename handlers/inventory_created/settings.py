"""inventory_created's settings: each environment variable declared once (docs/inventory-created.md)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import AfterValidator

from handlers.common.settings_model import setting
from handlers.common.shared_settings import ImageSettings, ImageSizeSettings
from handlers.inventory_created.errors import SettingsError

# S3's multipart upload: every part but the last is at least 5 MiB ("Amazon S3 multipart upload limits").
MIN_PART_BYTES = 5 * 1024 * 1024


def _key_prefix(value: str) -> str:
    """`batch/manifests/` from `/batch/manifests` or `batch/manifests/`."""
    value = value.strip().lstrip("/")
    if not value:
        raise ValueError("must be a key prefix like 'batch/manifests/', not empty")
    return value if value.endswith("/") else value + "/"


KeyPrefix = Annotated[str, AfterValidator(_key_prefix)]


class Settings(ImageSettings, ImageSizeSettings):
    """What inventory_created reads from its environment."""

    error: ClassVar[type[Exception]] = SettingsError

    batch_function_arn: str = setting(
        env="BATCH_FUNCTION_ARN", doc="The function S3 Batch Operations invokes per object (the qualifier)."
    )
    batch_role_arn: str = setting(env="BATCH_ROLE_ARN", doc="The role S3 Batch Operations jobs run as.")
    manifest_bucket: str = setting(
        env="MANIFEST_BUCKET", doc="The inventory bucket: batch manifests, reports and run state go there."
    )
    manifest_prefix: KeyPrefix = setting(
        "batch/manifests/", env="MANIFEST_PREFIX", doc="Key prefix of the generated batch manifests."
    )
    report_prefix: KeyPrefix = setting(
        "batch/reports/", env="REPORT_PREFIX", doc="Key prefix of the S3 Batch completion reports."
    )
    state_prefix: KeyPrefix = setting(
        "batch/state/", env="STATE_PREFIX", doc="Key prefix of the run state (never expires)."
    )
    only_new_objects: bool = setting(
        True,
        env="ONLY_NEW_OBJECTS",
        doc="Incremental imports: after the first complete run, select only objects new or changed (a new "
        "version, so a new LastModified) since the last successful run; tag changes arrive as events. "
        "false: every inventory selects every image (a full re-scan each time).",
    )
    new_objects_overlap_seconds: int = setting(
        3600,
        env="NEW_OBJECTS_OVERLAP_SECONDS",
        doc="S3 Inventory is eventually consistent: objects changed shortly before the previous snapshot may "
        "be missing from it, so 'new since the last import' reaches back this far before that snapshot.",
        ge=0,
    )
    job_priority: int = setting(10, env="JOB_PRIORITY", doc="Priority of the S3 Batch jobs created.", ge=0)
    manifest_part_bytes: int = setting(
        8 * 1024 * 1024,
        env="MANIFEST_PART_BYTES",
        doc="Part size of the manifest's multipart upload (S3's minimum is 5 MiB for every part but the "
        "last).",
        ge=MIN_PART_BYTES,
    )
