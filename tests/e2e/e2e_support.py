"""Shared helpers of the end-to-end tests: small images, an S3 Inventory delivery, a Rekognition stand-in.

`FaceIndex` is a stand-in for Rekognition with just what the pipeline uses (IndexFaces, SearchFacesByImage,
DeleteFaces): it reads the image from S3 (authorized as the calling role), remembers each face's image content,
answers searches by content and can inject throttling / 5xx answers. Its face list is the ground truth the
tests check: what is registered, and whether an image was ever registered twice at the same time.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import struct
import threading
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

from offline.front_door import AccessDenied
from offline.runtime import OfflineRuntime

# Error answers a gateway fault turns into: (HTTP status, Rekognition error code).
FAULTS = {
    "throttle": (400, "ThrottlingException"),
    "provisioned": (400, "ProvisionedThroughputExceededException"),
    "outage": (500, "InternalServerError"),
}


def png(seed: int) -> bytes:
    """A valid 8x8 RGB PNG whose pixels (and so its SHA-256) depend on `seed`."""
    width = height = 8
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


def explain(runtime: OfflineRuntime, faces: FaceIndex | None = None) -> str:
    """What the runtime saw, for an assertion message."""
    seen = runtime.stats()
    keep = ("invocations", "queues", "mappings", "jobs", "access_denied", "deliveries")
    extra = {"rekognition": faces.summary()} if faces is not None else {}
    extra["history"] = {k: (v.get("status"), v.get("reason")) for k, v in history(runtime).items()}
    return json.dumps({k: seen[k] for k in keep} | extra, default=str)[:8000]


@dataclass(frozen=True)
class _Refused:
    status: int
    body: dict[str, Any]


@dataclass
class Face:
    face_id: str
    image_id: str
    external_image_id: str
    content: str  # SHA-256 of the image the face came from
    source: str  # s3://bucket/key?versionId=...
    deleted: bool = False


class FaceIndex:
    """A Rekognition collection stand-in (see the module docstring). Thread-safe: the front door is threaded.

    `fail_next(action, kinds)` queues faults answered to the next calls of `action` (before the call does
    anything, as a throttled / failed request does). `rate_per_s` refuses IndexFaces calls above that rate
    with ProvisionedThroughputExceededException (a token bucket holding one second's worth).
    """

    def __init__(self, runtime: OfflineRuntime, rate_per_s: float | None = None) -> None:
        self._runtime = runtime
        self._lock = threading.Lock()
        self.faces: dict[str, Face] = {}
        self.calls: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.registered_while_active: list[str] = []
        self._faults: dict[str, list[str]] = {}
        self.rate_per_s = rate_per_s
        self._tokens = float(rate_per_s or 0)
        self._last = time.monotonic()
        self.index_times: list[float] = []

    # -- test controls --------------------------------------------------------------------------------
    def fail_next(self, action: str, kinds: Iterable[str]) -> None:
        with self._lock:
            self._faults.setdefault(action, []).extend(kinds)

    def active(self) -> list[Face]:
        with self._lock:
            return [face for face in self.faces.values() if not face.deleted]

    def active_by_source(self) -> Counter[str]:
        return Counter(face.source.split("?", 1)[0] for face in self.active())

    def summary(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "refused": dict(self.refused),
            "active": sorted(f"{f.source}:{f.external_image_id}" for f in self.active()),
            "registered_while_active": self.registered_while_active,
        }

    # -- the emulated API -----------------------------------------------------------------------------
    def handle(self, action: str, body: dict[str, Any], caller) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls[action] += 1
            queued = self._faults.get(action)
            fault = queued.pop(0) if queued else None
            if fault is None and action == "IndexFaces" and not self._take_token():
                fault = "provisioned"
            if fault is not None:
                self.refused[f"{action}:{fault}"] += 1
                status, code = FAULTS[fault]
                return status, {"__type": code, "Message": f"injected {fault}"}
        if action == "CreateCollection":
            return 200, {"StatusCode": 200, "FaceModelVersion": "7.0"}
        if action == "DeleteFaces":
            with self._lock:
                for face_id in body["FaceIds"]:
                    if face_id in self.faces:
                        self.faces[face_id].deleted = True
            return 200, {"DeletedFaces": body["FaceIds"], "UnsuccessfulFaceDeletions": []}
        if action not in ("IndexFaces", "SearchFacesByImage"):
            return 400, {"__type": "InvalidParameterException", "Message": f"{action} is not emulated"}
        image = self._read(body["Image"]["S3Object"], caller)
        if isinstance(image, _Refused):
            return image.status, image.body
        content, source = image
        if action == "SearchFacesByImage":
            with self._lock:
                matches = [f for f in self.faces.values() if not f.deleted and f.content == content]
            return 200, {
                "FaceMatches": [
                    {
                        "Similarity": 99.9,
                        "Face": {
                            "FaceId": f.face_id,
                            "ImageId": f.image_id,
                            "ExternalImageId": f.external_image_id,
                        },
                    }
                    for f in matches
                ],
                "FaceModelVersion": "7.0",
            }
        face = Face(str(uuid.uuid4()), str(uuid.uuid4()), body.get("ExternalImageId", ""), content, source)
        with self._lock:
            if any(
                f.content == content and f.external_image_id == face.external_image_id
                for f in self.faces.values()
                if not f.deleted
            ):
                self.registered_while_active.append(source)
            self.faces[face.face_id] = face
            self.index_times.append(time.monotonic())
        record = {
            "FaceId": face.face_id,
            "ImageId": face.image_id,
            "ExternalImageId": face.external_image_id,
            "Confidence": 99.9,
            "BoundingBox": {"Width": 0.5, "Height": 0.5, "Left": 0.2, "Top": 0.2},
        }
        return 200, {
            "FaceRecords": [{"Face": record, "FaceDetail": {"Confidence": 99.9}}],
            "UnindexedFaces": [],
            "FaceModelVersion": "7.0",
        }

    def _take_token(self) -> bool:
        if self.rate_per_s is None:
            return True
        now = time.monotonic()
        self._tokens = min(self.rate_per_s, self._tokens + (now - self._last) * self.rate_per_s)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def _read(self, s3_object: dict[str, str], caller) -> tuple[str, str] | _Refused:
        """Rekognition reads the image with the caller's permissions; a missing version is InvalidS3Object."""
        bucket, key, version = s3_object["Bucket"], s3_object["Name"], s3_object.get("Version")
        try:
            self._runtime.authorize(caller, "s3:GetObject", f"arn:aws:s3:::{bucket}/{key}")
        except AccessDenied as denied:
            return _Refused(
                400, {"__type": "InvalidS3ObjectException", "Message": f"S3 access denied: {denied}"}
            )
        extra = {"VersionId": version} if version else {}
        try:
            data = self._runtime.client("s3", max_attempts=1).get_object(Bucket=bucket, Key=key, **extra)
        except Exception as exc:  # noqa: BLE001 (any read failure is Rekognition's InvalidS3ObjectException)
            return _Refused(
                400, {"__type": "InvalidS3ObjectException", "Message": f"Unable to get object: {exc}"}
            )
        content = hashlib.sha256(data["Body"].read()).hexdigest()
        return content, f"s3://{bucket}/{key}?versionId={version}"


def report_rows(runtime: OfflineRuntime, job: dict[str, Any]) -> list[list[str]]:
    """The rows of an S3 Batch job's completion report (read from the bucket, via its manifest.json)."""
    s3 = runtime.client("s3")
    bucket, key = job["report"].removeprefix("s3://").split("/", 1)
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    rows = []
    for result in manifest["Results"]:
        body = s3.get_object(Bucket=result["Bucket"] if "Bucket" in result else bucket, Key=result["Key"])
        rows.extend(csv.reader(io.StringIO(body["Body"].read().decode())))
    return rows
