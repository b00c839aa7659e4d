"""Helpers for the throttled indexer and the import-history layer tests: a controllable clock, the image
buckets and images, a fake face index, a scripted HTTP registration API, SQS batches. The history table is
tests/history_fixtures.py's."""

from __future__ import annotations

import importlib
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aws_lambda_powertools import Logger

from handlers.common.contracts import ImportMessage, ObjectRef
from handlers.throttled_indexer.batch import BatchConfig, BatchRunner
from tests.history_fixtures import TABLE_NAME


class FakeClock:
    """A clock the test moves by hand, so leases and time ranges are deterministic."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 21, 6, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def http_indexer_env(api_url: str, queue_url: str, **extra: str) -> dict[str, str]:
    """The indexer's environment against a local HTTP registration API (see ScriptedGateway)."""
    return {
        "GATEWAY": "http",
        "GATEWAY_URL": api_url,
        "GATEWAY_TIMEOUT_SECONDS": "2",
        "HISTORY_TABLE": TABLE_NAME,
        "QUEUE_URL": queue_url,
        **extra,
    }


def load_indexer_app(monkeypatch, env: dict[str, str] | None = None):
    """Import the indexer's app.py afresh, as a cold start would, with `env` set (for this test only).

    Powertools loggers of one service name share one stdout handler, bound to whatever sys.stdout was when
    the first was made (another test's capture): a fresh service name gives this load its own handler. The
    modules' child loggers take the service name when imported, so the indexer's modules are imported afresh
    too (for this test only: monkeypatch puts the earlier ones back)."""
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", f"indexer-app-test-{uuid.uuid4().hex}")
    for name in [n for n in sys.modules if n.startswith("handlers.throttled_indexer.")]:
        monkeypatch.delitem(sys.modules, name)
    return importlib.import_module("handlers.throttled_indexer.app")


# ---------------------------------------------------------------------------------------------- images
IMAGE_BUCKET = "images"
QUARANTINE_BUCKET = "triage"
HOSTILE_KEYS = [
    "photos/plain.jpg",
    "photos/a b+c%20d.jpg",
    "fotos/Zoë, \"quoted\" 'x'.jpeg",
    "deep/+/%2B/日本.png",
]


def jpeg_bytes(seed: str, size: int = 2048) -> bytes:
    """Distinct, deterministic fake JPEG bytes (the gateway fakes do not decode them)."""
    body = (seed.encode("utf-8") * (size // max(1, len(seed)) + 1))[:size]
    return b"\xff\xd8\xff\xe0" + body + b"\xff\xd9"


def create_image_buckets(s3) -> None:
    """The indexer tests' buckets: the versioned image bucket, the quarantine bucket, an unversioned one."""
    s3.create_bucket(Bucket=IMAGE_BUCKET)
    s3.put_bucket_versioning(Bucket=IMAGE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.create_bucket(Bucket=QUARANTINE_BUCKET)
    s3.create_bucket(Bucket="flat")  # unversioned


def put_image(s3, key: str, data: bytes, bucket: str = IMAGE_BUCKET, tags: str | None = None) -> ObjectRef:
    """Upload an image and return the ObjectRef a qualifier would have sent for it."""
    extra = {"Tagging": tags} if tags else {}
    response = s3.put_object(Bucket=bucket, Key=key, Body=data, **extra)
    version = response.get("VersionId")
    return ObjectRef(
        bucket=bucket,
        key=key,
        version_id=None if version in (None, "null") else version,
        etag=response["ETag"].strip('"'),
        size=len(data),
    )


def import_message(obj: ObjectRef, user_id: str = "user-1", **kw) -> ImportMessage:
    return ImportMessage(object=obj, user_id=user_id, run_id=kw.pop("run_id", "run-1"), **kw)


# ---------------------------------------------------------------------------------------------- gateway fake
class FakeFaceIndex:
    """An in-memory face index implementing the Gateway protocol, for the importer/deleter/batch tests.

    It is not what those tests examine (the real gateways have their own tests against Stubber and a real
    HTTP server); it records every registration so tests can assert what is registered at the end.
    `script` holds exceptions to raise on the next register calls; `on_register` runs inside a call.
    """

    name = "fake"

    def __init__(self, needs_bytes: bool = False, registers_per_image: bool = True) -> None:
        self.needs_bytes = needs_bytes
        self.registers_per_image = registers_per_image
        self.faces: dict[str, tuple[str, str, str | None]] = {}
        self.register_calls = 0
        self.deregister_calls = 0
        self.find_calls = 0
        # Set to a predicate on ObjectRef: a lookup by image fails like Rekognition's for a deleted version.
        self.readable = None
        self.script: list[Exception] = []
        self.deregister_script: list[Exception] = []
        self.on_register = None
        self._next = 0

    def register(self, request):
        from handlers.throttled_indexer.gateway import Registration

        self.register_calls += 1
        if self.on_register is not None:
            hook, self.on_register = self.on_register, None
            hook(request)
        if self.script:
            raise self.script.pop(0)
        if self.needs_bytes:
            assert request.image is not None
        self._next += 1
        face_id = f"face-{self._next}"
        self.faces[face_id] = (request.user_id, request.obj.key, request.obj.version_id)
        return Registration(
            face_ids=(face_id,), image_id=f"img-{self._next}", external_image_id=request.user_id
        )

    def find_registration(self, request):
        """Like Rekognition's search by image: every face registered from this object version for this
        user (the fake registers per object version, so "same image" is the same version here)."""
        from handlers.throttled_indexer.gateway import Registration

        self.find_calls += 1
        if self.readable is not None and not self.readable(request.obj):
            from handlers.throttled_indexer.gateway import RegistrationUnknown

            raise RegistrationUnknown("the image version no longer exists")
        wanted = (request.user_id, request.obj.key, request.obj.version_id)
        faces = tuple(face_id for face_id, owner in self.faces.items() if owner == wanted)
        return Registration(face_ids=faces, external_image_id=request.user_id) if faces else None

    def deregister(self, user_id, face_ids, image_id):
        self.deregister_calls += 1
        if self.deregister_script:
            raise self.deregister_script.pop(0)
        for face_id in face_ids:
            self.faces.pop(face_id, None)

    def registered_keys(self) -> list[str]:
        return sorted(key for _, key, _ in self.faces.values())


def first_attempt(receive_count: int = 1, max_receive_count: int = 5):
    from handlers.throttled_indexer.outcome import Attempt

    return Attempt(receive_count=receive_count, max_receive_count=max_receive_count, lease_seconds=900)


# ---------------------------------------------------------------------------------------------- HTTP gateway
@dataclass
class Scripted:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedGateway:
    """A registration API that answers from a script, one entry per request (default 200 {})."""

    def __init__(self) -> None:
        self.script: list[Scripted] = []
        self.received: list[Received] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                outer.received.append(
                    Received(self.path, dict(self.headers.items()), self.rfile.read(length))
                )
                answer = outer.script.pop(0) if outer.script else Scripted()
                if answer.delay:
                    time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})

    def __enter__(self) -> ScriptedGateway:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


# ---------------------------------------------------------------------------------------------- SQS batches
MAX_RECEIVES = 3
"""The input queue's redrive maxReceiveCount in the `queues` fixture and `runner_for`'s default."""


def receive_as_lambda(sqs, url: str, arn: str) -> list[dict]:
    """What the SQS event source mapping hands the function: the Lambda record shape."""
    response = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
    )
    records = []
    for m in response.get("Messages", []):
        records.append(
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {
                    name: {"stringValue": v.get("StringValue"), "dataType": v["DataType"]}
                    for name, v in m.get("MessageAttributes", {}).items()
                },
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
            }
        )
    return records


def make_visible_again(sqs, url: str, records: list[dict]) -> None:
    """Stand-in for time passing: the failed messages' visibility timeouts run out."""
    for record in records:
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
        )


def runner_for(queues, history, importer, deleter, labels=None, **config) -> BatchRunner:
    sqs = queues[0]
    config.setdefault("max_receive_count", MAX_RECEIVES)
    return BatchRunner(
        sqs=sqs,
        history=history,
        process_import=importer.process,
        process_delete=deleter.process,
        config=BatchConfig(**config),
        count=(labels.append if labels is not None else (lambda label: None)),
        rng=lambda: 1.0,
        root_logger=Logger(),
    )
