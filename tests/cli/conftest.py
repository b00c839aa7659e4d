"""A deployed stack in moto for the CLI tests: image and inventory buckets, the indexer's queue and DLQ (with
the redrive policy), the inventory function's failure queue, the history table, and the outputs file
`pulumi stack output --json` would print for it. S3 Control jobs and Lambda invocations, which moto cannot
serve here, go to botocore Stubbers the test primes."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from cli.main import main
from tests.history_fixtures import create_history_table

ACCOUNT = "123456789012"
REGION = "us-east-1"
NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
IMAGE_BUCKET = "images-bucket"
INVENTORY_BUCKET = "inventory-bucket"
BATCH_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/batch-role"
BATCH_FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:batch-qualifier"
INVENTORY_FUNCTION = "inventory-created"


class Terminal(io.StringIO):
    """stdin of an interactive terminal with a typed answer."""

    def isatty(self) -> bool:
        return True


@dataclass
class Stack:
    outputs: dict[str, str]
    outputs_file: Path
    history: Any
    sqs: Any
    s3: Any
    s3control: Any = None
    lambda_client: Any = None
    stubs: dict[str, Stubber] = field(default_factory=dict)

    def cli(
        self,
        *argv: str,
        stdin: io.StringIO | None = None,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] | None = None,
        sqs: Any = None,
    ) -> int:
        """Run `bulk-loader` on this stack; `sqs` replaces moto's client (a Stubber's, for the move task)."""
        clients = {"s3control": self.s3control, "lambda": self.lambda_client}
        if sqs is not None:
            clients["sqs"] = sqs
        return main(
            [*argv, "--outputs", str(self.outputs_file)],
            stdin=stdin,
            clock=clock or (lambda: NOW),
            sleep=sleep or (lambda _s: None),
            clients=clients,
        )

    def expect_async_invoke(self, event: Any) -> None:
        """The inventory function invoked asynchronously with `event` (Lambda accepts: 202)."""
        self.stubs["lambda"].add_response(
            "invoke",
            {"StatusCode": 202},
            {
                "FunctionName": INVENTORY_FUNCTION,
                "InvocationType": "Event",
                "Payload": json.dumps(event).encode(),
            },
        )

    def depth(self, url: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

    def receive_all(self, url: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=300
            ).get("Messages", [])
            if not got:
                return found
            found += got


@pytest.fixture
def stack(aws: None, tmp_path: Path) -> Iterator[Stack]:
    s3 = boto3.client("s3", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    for bucket in (IMAGE_BUCKET, INVENTORY_BUCKET):
        s3.create_bucket(Bucket=bucket)
    dlq_url = sqs.create_queue(QueueName="indexer-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName="indexer-queue",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})},
    )["QueueUrl"]
    failure_url = sqs.create_queue(QueueName="inventory-failures")["QueueUrl"]
    table = create_history_table(boto3.resource("dynamodb", region_name=REGION), "history")
    outputs = {
        "image_bucket_name": IMAGE_BUCKET,
        "inventory_bucket_name": INVENTORY_BUCKET,
        "inventory_configuration_id": "images-inventory",
        "inventory_function_name": INVENTORY_FUNCTION,
        "inventory_failure_queue_url": failure_url,
        "batch_role_arn": BATCH_ROLE_ARN,
        "batch_function_arn": BATCH_FUNCTION_ARN,
        "queue_url": queue_url,
        "dlq_url": dlq_url,
        "history_table_name": "history",
    }
    outputs_file = tmp_path / "outputs.json"
    outputs_file.write_text(json.dumps(outputs))
    s3control = boto3.client("s3control", region_name=REGION)
    lambda_client = boto3.client("lambda", region_name=REGION)
    made = Stack(outputs, outputs_file, table, sqs, s3, s3control, lambda_client)
    made.stubs = {"s3control": Stubber(s3control), "lambda": Stubber(lambda_client)}
    for stub in made.stubs.values():
        stub.activate()
    yield made
    for stub in made.stubs.values():
        stub.deactivate()


def read_json(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)
