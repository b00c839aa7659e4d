"""The corpus of real AWS samples in tests/events (see its README), and how a test adapts one.

A sample is adapted only in its names (bucket, key, version id, account, region, queue): never its shape.
Every helper returns a deep copy, so a test cannot change the sample another test reads.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[1] / "events"
INVENTORY = EVENTS / "inventory"


def samples(folder: str, pattern: str = "*.json") -> list[Path]:
    """Every sample file of one folder of the corpus, sorted (a new file is picked up by the tests)."""
    found = sorted((EVENTS / folder).glob(pattern))
    assert found, f"no sample matches {folder}/{pattern}"
    return found


def ids(paths: list[Path]) -> list[str]:
    return [path.name for path in paths]


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def s3_batch_requests(schema: str | None = None) -> list[Path]:
    paths = samples("s3-batch", "*.request-*.json")
    return [p for p in paths if schema is None or p.name.endswith(f"request-{schema}.json")]


def inventory_deliveries() -> list[str]:
    """The real S3 Inventory deliveries: each <name>_manifest.json with its checksum and data file."""
    return [p.name.removesuffix("_manifest.json") for p in samples("inventory", "*_manifest.json")]


def eventbridge(detail_type: str) -> list[Path]:
    return [p for p in samples("eventbridge") if load(p)["detail-type"] == detail_type]


def with_bucket_arn(arn: str, bucket: str, account: str) -> str:
    """An S3 bucket ARN of the sample's form (arn:aws:s3:::b, or with region and account) naming `bucket`."""
    parts = arn.split(":", 5)
    assert parts[:3] == ["arn", "aws", "s3"] and len(parts) == 6, arn
    if parts[4]:
        parts[4] = account
    parts[5] = bucket
    return ":".join(parts)


def s3_notification(sample: Path, bucket: str, encoded_key: str) -> dict[str, Any]:
    """An S3 event notification sample naming `bucket` and the (S3-URL-encoded) `encoded_key`."""
    event = copy.deepcopy(load(sample))
    for record in event["Records"]:
        record["s3"]["bucket"]["name"] = bucket
        record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
        record["s3"]["object"]["key"] = encoded_key
        record["s3"]["object"].pop("urlDecodedKey", None)  # a Powertools-only field, derived from the key
    return event


def sns_envelope(sample: Path, message: dict[str, Any]) -> dict[str, Any]:
    """An SNS -> Lambda sample whose every record carries `message` (SNS delivers it as a JSON string)."""
    event = copy.deepcopy(load(sample))
    for record in event["Records"]:
        record["Sns"]["Message"] = json.dumps(message)
    return event


def sqs_envelope(sample: Path, bodies: list[str] | None, queue_arn: str) -> dict[str, Any]:
    """An SQS -> Lambda sample from `queue_arn`; `bodies` replaces the records' bodies (one record per
    body, each a copy of the sample's records in turn), None keeps the sample's own bodies."""
    event = copy.deepcopy(load(sample))
    records = event["Records"]
    if bodies is not None:
        records = [copy.deepcopy(records[i % len(records)]) for i in range(len(bodies))]
        for i, (record, body) in enumerate(zip(records, bodies, strict=True)):
            record["body"] = body
            record["messageId"] = f"{record['messageId']}-{i}"
            record.pop("md5OfBody", None)  # it would describe the sample's body, not this one
    region = queue_arn.split(":")[3]
    for record in records:
        record["eventSourceARN"] = queue_arn
        record["awsRegion"] = region
    event["Records"] = records
    return event
