"""The stack config model: defaults, left-out components, and errors that name the key and what is allowed."""

from __future__ import annotations

import pytest
from infra_harness import run_main

from components.config import REKOGNITION_MAX_IMAGE_BYTES, ConfigError, parse_config

QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:indexer-input"
QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/indexer-input"
BATCH_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:existing-qualifier"


def test_defaults():
    cfg = parse_config({})
    assert (cfg.lambda_.runtime, cfg.lambda_.architecture, cfg.lambda_.log_retention_days) == (
        "python3.12",
        "arm64",
        30,
    )
    assert cfg.inventory_pipeline.timeout_seconds == 900 and cfg.inventory_pipeline.memory_mb == 1024
    assert cfg.inventory_pipeline.schedule == "Daily" and cfg.inventory_pipeline.format == "CSV"
    assert cfg.batch_qualifier.timeout_seconds == 60 and cfg.batch_qualifier.memory_mb == 256
    assert cfg.batch_qualifier.reserved_concurrency == 10
    ti = cfg.throttled_indexer
    assert (ti.timeout_seconds, ti.memory_mb, ti.batch_size, ti.max_concurrency, ti.max_receive_count) == (
        60,
        512,
        10,
        5,
        5,
    )
    assert cfg.history_ttl_days == 14
    assert cfg.max_image_bytes == REKOGNITION_MAX_IMAGE_BYTES
    assert cfg.create_image_bucket and cfg.bucket_eventbridge


def test_values_arrive_as_pulumi_strings_and_are_coerced():
    cfg = parse_config(
        {"historyTtlDays": "7", "throttledIndexer": {"maxConcurrency": "3", "deleteEvents": "false"}}
    )
    assert cfg.history_ttl_days == 7
    assert cfg.throttled_indexer.max_concurrency == 3
    assert cfg.throttled_indexer.delete_events is False


def test_existing_bucket_turns_eventbridge_off_unless_asked():
    assert parse_config({"imageBucket": {"name": "photos"}}).bucket_eventbridge is False
    cfg = parse_config(
        {"imageBucket": {"name": "photos"}, "throttledIndexer": {"enableBucketEventbridge": True}}
    )
    assert cfg.bucket_eventbridge is True


def _error(raw) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    return str(info.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"colour": "blue"}, "bulk-loader:colour: unknown key; allowed keys:"),
        (
            {"lambda": {"architecture": "mips"}},
            "bulk-loader:lambda.architecture: Input should be 'arm64' or 'x86_64'",
        ),
        ({"lambda": {"logRetentionDays": 10}}, "bulk-loader:lambda.logRetentionDays: must be one of"),
        ({"lambda": {"runtim": "python3.12"}}, "bulk-loader:lambda.runtim: unknown setting"),
        ({"throttledIndexer": {"maxConcurrency": 1}}, "bulk-loader:throttledIndexer.maxConcurrency"),
        ({"throttledIndexer": {"gateway": "soap"}}, "bulk-loader:throttledIndexer.gateway: Input should be"),
        ({"throttledIndexer": {"gateway": "http"}}, "bulk-loader:throttledIndexer.gatewayUrl: required"),
        (
            {"throttledIndexer": {"gateway": "http", "gatewayUrl": "http://api.example.com"}},
            "bulk-loader:throttledIndexer.gatewayUrl: must be an https:// URL",
        ),
        (
            {
                "throttledIndexer": {
                    "gateway": "http",
                    "gatewayUrl": "https://a.example.com",
                    "gatewayAuth": "sigv4",
                }
            },
            "bulk-loader:throttledIndexer.gatewayApiArn: required when gatewayAuth is 'sigv4'",
        ),
        (
            {"throttledIndexer": {"alarmActions": ["ops-topic"]}},
            "bulk-loader:throttledIndexer.alarmActions[0]",
        ),
        ({"imageBucket": {"name": "Bad_Bucket"}}, "bulk-loader:imageBucket.name: must be an S3 bucket name"),
        ({"imageBucket": {"name": "192.168.1.1"}}, "bulk-loader:imageBucket.name: must be an S3 bucket name"),
        ({"imageSuffixes": ["jpg"]}, "bulk-loader:imageSuffixes[0]: must be a file suffix like '.jpg'"),
        (
            {"inventoryPipeline": {"optionalFields": ["IsLatest"]}},
            "bulk-loader:inventoryPipeline.optionalFields[0]",
        ),
        (
            {"inventoryPipeline": {"format": "JSON"}},
            "bulk-loader:inventoryPipeline.format: Input should be 'CSV'",
        ),
        (
            {"inventoryPipeline": {"maxImageBytes": REKOGNITION_MAX_IMAGE_BYTES + 1}},
            "bulk-loader:inventoryPipeline.maxImageBytes: at most",
        ),
        ({"batchQualifier": {"provider": "not a path"}}, "bulk-loader:batchQualifier.provider"),
        (
            {
                "batchQualifier": {
                    "extraPolicyStatements": [{"Action": "s3:*", "Resource": "arn:aws:s3:::x/*"}]
                }
            },
            "bulk-loader:batchQualifier.extraPolicyStatements[0]: Action must be",
        ),
        (
            {"batchQualifier": {"extraPolicyStatements": [{"Action": "s3:GetObject", "Resource": "*"}]}},
            "bulk-loader:batchQualifier.extraPolicyStatements[0]: Resource must be one or more ARNs",
        ),
        ({"batchQualifier": {"enabled": False}}, "bulk-loader:batchQualifier.functionArn: required"),
        (
            {"batchQualifier": {"functionArn": "arn:aws:lambda:eu-west-1:1:function:x"}},
            "functionArn: must be",
        ),
        (
            {"throttledIndexer": {"enabled": False}},
            "bulk-loader:throttledIndexer.queueArn and queueUrl: required",
        ),
        ({"throttledIndexer": {"queueArn": QUEUE_ARN}}, "only when enabled is false"),
        ({"inventoryPipeline": {"enabled": False}}, "bulk-loader:imageBucket.name: required"),
    ],
)
def test_invalid_values_name_the_key_and_what_is_allowed(raw, expected):
    assert expected in _error(raw)


def test_all_problems_are_reported_at_once():
    message = _error({"lambda": {"architecture": "mips"}, "throttledIndexer": {"batchSize": 50}})
    assert "bulk-loader:lambda.architecture" in message
    assert "bulk-loader:throttledIndexer.batchSize" in message


def test_the_program_stops_with_the_config_error():
    with pytest.raises(ConfigError, match=r"bulk-loader:throttledIndexer\.maxConcurrency"):
        run_main({"throttledIndexer": {"maxConcurrency": 1}})


def test_left_out_indexer_is_replaced_by_existing_queue_and_table():
    table_arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/import-history"
    run = run_main(
        {
            "imageBucket": {"name": "photos"},
            "inventoryPipeline": {"enabled": False},
            "throttledIndexer": {
                "enabled": False,
                "queueArn": QUEUE_ARN,
                "queueUrl": QUEUE_URL,
                "historyTableArn": table_arn,
            },
        }
    )
    assert {r.typ for r in run.resources if r.typ.startswith("bulkloader:")} == {
        "bulkloader:index:BatchQualifier"
    }
    env = run.named("qualifier-function").inputs["environment"]["variables"]
    assert env["QUEUE_URL"] == QUEUE_URL and env["HISTORY_TABLE"] == "import-history"
    assert run.exports["image_bucket_name"] == "photos"


def test_left_out_qualifier_is_replaced_by_an_existing_function():
    run = run_main({"batchQualifier": {"enabled": False, "functionArn": BATCH_ARN}})
    assert not run.of_type("bulkloader:index:BatchQualifier")
    env = run.named("inventory-inventory-created").inputs["environment"]["variables"]
    assert env["BATCH_FUNCTION_ARN"] == BATCH_ARN
    invoke = [
        s for s in run.named("inventory-batch-role-policy").inputs["policy"].split("InvokeBatchFunction")
    ]
    assert BATCH_ARN in invoke[1]
