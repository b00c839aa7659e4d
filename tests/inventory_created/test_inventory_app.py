"""The Lambda entry point: settings from the environment, SNS events, logs and EMF metrics, clear errors."""

from __future__ import annotations

import io
import json

import pytest
from inventory_fixtures import FUNCTION_ARN, INVENTORY_BUCKET, MANIFEST_BUCKET, Row, csv_gz, put_inventory

from handlers.inventory_created import app
from handlers.inventory_created.errors import EventError, ManifestError
from tests.lambda_context import context_factory

FakeContext = context_factory("inventory-created", memory_mb=1024, arn=FUNCTION_ARN)


@pytest.fixture
def logs():
    """The function's structured log lines (Powertools' handler pointed at a buffer for the test)."""
    buffer = io.StringIO()
    previous = app.logger.registered_handler.setStream(buffer)
    yield lambda: _json_lines(buffer.getvalue())
    app.logger.registered_handler.setStream(previous)


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("BATCH_FUNCTION_ARN", "arn:aws:lambda:us-east-1:123456789012:function:batch-qualifier")
    monkeypatch.setenv("BATCH_ROLE_ARN", "arn:aws:iam::123456789012:role/batch")
    monkeypatch.setenv("MANIFEST_BUCKET", MANIFEST_BUCKET)
    app._importer.cache_clear()
    yield
    app._importer.cache_clear()


def _sns(key: str) -> dict:
    s3_event = {
        "Records": [
            {"eventSource": "aws:s3", "s3": {"bucket": {"name": INVENTORY_BUCKET}, "object": {"key": key}}}
        ]
    }
    return {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(s3_event)}}]}


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_sns_event_for_an_inventory_without_images_returns_counts_and_emits_metrics(s3, env, logs, capsys):
    inv = put_inventory(s3, [csv_gz([Row("notes.txt"), Row("old.jpg", is_latest=False)])])
    response = app.handler(_sns(inv.checksum_key), FakeContext())
    assert response["jobs"] == [] and response["counts"] == {"not_image": 1, "not_latest": 1}
    metrics = [line for line in _json_lines(capsys.readouterr().out) if "_aws" in line]
    assert len(metrics) == 1
    assert metrics[0]["Rows_not_image"] == [1.0] and metrics[0]["Rows_not_latest"] == [1.0]
    assert "Rows_selected" not in metrics[0] and "JobsCreated" not in metrics[0]
    logged = [line for line in logs() if line.get("message") == "data file has no image to import: no job"]
    assert logged and logged[0]["counts"] == {"not_image": 1, "not_latest": 1}
    assert logged[0]["function_request_id"] == "req-1"


def test_s3_test_event_is_ignored(s3, env):
    message = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": INVENTORY_BUCKET})
    event = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": message}}]}
    assert app.handler(event, FakeContext())["results"] == [
        {"ignored": f"s3:TestEvent for bucket '{INVENTORY_BUCKET}'"}
    ]


def test_bad_input_raises_a_clear_error_and_logs_it(s3, env, logs):
    with pytest.raises(EventError, match="is not an inventory manifest"):
        app.handler({"bucket": INVENTORY_BUCKET, "key": "some/data.csv.gz"}, FakeContext())
    rejected = [line for line in logs() if line.get("message") == "inventory rejected"]
    assert rejected[0]["errorType"] == "EventError" and "some/data.csv.gz" in rejected[0]["error"]


def test_missing_manifest_is_named(s3, env):
    with pytest.raises(
        ManifestError, match=rf"manifest s3://{INVENTORY_BUCKET}/x/manifest.json does not exist"
    ):
        app.handler({"bucket": INVENTORY_BUCKET, "key": "x/manifest.checksum"}, FakeContext())


def test_the_function_uses_arrows_jemalloc_pool():
    # Importing app configures it at cold start (lower peak RSS, see reader.configure_arrow_memory).
    assert app.ARROW_MEMORY_POOL == "jemalloc"
