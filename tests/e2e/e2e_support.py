"""Shared helpers of the end-to-end tests: images, an S3 Inventory delivery, reading history and reports.

The gateway is `offline.gateways.rekognition.EmulatedRekognition` (rate limit, injected faults, and its
registration registry: the ground truth of what is registered and whether anything was registered twice).
"""

from __future__ import annotations

import csv
import io
import json
import struct
import zlib
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from offline.aws.s3_inventory import Delivery, InventoryRow
from offline.aws.s3_inventory import deliver_inventory as write_inventory
from offline.gateways.rekognition import EmulatedRekognition
from offline.runtime import OfflineRuntime

# Short waits: the indexer's own back-off (default 60 s base) and botocore's retries would make a test slow
# without testing anything more. AWS_MAX_ATTEMPTS=2: injected gateway faults reach the indexer's own
# retry logic instead of being absorbed by botocore.
FAST_INDEXER = {
    "indexer-function": {"BACKOFF_BASE_SECONDS": "1", "BACKOFF_MAX_SECONDS": "2", "AWS_MAX_ATTEMPTS": "2"}
}


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


def deliver_inventory(runtime: OfflineRuntime, rows: list[list[str]]) -> Delivery:
    """An S3 Inventory delivery of `rows` (from put_images), written by offline.aws.s3_inventory as S3 does:
    data file, manifest.json, then manifest.checksum (which starts the pipeline)."""
    objects = [
        InventoryRow(
            key=key,
            version_id=version_id,
            is_latest=is_latest == "true",
            is_delete_marker=is_delete_marker == "true",
            size=int(size),
            last_modified=datetime.fromisoformat(modified.replace("Z", "+00:00")),
            etag=etag,
        )
        for _bucket, key, version_id, is_latest, is_delete_marker, size, modified, etag in rows
    ]
    images = runtime.deployment.outputs["image_bucket_name"]
    return write_inventory(runtime.client("s3"), source_bucket=images, rows=objects)


def redeliver(runtime: OfflineRuntime, delivery: Delivery) -> None:
    """Write the manifest and its checksum again: S3 Inventory's completion signal, a second time."""
    s3 = runtime.client("s3")
    for key in (delivery.manifest_key, delivery.checksum_key):
        body = s3.get_object(Bucket=delivery.destination_bucket, Key=key)["Body"].read()
        s3.put_object(Bucket=delivery.destination_bucket, Key=key, Body=body)


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
