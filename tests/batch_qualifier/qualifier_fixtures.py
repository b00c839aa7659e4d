"""Helpers for the batch qualifier tests: moto S3 / SQS / DynamoDB, generated images, S3 Batch events."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_plus

import boto3
from botocore.config import Config

from handlers.batch_qualifier.providers.s3_tags import S3TagsProvider
from handlers.batch_qualifier.qualifier import Qualifier
from handlers.batch_qualifier.registration import BatchTask
from handlers.common.history import HistoryStore
from tests.history_fixtures import create_history_table, history_item

REGION = "us-east-1"
IMAGE_BUCKET = "qualifier-images"
PROPERTIES_BUCKET = "qualifier-properties"
HISTORY_TABLE = "qualifier-history"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(64))
# One attempt: a test sees exactly the error it staged, not a retried one.
NO_RETRY = Config(retries={"mode": "standard", "max_attempts": 1})

HOSTILE_KEYS = [
    "plain/photo.png",
    "with space/a b.jpg",
    "plus+sign/a+b.png",
    "percent/%2B literal.jpeg",
    "unicode/Zoë Ünïcödé 写真.png",
    "quotes/\"double\" and 'single', comma.jpg",
    "deep/nested/./../dots.PNG",
    "emoji/😀.jpg",
]


class Clients:
    """A ClientFactory over moto: one client per service, counting calls per operation."""

    def __init__(self) -> None:
        self._clients: dict[str, Any] = {}
        self.calls: dict[str, int] = {}

    def __call__(self, service: str) -> Any:
        if service not in self._clients:
            made = boto3.client(service, region_name=REGION, config=NO_RETRY)
            made.meta.events.register("before-call.*.*", self._count)
            self._clients[service] = made
        return self._clients[service]

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] = self.calls.get(model.name, 0) + 1


class Env:
    """The moto world one test runs in, with helpers to populate it."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients
        self.s3 = clients("s3")
        self.sqs = clients("sqs")
        self.s3.create_bucket(Bucket=IMAGE_BUCKET)
        self.s3.create_bucket(Bucket=PROPERTIES_BUCKET)
        self.queue_url = self.sqs.create_queue(QueueName="qualifier-input")["QueueUrl"]
        self.history_table = create_history_table(
            boto3.resource("dynamodb", region_name=REGION), HISTORY_TABLE
        )
        self.history = HistoryStore(self.history_table)

    def put_image(
        self, key: str, body: bytes = PNG, tags: dict[str, str] | None = None, bucket: str = IMAGE_BUCKET
    ) -> dict[str, Any]:
        response = self.s3.put_object(Bucket=bucket, Key=key, Body=body)
        if tags:  # moto cannot parse an empty TagSet; no tags is simply not tagging
            self.s3.put_object_tagging(
                Bucket=bucket,
                Key=key,
                Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]},
                **({"VersionId": response["VersionId"]} if response.get("VersionId") else {}),
            )
        return response

    def put_properties(self, key: str, content: Any) -> str:
        body = content if isinstance(content, bytes) else json.dumps(content, ensure_ascii=False).encode()
        self.s3.put_object(Bucket=PROPERTIES_BUCKET, Key=key, Body=body)
        return f"s3://{PROPERTIES_BUCKET}/{key}"

    def qualifier(self, provider: Any = None, *, history: bool = True, **kwargs: Any) -> Qualifier:
        return Qualifier(
            s3=kwargs.pop("s3", self.s3),
            sqs=kwargs.pop("sqs", self.sqs),
            queue_url=self.queue_url,
            provider=provider or S3TagsProvider(clients=self.clients),
            image_suffixes=kwargs.pop("image_suffixes", (".png", ".jpg", ".jpeg")),
            history=kwargs.pop("history_store", self.history if history else None),
        )

    def queued_messages(self) -> list[dict[str, Any]]:
        messages = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return messages
            messages += [json.loads(message["Body"]) for message in batch]

    def history_item(self, key: str, version_id: str | None = None) -> dict[str, Any] | None:
        return history_item(self.history_table, IMAGE_BUCKET, key, version_id)


def make_task(key: str, *, version_id: str | None = None, mode: str = "import", bucket: str = IMAGE_BUCKET):
    return BatchTask(
        task_id="task-1",
        bucket=bucket,
        key=key,
        version_id=version_id,
        run_id="run-1",
        job_id="job-1",
        mode=mode,  # type: ignore[arg-type]
    )


def s3_encoded(key: str) -> str:
    """How S3 itself URL-encodes keys in events (`+` for space), unlike our manifests (`%20`)."""
    return quote_plus(key, safe="/")


def batch_event(
    tasks: list[dict[str, Any]],
    *,
    schema_version: str = "2.0",
    user_arguments: dict[str, str] | None = None,
    job_id: str = "job-42",
) -> dict[str, Any]:
    job: dict[str, Any] = {"id": job_id}
    if schema_version == "2.0":
        job["userArguments"] = user_arguments if user_arguments is not None else {"runId": "run-7"}
    return {"invocationSchemaVersion": schema_version, "invocationId": "inv-abc", "job": job, "tasks": tasks}


def batch_task(
    encoded_key: str,
    *,
    schema_version: str = "2.0",
    bucket: str = IMAGE_BUCKET,
    version_id: str | None = None,
    task_id: str = "task-1",
) -> dict[str, Any]:
    task: dict[str, Any] = {"taskId": task_id, "s3Key": encoded_key, "s3VersionId": version_id}
    if schema_version == "1.0":
        task["s3BucketArn"] = f"arn:aws:s3:::{bucket}"
    else:
        task["s3Bucket"] = bucket
    return task
