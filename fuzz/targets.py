"""The fuzz targets: each turns arbitrary bytes into one handler input and says which outcomes are allowed.

Every target ends in success or in the one documented error type of the code it drives, whose message says
what was wrong (and where, for data files); anything else (another exception type, an empty message, a
broken invariant of a success) escapes as a crash. A hang is caught by libFuzzer's per-input timeout
(fuzz/__main__.py). No AWS call is made: data files and manifests come from an in-memory S3 stand-in.

This module does not import atheris, so the tests replay crash inputs (tests/events/fuzz-regressions)
without it. Seeds come from the real samples in tests/events.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import (
    S3BatchOperationResponseRecord,
)
from botocore.exceptions import ClientError

from handlers.batch_qualifier.events import BadTask, EventError, build_response, parse_invocation
from handlers.batch_qualifier.registration import BatchTask
from handlers.common.contracts import DeleteMessage, ImportMessage, MessageError, parse_message
from handlers.inventory_created.convert import ConversionResult, RowFilter, convert
from handlers.inventory_created.errors import InventoryError
from handlers.inventory_created.events import ManifestPayload, parse_event
from handlers.inventory_created.manifest import inventory_id, load_manifest, parse_manifest, source_bucket
from handlers.inventory_created.reader import DataFileReader

EVENTS = Path(__file__).resolve().parents[1] / "tests" / "events"
REGRESSIONS = EVENTS / "fuzz-regressions"
BUCKET = "fuzz-inventory"
DATA_KEY = "inventory/fuzz-source/daily/data/part-00000"
MANIFEST_KEY = "inventory/fuzz-source/daily/2024-05-07T01-00Z/manifest.json"
CHECKSUM_KEY = "inventory/fuzz-source/daily/2024-05-07T01-00Z/manifest.checksum"


class Disallowed(AssertionError):
    """An outcome the target does not allow: libFuzzer records the input as a crash."""


def _clear(exc: Exception, *needles: str) -> None:
    """A documented error must say what was wrong (non-empty) and, when given, where (one of `needles`)."""
    message = str(exc)
    if not message.strip():
        raise Disallowed(f"{type(exc).__name__} with an empty message") from exc
    if needles and not any(needle in message for needle in needles):
        raise Disallowed(f"{type(exc).__name__} does not name {needles}: {message!r}") from exc


def _json(data: bytes) -> Any:
    """The decoded JSON value a Lambda runtime would pass, or None when the bytes are not JSON at all.

    (Lambda only ever hands a handler decoded JSON: bytes that are not JSON are not a possible event.)"""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


# ---------------------------------------------------------------------------------------------- events
def inventory_event(data: bytes) -> None:
    """inventory_created's event parsing, then manifest validation of a manifest given as the event.

    Allowed: success, or InventoryError (EventError / ManifestError) with a message."""
    event = _json(data)
    if event is None:
        return
    try:
        requests = parse_event(event)
        for request in requests:
            if isinstance(request, ManifestPayload):
                manifest = parse_manifest(request.manifest, "payload")
                inventory_id(manifest, None, "0" * 32)
                source_bucket(manifest, None)
    except InventoryError as exc:
        _clear(exc)


def batch_invocation(data: bytes) -> None:
    """batch_qualifier's parse_invocation (schemas 1.0 and 2.0) and the response built from it.

    Allowed: success (every task readable or a BadTask with an `error:` reason; the response is JSON with
    one result per task), or batch_qualifier.events.EventError with a message."""
    raw = _json(data)
    if raw is None:
        return
    try:
        invocation = parse_invocation(raw)
    except EventError as exc:
        _clear(exc)
        return
    records = []
    for task in invocation.tasks:
        if isinstance(task, BadTask):
            if not task.reason.startswith("error:"):
                raise Disallowed(f"a BadTask reason must start with 'error:', got {task.reason!r}")
            records.append(S3BatchOperationResponseRecord(task.task_id, "PermanentFailure", task.reason))
        elif isinstance(task, BatchTask):
            if not task.bucket or not task.key:
                raise Disallowed(f"a readable task without bucket or key: {task!r}")
            records.append(S3BatchOperationResponseRecord(task.task_id, "Succeeded", "queued"))
        else:
            raise Disallowed(f"a task is a {type(task).__name__}")
    if not records:
        return  # S3 Batch never sends an invocation without a task; nothing to answer
    response = json.loads(json.dumps(build_response(invocation, records)))
    if len(response["results"]) != len(records):
        raise Disallowed(f"{len(records)} tasks answered with {len(response['results'])} results")


def queue_message(data: bytes) -> None:
    """The indexer's parse_message: our versioned JSON, or a raw EventBridge S3 event, as an SQS body.

    Allowed: an ImportMessage / DeleteMessage, or MessageError with a message."""
    body = data.decode("utf-8", errors="replace")  # SQS bodies are Unicode text
    try:
        message = parse_message(body)
    except MessageError as exc:
        _clear(exc)
        return
    if not isinstance(message, ImportMessage | DeleteMessage):
        raise Disallowed(f"parse_message returned a {type(message).__name__}")


def eventbridge_event(data: bytes) -> None:
    """EventBridge S3 events on the indexer's queue: any JSON object is made to look like one (source
    aws.s3, a detail-type), so the fuzzer explores the event's own fields. Allowed: a DeleteMessage for an
    "Object Deleted" event naming the event's bucket, or MessageError with a message."""
    event = _json(data)
    if not isinstance(event, dict):
        return
    event["source"] = "aws.s3"
    event.setdefault("detail-type", "Object Deleted")
    try:
        message = parse_message(json.dumps(event))
    except MessageError as exc:
        _clear(exc)
        return
    if not isinstance(message, DeleteMessage) or event["detail-type"] != "Object Deleted":
        raise Disallowed(f"{event['detail-type']!r} event parsed as {type(message).__name__}")
    if message.object.bucket != event["detail"]["bucket"]["name"]:
        raise Disallowed("the delete message names another bucket than the event")


# ---------------------------------------------------------------------------------------------- inventories
class _MemoryS3:
    """get_object over in-memory objects (with Range), raising ClientError NoSuchKey like S3."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self._objects = objects

    def get_object(self, Bucket: str, Key: str, Range: str | None = None) -> dict[str, Any]:
        if Key not in self._objects:
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "no such key"}}, "GetObject")
        body = self._objects[Key]
        if Range is not None:
            start, _, end = Range.removeprefix("bytes=").partition("-")
            if int(start) >= len(body):
                raise ClientError({"Error": {"Code": "InvalidRange", "Message": "range"}}, "GetObject")
            body = body[int(start) : int(end) + 1]
        return {"Body": io.BytesIO(body), "ContentLength": len(body)}


class _MemorySink:
    """A ManifestSink that keeps the batch manifest in memory."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.data += data
        return len(data)

    def commit(self) -> None:
        return None

    def abort(self) -> None:
        self.data = bytearray()


def inventory_manifest(data: bytes) -> None:
    """manifest.json bytes (with the manifest.checksum S3 Inventory writes for them): load_manifest, then
    the run's id and source bucket. Allowed: success, or ManifestError (an InventoryError) naming the
    manifest's s3:// URL."""
    import hashlib

    checksum = hashlib.md5(data, usedforsecurity=False).hexdigest().encode()
    s3 = _MemoryS3({MANIFEST_KEY: data, CHECKSUM_KEY: checksum})
    try:
        manifest, md5 = load_manifest(s3, BUCKET, MANIFEST_KEY, CHECKSUM_KEY)
        inventory_id(manifest, MANIFEST_KEY, md5)
        source_bucket(manifest, MANIFEST_KEY)
    except InventoryError as exc:
        _clear(exc, f"s3://{BUCKET}/{MANIFEST_KEY}")


_REAL_SCHEMAS = {
    fmt: json.loads((EVENTS / "inventory" / f"{name}_manifest.json").read_text())["fileSchema"]
    for fmt, name in (("CSV", "csv_inventory"), ("Parquet", "parquet_inventory"), ("ORC", "orc_inventory"))
}


def _data_file(fmt: str, data: bytes, file_schema: str | None) -> None:
    """One data file of format `fmt` read and converted as the function does (no MD5 in the manifest,
    so the parser sees every mutation). Allowed: success with consistent counts (every row counted once,
    one manifest line per selected row), or InventoryError naming the data file."""
    manifest = parse_manifest(
        {
            "sourceBucket": "fuzz-source",
            "destinationBucket": f"arn:aws:s3:::{BUCKET}",
            "fileFormat": fmt,
            **({"fileSchema": file_schema} if file_schema else {}),
            "files": [{"key": DATA_KEY}],
        },
        "fuzz",
    )
    s3 = _MemoryS3({DATA_KEY: data})
    sink = _MemorySink()
    where = f"s3://{BUCKET}/{DATA_KEY}"
    try:
        with DataFileReader(s3, manifest, manifest.files[0], need_last_modified=True) as reader:
            result: ConversionResult = convert(
                reader.batches(),
                sink,
                RowFilter((".png", ".jpg", ".jpeg"), 15 * 1024 * 1024, since_ms=0),
                key_is_url_encoded=reader.key_is_url_encoded,
                source=f"data file {reader.where}",
            )
            reader.verify()
    except InventoryError as exc:
        _clear(exc, where, "fileSchema")
        return
    if result.rows != reader.rows:
        raise Disallowed(f"{reader.rows} rows read, {result.rows} counted: {dict(result.counts)}")
    lines = bytes(sink.data).splitlines()
    if len(lines) != result.selected:
        raise Disallowed(f"{result.selected} rows selected, {len(lines)} manifest lines written")
    fields = 3 if result.with_version_ids else 2
    for line in lines:
        if len(line.split(b",")) != fields:
            raise Disallowed(f"manifest line {line!r} has not {fields} fields")


def inventory_csv(data: bytes) -> None:
    """A CSV.gz data file, with the manifest's fileSchema (the real versioned one) or, when the input's
    first byte is odd, without (header row or S3's default columns)."""
    schema = _REAL_SCHEMAS["CSV"] if not data or data[0] % 2 == 0 else None
    _data_file("CSV", data[1:], schema)


def inventory_parquet(data: bytes) -> None:
    _data_file("Parquet", data, _REAL_SCHEMAS["Parquet"])


def inventory_orc(data: bytes) -> None:
    _data_file("ORC", data, _REAL_SCHEMAS["ORC"])


# ---------------------------------------------------------------------------------------------- seeds
def _files(folder: str, pattern: str = "*.json") -> list[bytes]:
    return [p.read_bytes() for p in sorted((EVENTS / folder).glob(pattern))]


def _event_seeds() -> list[bytes]:
    notifications = _files("s3-notification")
    sns = []
    for envelope in _files("sns"):
        for message in notifications:
            wrapped = json.loads(envelope)
            wrapped["Records"][0]["Sns"]["Message"] = message.decode()
            sns.append(json.dumps(wrapped).encode())
    manifests = _files("inventory", "*_manifest.json") + _files("inventory/awsdocs")
    return notifications + sns + manifests


def _queue_seeds() -> list[bytes]:
    from datetime import UTC, datetime

    from handlers.common.contracts import ObjectRef, dump_message

    ours = ImportMessage(
        object=ObjectRef(bucket="images", key="photos/a b+c%20d.jpg", version_id="v1", etag="e" * 32),
        user_id="user-1",
        properties={"name": "Zoë"},
        run_id="run-1",
        enqueued_at=datetime(2024, 5, 7, tzinfo=UTC),
    )
    bodies = [record["body"].encode() for raw in _files("sqs") for record in json.loads(raw)["Records"]]
    return [dump_message(ours).encode(), *bodies, *_files("eventbridge")]


def _csv_seeds() -> list[bytes]:
    real = _files("inventory", "*.csv.gz")
    header = b"Bucket,Key,Size\nimages,photos/a+b.jpg,5\n"
    # Byte 0 picks the schema: even = the manifest's fileSchema, odd = header row / default columns.
    return [b"\x00" + f for f in real] + [b"\x01" + f for f in real] + [b"\x01" + gzip.compress(header)]


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], None]
    seeds: Callable[[], list[bytes]]


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("inventory_event", inventory_event, _event_seeds),
        Target("batch_invocation", batch_invocation, lambda: _files("s3-batch", "*.request-*.json")),
        Target("queue_message", queue_message, _queue_seeds),
        Target("eventbridge_event", eventbridge_event, lambda: _files("eventbridge")),
        Target(
            "inventory_manifest",
            inventory_manifest,
            lambda: _files("inventory", "*_manifest.json") + _files("inventory/awsdocs"),
        ),
        Target("inventory_csv", inventory_csv, _csv_seeds),
        Target("inventory_parquet", inventory_parquet, lambda: _files("inventory", "*.parquet")),
        Target("inventory_orc", inventory_orc, lambda: _files("inventory", "*.orc")),
    )
}


def regression_inputs() -> Iterator[tuple[str, Path]]:
    """(target name, input file) for every committed crash input: fuzz-regressions/<target>/<file>."""
    for folder in sorted(p for p in REGRESSIONS.iterdir() if p.is_dir()) if REGRESSIONS.is_dir() else []:
        for path in sorted(folder.iterdir()):
            if path.is_file():
                yield folder.name, path
