"""Shared helpers for the inventory_created tests: generated inventories, stubbed clients, settings.

(A uniquely named module: `from conftest import ...` would be ambiguous across test directories.)
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

import boto3
import pyarrow as pa
import pyarrow.orc as orc
import pyarrow.parquet as pq
from botocore.stub import Stubber

from handlers.inventory_created.pipeline import FunctionIdentity, InventoryImporter
from handlers.inventory_created.settings import Settings

REGION = "us-east-1"
ACCOUNT = "123456789012"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:inventory-created"
INVENTORY_BUCKET = "inventory-bucket"
MANIFEST_BUCKET = "manifest-bucket"
SOURCE_BUCKET = "image-bucket"
CSV_FIELDS = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass"
# Keys that break naive CSV writers, URL encoders or decoders.
HOSTILE_KEYS = (
    "plain/photo.jpg",
    "with space/face 1.png",
    "plus+sign/a+b.jpeg",
    "percent/100%25 real %20.jpg",
    "unicode/Zoë Ünïcødé 日本.JPG",
    "comma,dir/a,b.png",
    'quote"dir/say "cheese".jpg',
    "deep/a/b/c//double-slash.Png",
    "tilde~star*paren(1)!'.jpg",
    "semicolon;colon:at@hash#q?.jpeg",
)


@dataclass(frozen=True)
class Row:
    key: str
    bucket: str = SOURCE_BUCKET
    version_id: str | None = None
    is_latest: bool = True
    is_delete_marker: bool = False
    size: int | None = 1024
    last_modified: datetime = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def csv_gz(rows: list[Row], header: bool = False, fields: list[str] | None = None) -> bytes:
    """An S3 Inventory CSV data file: gzip, every field quoted, keys URL-encoded with `+` for space."""
    fields = fields or [f.strip() for f in CSV_FIELDS.split(",")]
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    if header:
        writer.writerow(fields)
    for row in rows:
        values = {
            "Bucket": row.bucket,
            "Key": quote_plus(row.key, safe="/"),
            "VersionId": row.version_id or "",
            "IsLatest": str(row.is_latest).lower(),
            "IsDeleteMarker": str(row.is_delete_marker).lower(),
            "Size": "" if row.size is None else str(row.size),
            "LastModifiedDate": row.last_modified.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "ETag": "d41d8cd98f00b204e9800998ecf8427e",
            "StorageClass": "STANDARD",
        }
        writer.writerow([values[f] for f in fields])
    return gzip.compress(out.getvalue().encode("utf-8"))


def _table(rows: list[Row]) -> pa.Table:
    return pa.table(
        {
            "bucket": [r.bucket for r in rows],
            "key": [r.key for r in rows],
            "version_id": pa.array([r.version_id for r in rows], pa.string()),
            "is_latest": [r.is_latest for r in rows],
            "is_delete_marker": [r.is_delete_marker for r in rows],
            "size": pa.array([r.size for r in rows], pa.int64()),
            "last_modified_date": pa.array([r.last_modified for r in rows], pa.timestamp("ms", tz="UTC")),
            "e_tag": ["d41d8cd98f00b204e9800998ecf8427e"] * len(rows),
            "storage_class": ["STANDARD"] * len(rows),
        }
    )


def parquet_bytes(rows: list[Row]) -> bytes:
    out = io.BytesIO()
    pq.write_table(_table(rows), out, row_group_size=3)
    return out.getvalue()


def orc_bytes(rows: list[Row]) -> bytes:
    out = io.BytesIO()
    orc.write_table(_table(rows), out)
    return out.getvalue()


@dataclass
class Inventory:
    """An inventory written into the moto inventory bucket the way S3 Inventory lays it out."""

    manifest_key: str
    checksum_key: str
    manifest: dict[str, Any]
    data_keys: list[str] = field(default_factory=list)


def put_inventory(
    s3: Any,
    files: list[bytes],
    *,
    file_format: str = "CSV",
    file_schema: str | None = CSV_FIELDS,
    date: str = "2024-05-02T01-00Z",
    creation_timestamp: int = 1714611600000,
    config_id: str = "daily",
    md5_override: dict[int, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Inventory:
    prefix = f"inventories/{SOURCE_BUCKET}/{config_id}"
    suffix = {"CSV": "csv.gz", "Parquet": "parquet", "ORC": "orc"}[file_format]
    entries, keys = [], []
    for i, body in enumerate(files):
        key = f"{prefix}/data/{date}-{i:03d}.{suffix}"
        s3.put_object(Bucket=INVENTORY_BUCKET, Key=key, Body=body)
        md5 = (md5_override or {}).get(i) or hashlib.md5(body, usedforsecurity=False).hexdigest()
        entries.append({"key": key, "size": len(body), "MD5checksum": md5})
        keys.append(key)
    manifest: dict[str, Any] = {
        "sourceBucket": SOURCE_BUCKET,
        "destinationBucket": f"arn:aws:s3:::{INVENTORY_BUCKET}",
        "version": "2016-11-30",
        "creationTimestamp": str(creation_timestamp),
        "fileFormat": file_format,
        "files": entries,
    }
    if file_schema is not None:
        manifest["fileSchema"] = file_schema
    manifest.update(extra or {})
    body = json.dumps(manifest).encode()
    manifest_key = f"{prefix}/{date}/manifest.json"
    checksum_key = f"{prefix}/{date}/manifest.checksum"
    s3.put_object(Bucket=INVENTORY_BUCKET, Key=manifest_key, Body=body)
    s3.put_object(
        Bucket=INVENTORY_BUCKET,
        Key=checksum_key,
        Body=hashlib.md5(body, usedforsecurity=False).hexdigest().encode(),
    )
    return Inventory(manifest_key, checksum_key, manifest, keys)


def read_manifest_rows(s3: Any, key: str) -> list[list[str]]:
    body = s3.get_object(Bucket=MANIFEST_BUCKET, Key=key)["Body"].read().decode("utf-8")
    return [line.split(",") for line in body.splitlines()]


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "batch_function_arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:batch-qualifier",
        "batch_role_arn": f"arn:aws:iam::{ACCOUNT}:role/batch-operations",
        "manifest_bucket": MANIFEST_BUCKET,
    }
    values.update(overrides)
    return Settings(**values)


class StubbedClient:
    """A real botocore client whose calls to `operation` are answered by a Stubber and recorded.

    botocore still validates every request against the service model before the stub answers.
    """

    def __init__(self, service: str, operation: str, response: dict[str, Any]) -> None:
        self.client = boto3.client(service, region_name=REGION)
        self.operation = operation
        self.response = response
        self.calls: list[dict[str, Any]] = []
        self.stubber = Stubber(self.client)
        service_id = self.client.meta.service_model.service_id.hyphenize()
        self.client.meta.events.register(f"provide-client-params.{service_id}.*", self._record)
        self.stubber.activate()

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append(dict(params))

    def expect(self, count: int, responses: list[dict[str, Any]] | None = None) -> None:
        for i in range(count):
            self.stubber.add_response(self.operation, (responses or [self.response] * count)[i])


def importer(
    s3: Any,
    s3control: StubbedClient,
    lambda_client: StubbedClient,
    dispatch_batch: int = 1000,
    **overrides: Any,
) -> InventoryImporter:
    return InventoryImporter(
        settings(**overrides),
        s3=s3,
        s3control=s3control.client,
        lambda_client=lambda_client.client,
        function=FunctionIdentity.from_arn(FUNCTION_ARN),
        dispatch_batch=dispatch_batch,
    )
