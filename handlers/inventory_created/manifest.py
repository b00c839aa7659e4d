"""The S3 Inventory manifest (manifest.json): loading, checksum verification and validation.

Reference: https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-location.html
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from handlers.common.s3_names import bucket_from_arn, bucket_name_problem
from handlers.inventory_created.errors import ManifestError

FORMATS = {"csv": "CSV", "parquet": "Parquet", "orc": "ORC"}
# The inventory's own folder name: <destination prefix>/<source bucket>/<config id>/<date>/manifest.json
_MANIFEST_KEY = re.compile(
    r"(?:^|/)([^/]+)/([^/]+)/(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}Z)/manifest\.(?:json|checksum)$"
)
# creationTimestamp is milliseconds since the epoch; beyond 9999-12-31T23:59:59.999Z no date exists to name
# the inventory by (datetime's range), so such a value is a corrupt manifest, not a time.
MAX_TIMESTAMP_MS = 253_402_300_799_999
# A size bound for manifest.json: it lists data files, a few hundred bytes each; beyond this it is not one.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024


class DataFile(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    key: str = Field(min_length=1, max_length=1024)
    size: int | None = Field(default=None, ge=0)
    md5: str | None = Field(default=None, alias="MD5checksum")

    @field_validator("md5")
    @classmethod
    def _hex_md5(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-fA-F]{32}", value):
            raise ValueError(f"must be 32 hexadecimal digits, got {value!r}")
        return value.lower() if value else value


class InventoryManifest(BaseModel):
    """The fields of manifest.json this function uses (others are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    source_bucket: str | None = Field(default=None, alias="sourceBucket")
    destination_bucket: str = Field(alias="destinationBucket")
    """The bucket holding the data files: a bucket name (an S3 bucket ARN is accepted and reduced to it)."""
    file_format: str = Field(alias="fileFormat")
    file_schema: str | None = Field(default=None, alias="fileSchema")
    creation_timestamp: int | None = Field(default=None, alias="creationTimestamp", ge=0, le=MAX_TIMESTAMP_MS)
    """Milliseconds since the epoch at which the inventory snapshot started."""
    files: list[DataFile]

    @field_validator("destination_bucket")
    @classmethod
    def _bucket_from_arn(cls, value: str) -> str:
        value = value.strip()
        if value.startswith("arn:"):
            bucket, problem = bucket_from_arn(value)
            if bucket is None:  # bucket_from_arn gives a problem exactly when it gives no bucket
                raise ValueError(f"must be an S3 bucket ARN or a bucket name; the ARN {problem}")
            return bucket
        problem = bucket_name_problem(value)
        if problem:
            raise ValueError(f"{value!r} is not a valid S3 bucket name: it {problem}")
        return value

    @field_validator("source_bucket")
    @classmethod
    def _source_bucket(cls, value: str | None) -> str | None:
        problem = None if value is None else bucket_name_problem(value)
        if problem:
            raise ValueError(f"{value!r} is not a valid S3 bucket name: it {problem}")
        return value

    @field_validator("file_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        try:
            return FORMATS[value.strip().lower()]
        except KeyError:
            raise ValueError(
                f"unknown inventory format {value!r}; expected one of CSV, Parquet, ORC"
            ) from None


def parse_manifest(data: Any, where: str) -> InventoryManifest:
    """Validate a manifest (already JSON-decoded); `where` names it in errors (an s3:// URL or 'payload')."""
    if not isinstance(data, dict):
        raise ManifestError(f"manifest {where} must be a JSON object, got {type(data).__name__}")
    try:
        return InventoryManifest.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()
        )
        raise ManifestError(f"manifest {where} is invalid: {problems}") from None


def load_manifest(
    s3: Any, bucket: str, key: str, checksum_key: str | None = None
) -> tuple[InventoryManifest, str]:
    """Read and validate manifest.json; when `checksum_key` is given, verify manifest.checksum first.

    Returns the manifest and the MD5 hex digest of its bytes.
    """
    where = f"s3://{bucket}/{key}"
    body = _get_bytes(s3, bucket, key, MAX_MANIFEST_BYTES, "manifest")
    digest = hashlib.md5(body, usedforsecurity=False).hexdigest()
    if checksum_key is not None:
        expected = (
            _get_bytes(s3, bucket, checksum_key, 1024, "manifest checksum").decode("ascii", "replace").strip()
        )
        if expected.lower() != digest:
            raise ManifestError(
                f"manifest {where} does not match s3://{bucket}/{checksum_key}: "
                f"its MD5 is {digest}, the checksum file says {expected[:64]!r}"
            )
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ManifestError(f"manifest {where} is not valid JSON: {exc}") from None
    return parse_manifest(data, where), digest


def _get_bytes(s3: Any, bucket: str, key: str, limit: int, what: str) -> bytes:
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound"):
            raise ManifestError(f"{what} s3://{bucket}/{key} does not exist") from None
        raise
    if response.get("ContentLength", 0) > limit:
        raise ManifestError(
            f"{what} s3://{bucket}/{key} is {response['ContentLength']} bytes, more than {limit}"
        )
    with response["Body"] as body:
        return body.read()


def inventory_id(manifest: InventoryManifest, manifest_key: str | None, manifest_md5: str) -> str:
    """The inventory's date folder (e.g. 2024-05-01T01-00Z), from its key or creationTimestamp.

    A manifest given without either (a hand-written payload) is named after its content, so re-running it
    is still recognised as the same inventory.
    """
    if manifest_key:
        match = _MANIFEST_KEY.search(manifest_key)
        if match:
            return match.group(3)
    if manifest.creation_timestamp is not None:
        when = datetime.fromtimestamp(manifest.creation_timestamp / 1000, tz=UTC)
        return when.strftime("%Y-%m-%dT%H-%MZ")
    return f"manual-{manifest_md5[:16]}"


# Where S3 Inventory puts data files: <destination prefix>/<source bucket>/<config id>/data/<file>
_DATA_KEY = re.compile(r"(?:^|/)([^/]+)/[^/]+/data/[^/]+$")
UNKNOWN_SOURCE = "unknown-source"


def source_bucket(manifest: InventoryManifest, manifest_key: str | None) -> str:
    """The inventoried bucket: the manifest's sourceBucket, else the inventory's folder layout (manifest
    or first data file key), else UNKNOWN_SOURCE: it then only labels the run, its manifests and state."""
    if manifest.source_bucket:
        return manifest.source_bucket
    candidates = [_MANIFEST_KEY.search(manifest_key)] if manifest_key else []
    candidates += [_DATA_KEY.search(f.key) for f in manifest.files[:1]]
    for match in candidates:
        if match and bucket_name_problem(match.group(1)) is None:
            return match.group(1)
    return UNKNOWN_SOURCE
