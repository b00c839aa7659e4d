"""Deliver an S3 Inventory report the way S3 does: data files, then manifest.json, then manifest.checksum.

Layout (https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-location.html):
  <prefix>/<source bucket>/<config id>/data/<uuid>.csv.gz          gzipped CSV, no header, every field quoted
  <prefix>/<source bucket>/<config id>/<YYYY-MM-DDTHH-MMZ>/manifest.json
  <prefix>/<source bucket>/<config id>/<YYYY-MM-DDTHH-MMZ>/manifest.checksum   (MD5 hex of manifest.json)
Keys are URL-encoded as S3 Inventory does (`quote_plus`: a space is `+`, `/` kept). Columns follow S3's
fixed order whatever the configuration lists. The configuration deployed on the source bucket (destination,
prefix, format, optional fields, included versions) is read back from S3 when not given, so a delivery
matches what the stack asked for. Rows are streamed: data files are cut every `rows_per_file` rows.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

# S3 Inventory's column order: the mandatory fields, then the optional ones in this order.
FIELD_ORDER = (
    "Size",
    "LastModifiedDate",
    "ETag",
    "StorageClass",
    "IsMultipartUploaded",
    "ReplicationStatus",
    "EncryptionStatus",
    "ObjectLockRetainUntilDate",
    "ObjectLockMode",
    "ObjectLockLegalHoldStatus",
    "IntelligentTieringAccessTier",
    "BucketKeyStatus",
    "ChecksumAlgorithm",
    "ObjectAccessControlList",
    "ObjectOwner",
)
DEFAULT_ROWS_PER_FILE = 100_000
MANIFEST_VERSION = "2016-11-30"


@dataclass(frozen=True)
class InventoryRow:
    """One object (version) as S3 Inventory lists it. `key` is the raw key; it is URL-encoded on output."""

    key: str
    version_id: str | None = None
    is_latest: bool = True
    is_delete_marker: bool = False
    size: int | None = None
    last_modified: datetime | None = None
    etag: str | None = None
    storage_class: str | None = "STANDARD"


@dataclass
class Delivery:
    """What was written; the bucket notification on manifest.checksum starts the pipeline."""

    destination_bucket: str
    manifest_key: str
    checksum_key: str
    data_keys: list[str] = field(default_factory=list)
    rows: int = 0
    schema: str = ""


def inventory_configuration(s3_client: Any, source_bucket: str, config_id: str) -> dict[str, Any]:
    """The bucket's inventory configuration `config_id` (as GetBucketInventoryConfiguration answers it)."""
    response = s3_client.get_bucket_inventory_configuration(Bucket=source_bucket, Id=config_id)
    return response["InventoryConfiguration"]


def deliver_inventory(
    s3_client: Any,
    *,
    source_bucket: str,
    config_id: str = "bulk-loader",
    destination_bucket: str | None = None,
    prefix: str | None = None,
    fmt: str | None = None,
    optional_fields: Iterable[str] | None = None,
    include_versions: bool | None = None,
    rows: Iterable[InventoryRow] | None = None,
    rows_per_file: int = DEFAULT_ROWS_PER_FILE,
    now: datetime | None = None,
) -> Delivery:
    """Write one inventory delivery for `source_bucket`.

    Arguments left as None are taken from the bucket's configuration `config_id` (destination bucket and
    prefix, format, optional fields, IncludedObjectVersions). `rows` default: the bucket listed now
    (ListObjectVersions when versions are included, else ListObjectsV2), page by page.
    """
    if rows_per_file < 1:
        raise ValueError(f"rows_per_file must be >= 1, got {rows_per_file}")
    needs_config = None in (destination_bucket, prefix, fmt, optional_fields, include_versions)
    config = inventory_configuration(s3_client, source_bucket, config_id) if needs_config else {}
    target = config.get("Destination", {}).get("S3BucketDestination", {})
    if destination_bucket is None:
        destination_bucket = _bucket_from_arn(target["Bucket"])
    if prefix is None:
        prefix = target.get("Prefix", "")
    fmt = fmt or target.get("Format", "CSV")
    if fmt != "CSV":
        raise ValueError(
            f"inventory format {fmt!r}: only CSV deliveries are emulated (configuration {config_id} of "
            f"{source_bucket})"
        )
    if optional_fields is None:
        optional_fields = config.get("OptionalFields", [])
    if include_versions is None:
        include_versions = config.get("IncludedObjectVersions", "Current") == "All"
    wanted = set(optional_fields)
    unknown = wanted - set(FIELD_ORDER)
    if unknown:
        raise ValueError(f"unknown inventory optional fields {sorted(unknown)}; S3 knows {FIELD_ORDER}")
    columns = ["Bucket", "Key"]
    if include_versions:
        columns += ["VersionId", "IsLatest", "IsDeleteMarker"]
    columns += [name for name in FIELD_ORDER if name in wanted]
    if rows is None:
        rows = list_rows(s3_client, source_bucket, include_versions)

    now = now or datetime.now(UTC)
    base = "/".join(part for part in (prefix.strip("/"), source_bucket, config_id) if part)
    delivery = Delivery(destination_bucket, "", "", schema=", ".join(columns))
    files: list[dict[str, Any]] = []
    for data in _data_files(rows, columns, source_bucket, rows_per_file, delivery):
        key = f"{base}/data/{uuid.uuid4()}.csv.gz"
        s3_client.put_object(Bucket=destination_bucket, Key=key, Body=data)
        delivery.data_keys.append(key)
        files.append({"key": key, "size": len(data), "MD5checksum": hashlib.md5(data).hexdigest()})  # noqa: S324
    manifest = json.dumps(
        {
            "sourceBucket": source_bucket,
            "destinationBucket": f"arn:aws:s3:::{destination_bucket}",
            "version": MANIFEST_VERSION,
            "creationTimestamp": str(int(now.timestamp() * 1000)),
            "fileFormat": "CSV",
            "fileSchema": delivery.schema,
            "files": files,
        },
        indent=2,
    ).encode()
    folder = f"{base}/{now.astimezone(UTC):%Y-%m-%dT%H-%MZ}"
    delivery.manifest_key = f"{folder}/manifest.json"
    delivery.checksum_key = f"{folder}/manifest.checksum"
    s3_client.put_object(Bucket=destination_bucket, Key=delivery.manifest_key, Body=manifest)
    # Last, as S3 does: its arrival means the delivery is complete (the pipeline's notification filter).
    checksum = hashlib.md5(manifest).hexdigest().encode()  # noqa: S324 (S3's manifest checksum is MD5)
    s3_client.put_object(Bucket=destination_bucket, Key=delivery.checksum_key, Body=checksum)
    return delivery


def list_rows(s3_client: Any, bucket: str, include_versions: bool) -> Iterator[InventoryRow]:
    """The bucket's objects (or versions and delete markers), one listing page at a time."""
    if not include_versions:
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                yield InventoryRow(
                    item["Key"],
                    size=item["Size"],
                    last_modified=item["LastModified"],
                    etag=item["ETag"].strip('"'),
                    storage_class=item.get("StorageClass", "STANDARD"),
                )
        return
    for page in s3_client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for item in page.get("Versions", []):
            yield InventoryRow(
                item["Key"],
                version_id=_version(item.get("VersionId")),
                is_latest=item["IsLatest"],
                size=item["Size"],
                last_modified=item["LastModified"],
                etag=item["ETag"].strip('"'),
                storage_class=item.get("StorageClass", "STANDARD"),
            )
        for item in page.get("DeleteMarkers", []):
            yield InventoryRow(
                item["Key"],
                version_id=_version(item.get("VersionId")),
                is_latest=item["IsLatest"],
                is_delete_marker=True,
                size=None,
                last_modified=item["LastModified"],
                etag=None,
                storage_class=None,
            )


def _version(version_id: str | None) -> str | None:
    # S3 Inventory leaves the null version's id empty.
    return None if version_id in (None, "null") else version_id


def _data_files(
    rows: Iterable[InventoryRow], columns: list[str], bucket: str, rows_per_file: int, delivery: Delivery
) -> Iterator[bytes]:
    """Gzipped CSV data files of at most `rows_per_file` rows (at least one file, possibly empty)."""
    buffer = io.BytesIO()
    archive = gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0)
    text = io.TextIOWrapper(archive, encoding="utf-8", newline="")
    writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n")
    in_file = 0
    for row in rows:
        writer.writerow([_cell(row, bucket, column) for column in columns])
        in_file += 1
        delivery.rows += 1
        if in_file == rows_per_file:
            text.close()
            yield buffer.getvalue()
            buffer = io.BytesIO()
            archive = gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0)
            text = io.TextIOWrapper(archive, encoding="utf-8", newline="")
            writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n")
            in_file = 0
    if in_file or not delivery.data_keys:
        text.close()
        yield buffer.getvalue()


def _cell(row: InventoryRow, bucket: str, column: str) -> str:
    if column == "Bucket":
        return bucket
    if column == "Key":
        return quote_plus(row.key, safe="/")
    if column == "VersionId":
        return row.version_id or ""
    if column == "IsLatest":
        return "true" if row.is_latest else "false"
    if column == "IsDeleteMarker":
        return "true" if row.is_delete_marker else "false"
    if column == "Size":
        return "" if row.size is None else str(row.size)
    if column == "LastModifiedDate":
        moment = row.last_modified or datetime.fromtimestamp(time.time(), UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if column == "ETag":
        return row.etag or ""
    if column == "StorageClass":
        return row.storage_class or ""
    return ""  # fields a listing cannot tell (replication, encryption, object lock...): left empty


def _bucket_from_arn(arn: str) -> str:
    if not arn.startswith("arn:") or ":s3:::" not in arn:
        raise ValueError(f"inventory destination {arn!r} is not an S3 bucket ARN")
    return arn.split(":::", 1)[1]
