"""Shared helpers of the end-to-end tests: images, an S3 Inventory delivery, reading history and reports.

The gateway is `offline.rekognition.EmulatedRekognition` (rate limit, injected faults, and its registration
registry: the ground truth of what is registered and whether anything was registered twice).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import struct
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from boto3.dynamodb.types import TypeDeserializer

from offline.rekognition import EmulatedRekognition
from offline.runtime import OfflineRuntime


def png(seed: int, size: int = 48) -> bytes:
    """A valid RGB PNG whose pixels (and so its SHA-256) depend on `seed`; 48 px: the emulator finds a face
    in images of at least 40 px that are not of one colour."""
    width = height = size
    rows = b"".join(
        b"\x00" + bytes((x * 31 + y * 17 + seed) % 256 for x in range(width * 3)) for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@dataclass(frozen=True)
class Inventory:
    manifest_key: str
    manifest: bytes
    checksum_key: str
    checksum: bytes


def put_images(runtime: OfflineRuntime, keys: Iterable[str], first_seed: int = 1) -> list[list[str]]:
    """Put one PNG per key (tag UserId=user-<seed>); returns their inventory rows (dev fields)."""
    s3 = runtime.client("s3")
    images = runtime.deployment.outputs["image_bucket_name"]
    rows = []
    for seed, key in enumerate(keys, start=first_seed):
        body = png(seed)
        put = s3.put_object(Bucket=images, Key=key, Body=body, Tagging=f"UserId=user-{seed}")
        rows.append(
            [
                images,
                key,
                put["VersionId"],
                "true",
                "false",
                str(len(body)),
                "2026-01-01T00:00:00.000Z",
                put["ETag"].strip('"'),
            ]
        )
    return rows


def deliver_inventory(runtime: OfflineRuntime, rows: list[list[str]]) -> Inventory:
    """A minimal S3 Inventory delivery (CSV, the dev fields): data file, manifest.json, manifest.checksum."""
    images = runtime.deployment.outputs["image_bucket_name"]
    inventory = runtime.deployment.outputs["inventory_bucket_name"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for row in rows:
        writer.writerow([row[0], quote_plus(row[1], safe="/"), *row[2:]])
    data = gzip.compress(buffer.getvalue().encode())
    base = f"inventory/{images}/bulk-loader"
    data_key = f"{base}/data/{uuid.uuid4()}.csv.gz"
    s3 = runtime.client("s3")
    s3.put_object(Bucket=inventory, Key=data_key, Body=data)
    manifest = json.dumps(
        {
            "sourceBucket": images,
            "destinationBucket": f"arn:aws:s3:::{inventory}",
            "version": "2016-11-30",
            "creationTimestamp": str(int(time.time() * 1000)),
            "fileFormat": "CSV",
            "fileSchema": "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag",
            "files": [{"key": data_key, "size": len(data), "MD5checksum": hashlib.md5(data).hexdigest()}],  # noqa: S324
        }
    ).encode()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%MZ")
    checksum = hashlib.md5(manifest).hexdigest().encode()  # noqa: S324 (S3's manifest checksum)
    delivery = Inventory(
        f"{base}/{stamp}/manifest.json", manifest, f"{base}/{stamp}/manifest.checksum", checksum
    )
    redeliver(runtime, delivery)
    return delivery


def redeliver(runtime: OfflineRuntime, delivery: Inventory) -> None:
    """Write the manifest and its checksum (again): S3 Inventory's completion signal."""
    inventory = runtime.deployment.outputs["inventory_bucket_name"]
    s3 = runtime.client("s3")
    s3.put_object(Bucket=inventory, Key=delivery.manifest_key, Body=delivery.manifest)
    s3.put_object(Bucket=inventory, Key=delivery.checksum_key, Body=delivery.checksum)


def history(runtime: OfflineRuntime) -> dict[str, dict[str, Any]]:
    """The import history's object records by key (latest version's record wins; tests use one version)."""
    table = runtime.deployment.outputs["history_table_name"]
    dynamodb = runtime.client("dynamodb")
    deserialize = TypeDeserializer().deserialize
    records: dict[str, dict[str, Any]] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            record = {name: deserialize(value) for name, value in item.items()}
            if str(record["pk"]).startswith("obj#"):
                key = str(record["pk"]).split("/", 1)[1]
                records[key] = record
    return records


def make_rekognition(runtime: OfflineRuntime, region: str, **options: Any) -> EmulatedRekognition:
    """The emulated collection, reading images with the runtime's admin client, authorizing the caller."""
    return EmulatedRekognition(
        runtime.client("s3"),
        authorize=runtime.authorize,
        region=region,
        account_id=runtime.account_id,
        **options,
    )


def active_by_key(faces: EmulatedRekognition) -> Counter[str]:
    """Active registrations per object key (the registry's source is `bucket/key#version`)."""
    return Counter((r.source or "").split("/", 1)[-1].rsplit("#", 1)[0] for r in faces.registry.active())


def summary(faces: EmulatedRekognition) -> dict[str, Any]:
    return {
        "calls": dict(faces.calls),
        "throttled": dict(faces.throttled),
        "injected": dict(faces.faults.injected),
        "active": sorted(f"{r.source}:{r.user_id}" for r in faces.registry.active()),
        "duplicates": [r.source for r in faces.registry.duplicates],
    }


def explain(runtime: OfflineRuntime, faces: EmulatedRekognition | None = None) -> str:
    """What the runtime saw, for an assertion message."""
    seen = runtime.stats()
    keep = ("invocations", "queues", "mappings", "jobs", "access_denied", "deliveries")
    extra: dict[str, Any] = {"rekognition": summary(faces)} if faces is not None else {}
    extra["history"] = {k: (v.get("status"), v.get("reason")) for k, v in history(runtime).items()}
    return json.dumps({k: seen[k] for k in keep} | extra, default=str)[:8000]


def report_rows(runtime: OfflineRuntime, job: dict[str, Any]) -> list[list[str]]:
    """The rows of an S3 Batch job's completion report (read from the bucket, via its manifest.json)."""
    s3 = runtime.client("s3")
    bucket, key = job["report"].removeprefix("s3://").split("/", 1)
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    rows = []
    for result in manifest["Results"]:
        body = s3.get_object(Bucket=result.get("Bucket", bucket), Key=result["Key"])
        rows.extend(csv.reader(io.StringIO(body["Body"].read().decode())))
    return rows
