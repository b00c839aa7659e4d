"""The Lambda entry point, built from its environment at cold start, on moto + a local HTTP gateway."""

from __future__ import annotations

import json

import boto3
import pytest
from indexer_fixtures import (
    Scripted,
    ScriptedGateway,
    http_indexer_env,
    import_message,
    jpeg_bytes,
    load_indexer_app,
    put_image,
)

from handlers.common.contracts import dump_message
from handlers.throttled_indexer.outcome import metric_name
from handlers.throttled_indexer.settings import Settings, SettingsError
from tests.lambda_context import context_factory

FakeContext = context_factory("throttled-indexer", memory_mb=512)


def test_handler_indexes_a_batch_and_emits_outcome_metrics(monkeypatch, s3, history_table, capsys):
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="indexer-input")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    obj = put_image(s3, "photos/a b.jpg", jpeg_bytes("app"))
    with ScriptedGateway() as api:
        api.script.append(Scripted(200, b'{"ImageId": "portal-1"}'))
        app = load_indexer_app(monkeypatch, http_indexer_env(api.url, url))
        event = {
            "Records": [
                {
                    "messageId": "m-1",
                    "receiptHandle": "r-1",
                    "body": dump_message(import_message(obj)),
                    "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1763700000000"},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                },
                {
                    "messageId": "m-2",
                    "receiptHandle": "r-2",
                    "body": "[]",
                    "attributes": {"ApproximateReceiveCount": "1"},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                },
            ]
        }
        response = app.handler(event, FakeContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
    item = history_table.get_item(Key={"pk": f"obj#images/{obj.key}", "sk": f"v#{obj.version_id}"})["Item"]
    assert (item["status"], item["image_id"]) == ("indexed", "portal-1")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    emitted = [doc for doc in lines if "_aws" in doc]
    names = {m["Name"] for doc in emitted for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"Indexed", "Poison"} <= names
    done = [line for line in lines if line.get("message") == "message done"]
    assert [line["message_id"] for line in done] == ["m-1"]  # log lines carry the message id


def test_metric_names():
    assert metric_name("skipped:duplicate") == "SkippedDuplicate"
    assert metric_name("invalid:no-face") == "InvalidNoFace"
    assert metric_name("indexed") == "Indexed"


BASE = {"HISTORY_TABLE": "history", "GATEWAY": "rekognition", "COLLECTION_ID": "faces"}


def test_settings_defaults():
    settings = Settings.from_env(BASE)
    assert (settings.gateway, settings.collection_id, settings.gateway_auth) == (
        "rekognition",
        "faces",
        "none",
    )
    assert (settings.max_receive_count, settings.history_ttl_days, settings.gateway_timeout_seconds) == (
        5,
        14,
        10.0,
    )
    assert settings.quarantine_bucket is None and settings.dlq_url is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HISTORY_TABLE": ""}, "HISTORY_TABLE is required"),
        ({"GATEWAY": "carrier-pigeon"}, "GATEWAY must be"),
        ({"COLLECTION_ID": ""}, "COLLECTION_ID is required"),
        ({"GATEWAY": "http"}, "GATEWAY_URL is required"),
        ({"GATEWAY": "http", "GATEWAY_URL": "ftp://x"}, "GATEWAY_URL must be an http"),
        (
            {"GATEWAY": "http", "GATEWAY_URL": "https://x", "GATEWAY_AUTH": "api-key"},
            "GATEWAY_API_KEY_SECRET_ARN",
        ),
        ({"GATEWAY_AUTH": "oauth"}, "GATEWAY_AUTH must be"),
        ({"MAX_RECEIVE_COUNT": "five"}, "MAX_RECEIVE_COUNT must be an integer"),
        ({"GATEWAY_TIMEOUT_SECONDS": "0"}, "GATEWAY_TIMEOUT_SECONDS must be between"),
        ({"BACKOFF_MAX_SECONDS": "50000"}, "BACKOFF_MAX_SECONDS must be between"),
    ],
)
def test_settings_errors_name_the_variable(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({**BASE, **env})
