"""Deliver an S3 Inventory report the way S3 does: data files, then manifest.json, then manifest.checksum.

Layout (https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-location.html):
  <prefix>/<source bucket>/<config id>/data/<uuid>.csv.gz | .parquet | .orc
  <prefix>/<source bucket>/<config id>/<YYYY-MM-DDTHH-MMZ>/manifest.json
  <prefix>/<source bucket>/<config id>/<YYYY-MM-DDTHH-MMZ>/manifest.checksum   (MD5 hex of manifest.json)
  <prefix>/<source bucket>/<config id>/hive/dt=<YYYY-MM-DD-HH-MM>/symlink.txt  (the data files' s3:// URLs)
Formats, as S3's real deliveries (tests/events/inventory) show them (manifest version 2016-11-30):
  CSV      gzipped, no header, every field quoted, keys URL-encoded (`quote_plus`: a space is `+`, `/` kept);
           fileSchema "Bucket, Key, VersionId, ...".
  Parquet  snappy, snake_case columns (bucket, key, version_id, ...), bucket/key required, timestamps int64
           milliseconds UTC; keys raw; fileSchema the Parquet message type text.
  ORC      zlib, the same columns, ORC `timestamp` (no zone, UTC values); keys raw; fileSchema the ORC
           struct<...> type text.
Keys: "When you're using the CSV file format, the key name is URL-encoded and must be decoded before you can
use it" (AWS, "Amazon S3 Inventory list"); Parquet and ORC carry the key as it is.
Columns follow S3's fixed order whatever the configuration lists. The configuration deployed on the source
bucket (destination, prefix, format, optional fields, included versions) is read back from S3 when not given,
so a delivery matches what the stack asked for. Rows are streamed: data files are cut every `rows_per_file`
rows, columnar files are written in row groups / stripes of `COLUMNAR_CHUNK_ROWS`.
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

import pyarrow as pa
import pyarrow.orc as orc
import pyarrow.parquet as pq

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
COLUMNAR_CHUNK_ROWS = 10_000
MANIFEST_VERSION = "2016-11-30"
FORMATS = ("CSV", "Parquet", "ORC")
DATA_SUFFIX = {"CSV": "csv.gz", "Parquet": "parquet", "ORC": "orc"}
_STRING, _BOOL, _INT, _TIME = "string", "bool", "int", "timestamp"
# Each field's Parquet/ORC column name and kind, as S3's real Parquet and ORC deliveries declare them.
COLUMNAR_FIELDS: dict[str, tuple[str, str]] = {
    "Bucket": ("bucket", _STRING),
    "Key": ("key", _STRING),
    "VersionId": ("version_id", _STRING),
    "IsLatest": ("is_latest", _BOOL),
    "IsDeleteMarker": ("is_delete_marker", _BOOL),
    "Size": ("size", _INT),
    "LastModifiedDate": ("last_modified_date", _TIME),
    "ETag": ("e_tag", _STRING),
    "StorageClass": ("storage_class", _STRING),
    "IsMultipartUploaded": ("is_multipart_uploaded", _BOOL),
    "ReplicationStatus": ("replication_status", _STRING),
    "EncryptionStatus": ("encryption_status", _STRING),
    "ObjectLockRetainUntilDate": ("object_lock_retain_until_date", _TIME),
    "ObjectLockMode": ("object_lock_mode", _STRING),
    "ObjectLockLegalHoldStatus": ("object_lock_legal_hold_status", _STRING),
    "IntelligentTieringAccessTier": ("intelligent_tiering_access_tier", _STRING),
    "BucketKeyStatus": ("bucket_key_status", _STRING),
    "ChecksumAlgorithm": ("checksum_algorithm", _STRING),
    "ObjectAccessControlList": ("object_access_control_list", _STRING),
    "ObjectOwner": ("object_owner", _STRING),
}
_REQUIRED = ("Bucket", "Key")  # Parquet: `required` (never null); every other column is `optional`
_PARQUET_TYPES = {
    _STRING: (pa.string(), "binary", " (STRING)"),
    _BOOL: (pa.bool_(), "boolean", ""),
    _INT: (pa.int64(), "int64", ""),
    _TIME: (pa.timestamp("ms", tz="UTC"), "int64", " (TIMESTAMP(MILLIS,true))"),
}
# ORC's `timestamp` has no zone (pyarrow writes a zoned one as `timestamp with local time zone`).
_ORC_TYPES = {
    _STRING: (pa.string(), "string"),
    _BOOL: (pa.bool_(), "boolean"),
    _INT: (pa.int64(), "bigint"),
    _TIME: (pa.timestamp("ms"), "timestamp"),
}


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
    """The manifest's fileSchema."""
    fmt: str = "CSV"
    symlink_key: str = ""


def inventory_configuration(s3_client: Any, source_bucket: str, config_id: str | None) -> dict[str, Any]:
    """The bucket's inventory configuration `config_id` (as GetBucketInventoryConfiguration answers it);
    None: the bucket's only one (the stack decides its id)."""
    if config_id is None:
        listed = s3_client.list_bucket_inventory_configurations(Bucket=source_bucket)
        ids = [c["Id"] for c in listed.get("InventoryConfigurationList") or []]
        if len(ids) != 1 or listed.get("IsTruncated"):
            raise ValueError(
                f"bucket {source_bucket} has {len(ids)} inventory configurations {ids}: name the one to use"
            )
        config_id = ids[0]
    response = s3_client.get_bucket_inventory_configuration(Bucket=source_bucket, Id=config_id)
    return response["InventoryConfiguration"]


def deliver_inventory(
    s3_client: Any,
    *,
    source_bucket: str,
    config_id: str | None = None,
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

    Arguments left as None are taken from the bucket's configuration `config_id` (default: its only one):
    destination bucket and prefix, format, optional fields, IncludedObjectVersions. `rows` default: the
    bucket listed now (ListObjectVersions when versions are included, else ListObjectsV2), page by page.
    """
    if rows_per_file < 1:
        raise ValueError(f"rows_per_file must be >= 1, got {rows_per_file}")
    needs_config = None in (destination_bucket, prefix, fmt, optional_fields, include_versions)
    config = inventory_configuration(s3_client, source_bucket, config_id) if needs_config else {}
    config_id = config_id or config.get("Id")
    if not config_id:
        raise ValueError("config_id is required when every other delivery argument is given")
    target = config.get("Destination", {}).get("S3BucketDestination", {})
    if destination_bucket is None:
        destination_bucket = _bucket_from_arn(target["Bucket"])
    if prefix is None:
        prefix = target.get("Prefix", "")
    fmt = fmt or target.get("Format", "CSV")
    if fmt not in FORMATS:
        raise ValueError(
            f"inventory format {fmt!r} (configuration {config_id} of {source_bucket}): S3 Inventory writes "
            f"{', '.join(FORMATS)}"
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
        # The configuration's Filter.Prefix: only objects under it are inventoried.
        listed_prefix = (config.get("Filter") or {}).get("Prefix", "")
        rows = list_rows(s3_client, source_bucket, include_versions, listed_prefix)

    now = now or datetime.now(UTC)
    base = "/".join(part for part in (prefix.strip("/"), source_bucket, config_id) if part)
    delivery = Delivery(destination_bucket, "", "", schema=file_schema(fmt, columns), fmt=fmt)
    files: list[dict[str, Any]] = []
    writer = _csv_file if fmt == "CSV" else _parquet_file if fmt == "Parquet" else _orc_file
    for chunk in _chunks(rows, rows_per_file):
        data = writer(chunk, columns, source_bucket)
        delivery.rows += len(chunk)
        key = f"{base}/data/{uuid.uuid4()}.{DATA_SUFFIX[fmt]}"
        s3_client.put_object(Bucket=destination_bucket, Key=key, Body=data)
        delivery.data_keys.append(key)
        files.append({"key": key, "size": len(data), "MD5checksum": hashlib.md5(data).hexdigest()})  # noqa: S324
    manifest = json.dumps(
        {
            "sourceBucket": source_bucket,
            "destinationBucket": f"arn:aws:s3:::{destination_bucket}",
            "version": MANIFEST_VERSION,
            "creationTimestamp": str(int(now.timestamp() * 1000)),
            "fileFormat": fmt,
            "fileSchema": delivery.schema,
            "files": files,
        },
        indent=2,
    ).encode()
    moment = now.astimezone(UTC)
    # The Hive-compatible manifest (for Athena and the like): one s3:// URL per data file.
    delivery.symlink_key = f"{base}/hive/dt={moment:%Y-%m-%d-%H-%M}/symlink.txt"
    symlinks = "".join(f"s3://{destination_bucket}/{key}\n" for key in delivery.data_keys).encode()
    s3_client.put_object(Bucket=destination_bucket, Key=delivery.symlink_key, Body=symlinks)
    folder = f"{base}/{moment:%Y-%m-%dT%H-%MZ}"
    delivery.manifest_key = f"{folder}/manifest.json"
    delivery.checksum_key = f"{folder}/manifest.checksum"
    s3_client.put_object(Bucket=destination_bucket, Key=delivery.manifest_key, Body=manifest)
    # Last, as S3 does: its arrival means the delivery is complete (the pipeline's notification filter).
    checksum = hashlib.md5(manifest).hexdigest().encode()  # noqa: S324 (S3's manifest checksum is MD5)
    s3_client.put_object(Bucket=destination_bucket, Key=delivery.checksum_key, Body=checksum)
    return delivery


def list_rows(
    s3_client: Any, bucket: str, include_versions: bool, prefix: str = ""
) -> Iterator[InventoryRow]:
    """The bucket's objects (or versions and delete markers) under `prefix`, one listing page at a time."""
    if not include_versions:
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield InventoryRow(
                    item["Key"],
                    size=item["Size"],
                    last_modified=item["LastModified"],
                    etag=item["ETag"].strip('"'),
                    storage_class=item.get("StorageClass", "STANDARD"),
                )
        return
    for page in s3_client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
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


def file_schema(fmt: str, columns: list[str]) -> str:
    """The manifest's fileSchema, in the words S3 writes for `fmt` (see the real deliveries)."""
    if fmt == "CSV":
        return ", ".join(columns)
    if fmt == "Parquet":
        fields = []
        for column in columns:
            name, kind = COLUMNAR_FIELDS[column]
            _, physical, logical = _PARQUET_TYPES[kind]
            repetition = "required" if column in _REQUIRED else "optional"
            fields.append(f"  {repetition} {physical} {name}{logical};")
        return "message s3.inventory {" + "".join(fields) + "}"
    types = (f"{COLUMNAR_FIELDS[c][0]}:{_ORC_TYPES[COLUMNAR_FIELDS[c][1]][1]}" for c in columns)
    return f"struct<{','.join(types)}>"


def arrow_schema(fmt: str, columns: list[str]) -> pa.Schema:
    """The Arrow schema of a Parquet or ORC data file with these (CSV-named) columns."""
    types = _PARQUET_TYPES if fmt == "Parquet" else _ORC_TYPES
    return pa.schema(
        pa.field(
            COLUMNAR_FIELDS[c][0],
            types[COLUMNAR_FIELDS[c][1]][0],
            nullable=not (fmt == "Parquet" and c in _REQUIRED),
        )
        for c in columns
    )


def _chunks(rows: Iterable[InventoryRow], rows_per_file: int) -> Iterator[list[InventoryRow]]:
    """Rows in data-file sized lists; at least one (possibly empty) list, as S3 writes at least one file."""
    chunk: list[InventoryRow] = []
    produced = False
    for row in rows:
        chunk.append(row)
        if len(chunk) == rows_per_file:
            yield chunk
            produced = True
            chunk = []
    if chunk or not produced:
        yield chunk


def _csv_file(rows: list[InventoryRow], columns: list[str], bucket: str) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as archive:
        text = io.TextIOWrapper(archive, encoding="utf-8", newline="")
        writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n")
        for row in rows:
            writer.writerow([_cell(row, bucket, column) for column in columns])
        text.flush()
        text.detach()
    return buffer.getvalue()


def _record_batches(
    rows: list[InventoryRow], columns: list[str], bucket: str, schema: pa.Schema
) -> Iterator[pa.RecordBatch]:
    for start in range(0, max(len(rows), 1), COLUMNAR_CHUNK_ROWS):
        part = rows[start : start + COLUMNAR_CHUNK_ROWS]
        arrays = [
            pa.array([_value(row, bucket, column) for row in part], type=field.type)
            for column, field in zip(columns, schema, strict=True)
        ]
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def _parquet_file(rows: list[InventoryRow], columns: list[str], bucket: str) -> bytes:
    schema = arrow_schema("Parquet", columns)
    sink = pa.BufferOutputStream()
    # Snappy, as S3's deliveries (written by parquet-mr); one row group per chunk keeps memory flat on read.
    with pq.ParquetWriter(sink, schema, compression="snappy") as writer:
        for batch in _record_batches(rows, columns, bucket, schema):
            writer.write_batch(batch, row_group_size=COLUMNAR_CHUNK_ROWS)
    return sink.getvalue().to_pybytes()


def _orc_file(rows: list[InventoryRow], columns: list[str], bucket: str) -> bytes:
    schema = arrow_schema("ORC", columns)
    sink = pa.BufferOutputStream()
    writer = orc.ORCWriter(sink, compression="zlib")  # zlib, as S3's deliveries (ORC Java)
    for batch in _record_batches(rows, columns, bucket, schema):
        writer.write(pa.Table.from_batches([batch], schema=schema))
    writer.close()
    return sink.getvalue().to_pybytes()


def _value(row: InventoryRow, bucket: str, column: str) -> Any:
    """A columnar cell: typed, None where a listing cannot tell, the key as it is (not URL-encoded)."""
    if column == "Bucket":
        return bucket
    if column == "Key":
        return row.key
    if column == "VersionId":
        return row.version_id
    if column == "IsLatest":
        return row.is_latest
    if column == "IsDeleteMarker":
        return row.is_delete_marker
    if column == "Size":
        return row.size
    if column == "LastModifiedDate":
        moment = row.last_modified or datetime.fromtimestamp(time.time(), UTC)
        return moment.astimezone(UTC).replace(tzinfo=None, microsecond=moment.microsecond // 1000 * 1000)
    if column == "ETag":
        return row.etag
    if column == "StorageClass":
        return row.storage_class
    return None


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
