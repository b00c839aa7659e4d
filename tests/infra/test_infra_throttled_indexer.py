"""ThrottledIndexer on its own: queue/DLQ, mapping, history table, gateway variants, deletions, alarms."""

from __future__ import annotations

import json

import pytest
from infra_harness import ACCOUNT, REGION, Run, component_args, env_of, run_pulumi, statement, statements

from components import LambdaSettings, ThrottledIndexer, ThrottledIndexerArgs
from handlers.common import history_schema as schema

BASE = dict(
    image_bucket_name="photos",
    image_bucket_arn="arn:aws:s3:::photos",
    lambda_settings=LambdaSettings(architecture="x86_64"),
)
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:userportal-key-AbCdEf"
API = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:a1b2c3d4e5/prod/POST/register"


def build(**changes) -> Run:
    args = component_args(ThrottledIndexerArgs, **{**BASE, **changes})
    return run_pulumi(lambda: ThrottledIndexer("idx", args), stack="unit")


@pytest.fixture(scope="module")
def run() -> Run:
    return build()


def test_queue_visibility_is_six_times_the_function_timeout_with_a_dlq(run):
    queue = run.named("idx-queue")
    function = run.named("idx-function")
    assert queue.inputs["visibilityTimeoutSeconds"] == 6 * function.inputs["timeout"] == 360
    redrive = json.loads(queue.inputs["redrivePolicy"])
    assert redrive == {"deadLetterTargetArn": run.named("idx-queue-dlq").outputs["arn"], "maxReceiveCount": 5}


def test_event_source_mapping(run):
    mapping = run.one("aws:lambda/eventSourceMapping:EventSourceMapping")
    assert mapping.inputs["eventSourceArn"] == run.named("idx-queue").outputs["arn"]
    assert mapping.inputs["functionName"] == run.named("idx-function").outputs["arn"]
    assert mapping.inputs["batchSize"] == 10
    assert mapping.inputs["scalingConfig"] == {"maximumConcurrency": 5}
    assert mapping.inputs["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "idx-function-policy" in run.depends_on[mapping.name]


def test_history_table_matches_the_shared_schema(run):
    table = run.one("aws:dynamodb/table:Table")
    assert (table.inputs["hashKey"], table.inputs["rangeKey"]) == (schema.PARTITION_KEY, schema.SORT_KEY)
    indexes = {
        gsi["name"]: (
            gsi["projectionType"],
            [(k["attributeName"], k["keyType"]) for k in gsi["keySchemas"]],
        )
        for gsi in table.inputs["globalSecondaryIndexes"]
    }
    assert indexes == {
        name: ("ALL", [(pk, "HASH"), (sk, "RANGE")]) for name, pk, sk in schema.GLOBAL_SECONDARY_INDEXES
    }
    assert {schema.BY_RUN_INDEX, schema.BY_USER_INDEX, schema.FAILURES_INDEX} == set(indexes)
    assert table.inputs["ttl"] == {"attributeName": schema.TTL_ATTRIBUTE, "enabled": True}
    declared = {a["name"]: a["type"] for a in table.inputs["attributes"]}
    used = {schema.PARTITION_KEY, schema.SORT_KEY} | {
        k for _, pk, sk in schema.GLOBAL_SECONDARY_INDEXES for k in (pk, sk)
    }
    assert declared == dict.fromkeys(used, "S")


def test_rekognition_collection_is_created_and_granted(run):
    collection = run.one("aws:rekognition/collection:Collection")
    env = env_of(run, "idx-function")
    assert env["GATEWAY"] == "rekognition"
    assert env["COLLECTION_ID"] == collection.inputs["collectionId"]
    assert "GATEWAY_URL" not in env
    stmt = statement(run.named("idx-function-policy"), "FaceCollection")
    assert stmt["Action"] == [
        "rekognition:IndexFaces",
        "rekognition:DeleteFaces",
        "rekognition:SearchFacesByImage",
    ]
    assert stmt["Resource"] == [collection.outputs["arn"]]


def test_users_mode_grants_the_user_actions_and_writes_its_settings(run):
    faces = env_of(run, "idx-function")
    assert (faces["REKOGNITION_MODE"], faces["USER_MATCH_THRESHOLD"]) == ("faces", "75.0")
    users = build(rekognition_mode="users", user_match_threshold=90.0)
    env = env_of(users, "idx-function")
    assert (env["REKOGNITION_MODE"], env["USER_MATCH_THRESHOLD"]) == ("users", "90.0")
    stmt = statement(users.named("idx-function-policy"), "FaceCollection")
    assert stmt["Action"] == [
        "rekognition:IndexFaces",
        "rekognition:DeleteFaces",
        "rekognition:SearchFacesByImage",
        "rekognition:CreateUser",
        "rekognition:AssociateFaces",
        "rekognition:DisassociateFaces",
        "rekognition:ListFaces",
        "rekognition:DeleteUser",
    ]
    assert stmt["Resource"] == [users.one("aws:rekognition/collection:Collection").outputs["arn"]]


def test_function_environment_and_role(run):
    env = env_of(run, "idx-function")
    assert env["HISTORY_TABLE"] == run.named("idx-history").outputs["name"]
    assert env["QUEUE_URL"] == run.named("idx-queue").outputs["url"]
    assert env["MAX_RECEIVE_COUNT"] == "5"
    assert env["MAX_IMAGE_BYTES"] == str(15 * 1024 * 1024)
    assert env["HISTORY_TTL_DAYS"] == "14"
    assert env["GATEWAY_TIMEOUT_SECONDS"] == "10"
    policy = run.named("idx-function-policy")
    queue_arn = run.named("idx-queue").outputs["arn"]
    table_arn = run.named("idx-history").outputs["arn"]
    assert statement(policy, "ConsumeQueue")["Resource"] == [queue_arn]
    assert statement(policy, "ImportHistory")["Resource"] == [table_arn, f"{table_arn}/index/*"]
    assert statement(policy, "ReadAndTagImages")["Resource"] == ["arn:aws:s3:::photos/*"]
    dlq = run.named("idx-queue-dlq")
    assert env["DLQ_URL"] == dlq.outputs["url"]
    assert statement(policy, "RequeueAndDeadLetter")["Resource"] == [queue_arn, dlq.outputs["arn"]]
    assert statement(policy, "ReadProperties")["Resource"] == ["arn:aws:s3:::photos/*"]
    assert statement(policy, "ListBuckets")["Resource"] == ["arn:aws:s3:::photos"]
    sids = {s["Sid"] for s in statements(policy)}
    assert not sids & {"ReadGatewayApiKey", "InvokeGatewayApi", "WriteQuarantine"}


def test_delete_events_reach_the_queue_through_one_queue_policy(run):
    rule = run.one("aws:cloudwatch/eventRule:EventRule")
    assert json.loads(rule.inputs["eventPattern"]) == {
        "source": ["aws.s3"],
        "detail-type": ["Object Deleted"],
        "detail": {"bucket": {"name": ["photos"]}},
    }
    target = run.one("aws:cloudwatch/eventTarget:EventTarget")
    assert target.inputs["arn"] == run.named("idx-queue").outputs["arn"]
    assert target.inputs["rule"] == rule.outputs["name"]
    policies = [p for p in run.of_type("aws:sqs/queuePolicy:QueuePolicy") if p.name == "idx-queue-policy"]
    assert len(policies) == 1
    grant = statement(policies[0], "AllowDeleteEventsRule")
    assert grant["Principal"] == {"Service": "events.amazonaws.com"}
    assert grant["Condition"]["ArnLike"] == {"aws:SourceArn": rule.outputs["arn"]}
    # the indexer does not take over the bucket's notification configuration unless told to
    assert not run.of_type("aws:s3/bucketNotification:BucketNotification")


def test_alarms_go_to_a_created_encrypted_topic(run):
    topic_arn = run.named("idx-alarms").outputs["arn"]
    alarms = run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    by_metric = {(a.inputs["namespace"], a.inputs["metricName"]): a for a in alarms}
    dlq = by_metric[("AWS/SQS", "ApproximateNumberOfMessagesVisible")]
    assert dlq.inputs["dimensions"] == {"QueueName": run.named("idx-queue-dlq").outputs["name"]}
    assert dlq.inputs["threshold"] == 0 and dlq.inputs["comparisonOperator"] == "GreaterThanThreshold"
    age = by_metric[("AWS/SQS", "ApproximateAgeOfOldestMessage")]
    assert age.inputs["dimensions"] == {"QueueName": run.named("idx-queue").outputs["name"]}
    errors = by_metric[("AWS/Lambda", "Errors")]
    assert errors.inputs["dimensions"] == {"FunctionName": run.named("idx-function").outputs["name"]}
    assert all(a.inputs["alarmActions"] == [topic_arn] for a in alarms)
    key = run.named("idx-alarms-key")
    assert statement(key, "AllowPublisherToEncrypt")["Principal"] == {"Service": "cloudwatch.amazonaws.com"}


def test_http_gateway_with_api_key_existing_bucket_options():
    run = build(
        gateway="http",
        gateway_url="https://userportal.example.com/api",
        gateway_auth="api-key",
        gateway_api_key_secret_arn=SECRET,
        quarantine_bucket="photo-quarantine",
        alarm_actions=("arn:aws:sns:eu-west-1:111122223333:ops",),
        max_concurrency=2,
        properties_bucket_arns=("arn:aws:s3:::props",),
    )
    assert not run.of_type("aws:rekognition/collection:Collection")
    env = env_of(run, "idx-function")
    assert env["GATEWAY"] == "http"
    assert env["GATEWAY_URL"] == "https://userportal.example.com/api"
    assert env["GATEWAY_AUTH"] == "api-key"
    assert env["GATEWAY_API_KEY_SECRET_ARN"] == SECRET
    assert (env["QUARANTINE_BUCKET"], env["QUARANTINE_PREFIX"]) == ("photo-quarantine", "quarantine/")
    assert "COLLECTION_ID" not in env
    policy = run.named("idx-function-policy")
    assert statement(policy, "ReadGatewayApiKey")["Resource"] == [SECRET]
    assert statement(policy, "WriteQuarantine")["Resource"] == ["arn:aws:s3:::photo-quarantine/quarantine/*"]
    assert statement(policy, "ReadProperties")["Resource"] == ["arn:aws:s3:::props/*"]
    sids = {s["Sid"] for s in statements(policy)}
    assert "FaceCollection" not in sids and "InvokeGatewayApi" not in sids
    assert not [t for t in run.of_type("aws:sns/topic:Topic")]
    assert all(
        a.inputs["alarmActions"] == ["arn:aws:sns:eu-west-1:111122223333:ops"]
        for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    )
    # the image bucket's notification configuration is its owner's (InventoryPipeline), never the indexer's
    assert not run.of_type("aws:s3/bucketNotification:BucketNotification")


def test_http_gateway_with_sigv4_and_existing_collection_variants():
    run = build(
        gateway="http", gateway_url="https://api.example.com", gateway_auth="sigv4", gateway_api_arn=API
    )
    assert statement(run.named("idx-function-policy"), "InvokeGatewayApi")["Resource"] == [API]
    run = build(collection_id="faces-prod", delete_events=False)
    assert not run.of_type("aws:rekognition/collection:Collection")
    assert env_of(run, "idx-function")["COLLECTION_ID"] == "faces-prod"
    stmt = statement(run.named("idx-function-policy"), "FaceCollection")
    assert stmt["Resource"] == [f"arn:aws:rekognition:{REGION}:{ACCOUNT}:collection/faces-prod"]
    assert not run.of_type("aws:cloudwatch/eventRule:EventRule")
    assert [s["Sid"] for s in statements(run.named("idx-queue-policy"))] == ["DenyInsecureTransport"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"gateway": "soap"}, "gateway"),
        ({"gateway": "http"}, "gatewayUrl"),
        ({"gateway_url": "https://x.example.com"}, "gatewayUrl"),
        ({"gateway": "http", "gateway_url": "https://x", "gateway_auth": "sigv4"}, "gatewayApiArn"),
        (
            {"gateway": "http", "gateway_url": "https://x", "gateway_auth": "api-key"},
            "gatewayApiKeySecretArn",
        ),
        ({"max_concurrency": 1}, "max_concurrency"),
        ({"batch_size": 11}, "batch_size"),
        ({"gateway_rate_per_second": {"http": 5.0}}, r"unknown API\(s\) \['http'\]; allowed: IndexFaces"),
        ({"gateway_rate_per_second": {"IndexFaces": 0.0}}, r"IndexFaces: must be between 0.01 and 10000"),
        ({"rekognition_mode": "vectors"}, "rekognition_mode"),
        ({"user_match_threshold": 100.5}, "user_match_threshold"),
        (
            {"gateway": "http", "gateway_url": "https://x", "rekognition_mode": "users"},
            "rekognitionMode/userMatchThreshold: only for gateway 'rekognition'",
        ),
    ],
)
def test_invalid_args_name_the_argument(change, message):
    with pytest.raises(ValueError, match=message):
        build(**change)
