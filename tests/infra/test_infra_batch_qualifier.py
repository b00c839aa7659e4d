"""BatchQualifier on its own: reserved concurrency, environment, least-privilege role."""

from __future__ import annotations

import json

import pytest
from infra_harness import ACCOUNT, REGION, Run, component_args, env_of, run_pulumi, statement, statements

from components import BatchQualifier, BatchQualifierArgs, LambdaSettings

QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:indexer-input"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/indexer-input"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/history"
BASE = dict(
    image_bucket_name="photos",
    image_bucket_arn="arn:aws:s3:::photos",
    queue_arn=QUEUE_ARN,
    queue_url=QUEUE_URL,
    image_suffixes=(".jpg",),
    lambda_settings=LambdaSettings(),
    history_table_name="history",
    history_table_arn=TABLE_ARN,
)


def build(**changes) -> Run:
    args = component_args(BatchQualifierArgs, **{**BASE, **changes})
    return run_pulumi(lambda: BatchQualifier("bq", args), stack="unit")


@pytest.fixture(scope="module")
def run() -> Run:
    return build()


def test_function_settings(run):
    function = run.named("bq-function")
    assert function.inputs["reservedConcurrentExecutions"] == 10
    assert function.inputs["timeout"] == 60 and function.inputs["memorySize"] == 256
    assert function.inputs["handler"] == "handlers.batch_qualifier.app.handler"
    assert function.inputs["architectures"] == ["arm64"] and function.inputs["runtime"] == "python3.12"
    assert run.parents["bq-function"] == "bq"


def test_environment(run):
    env = env_of(run, "bq-function")
    assert env["QUEUE_URL"] == QUEUE_URL
    assert env["HISTORY_TABLE"] == "history"
    assert env["REGISTRATION_PROVIDER"] == "s3-tags"
    assert json.loads(env["REGISTRATION_PROVIDER_CONFIG"]) == {}
    assert env["IMAGE_SUFFIXES"] == ".jpg"
    assert env["HISTORY_TTL_DAYS"] == "14"


def test_role_names_only_what_the_handler_touches(run):
    policy = run.named("bq-function-policy")
    by_sid = {s["Sid"]: (s["Action"], s["Resource"]) for s in statements(policy)}
    assert by_sid["ReadImagesAndTags"] == (
        ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"],
        ["arn:aws:s3:::photos/*"],
    )
    assert by_sid["ReadProperties"] == (["s3:GetObject", "s3:GetObjectVersion"], ["arn:aws:s3:::photos/*"])
    assert by_sid["SendToIndexer"] == (["sqs:SendMessage"], [QUEUE_ARN])
    assert by_sid["WriteHistory"] == (
        ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
        [TABLE_ARN],
    )
    assert by_sid["ListBuckets"] == (["s3:ListBucket"], ["arn:aws:s3:::photos"])
    assert set(by_sid) == {
        "ListBuckets",
        "WriteOwnLogs",
        "XRayTracing",
        "ReadImagesAndTags",
        "ReadProperties",
        "SendToIndexer",
        "WriteHistory",
        "ConsumeTagEvents",  # issue 15: the tag-events queue (tests/infra/test_infra_tag_events.py)
    }


def test_without_history_custom_provider_and_properties_buckets():
    extra = {
        "Action": ["dynamodb:GetItem"],
        "Resource": [f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/users"],
        "Effect": "Allow",
    }
    run = build(
        history_table_name=None,
        history_table_arn=None,
        provider="acme.registry:UserTable",
        provider_config={"table": "users"},
        properties_buckets=("props-a", "props-b"),
        extra_policy_statements=(extra,),
        reserved_concurrency=3,
    )
    env = env_of(run, "bq-function")
    assert "HISTORY_TABLE" not in env
    assert env["REGISTRATION_PROVIDER"] == "acme.registry:UserTable"
    assert json.loads(env["REGISTRATION_PROVIDER_CONFIG"]) == {"table": "users"}
    policy = run.named("bq-function-policy")
    assert statement(policy, "ReadProperties")["Resource"] == [
        "arn:aws:s3:::props-a/*",
        "arn:aws:s3:::props-b/*",
    ]
    assert statement(policy, "Provider0")["Action"] == ["dynamodb:GetItem"]
    assert statement(policy, "ListBuckets")["Resource"] == [
        "arn:aws:s3:::photos",
        "arn:aws:s3:::props-a",
        "arn:aws:s3:::props-b",
    ]
    assert "WriteHistory" not in {s["Sid"] for s in statements(policy)}
    function = run.named("bq-function")
    # the component decides its physical name (S3 Batch's role names it before it exists)
    assert function.inputs["name"] == "bulk-loader-unit-batch-bq"
    assert function.inputs["reservedConcurrentExecutions"] == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"history_table_arn": None}, "history_table_name/history_table_arn"),
        ({"image_suffixes": ()}, "image_suffixes"),
        ({"reserved_concurrency": 0}, "reserved_concurrency"),
    ],
)
def test_invalid_args_name_the_argument(change, message):
    with pytest.raises(ValueError, match=message):
        build(**change)
