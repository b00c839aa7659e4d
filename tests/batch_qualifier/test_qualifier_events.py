"""S3 Batch events of both schemas in, S3 Batch responses out; keys decoded exactly once."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import (
    S3BatchOperationResponseRecord,
)
from qualifier_fixtures import HOSTILE_KEYS, IMAGE_BUCKET, batch_event, batch_task, s3_encoded

from handlers.batch_qualifier.events import BadTask, EventError, build_response, parse_invocation
from handlers.common.contracts import encode_manifest_key


@pytest.mark.parametrize("schema_version", ["1.0", "2.0"])
@pytest.mark.parametrize("key", HOSTILE_KEYS)
@pytest.mark.parametrize("encode", [s3_encoded, encode_manifest_key], ids=["s3-plus", "manifest-percent"])
def test_hostile_keys_are_decoded_exactly_once(schema_version, key, encode):
    event = batch_event(
        [batch_task(encode(key), schema_version=schema_version)], schema_version=schema_version
    )
    (task,) = parse_invocation(event).tasks
    assert task.key == key
    assert task.bucket == IMAGE_BUCKET


def test_a_literal_percent_sequence_in_a_key_survives():
    # The key itself contains "%2B": encoded once it is "%252B"; decoding twice would give "+".
    key = "percent/%2B literal.jpeg"
    (task,) = parse_invocation(batch_event([batch_task(s3_encoded(key))])).tasks
    assert task.key == "percent/%2B literal.jpeg"


def test_schema_2_carries_run_id_mode_and_version():
    event = batch_event(
        [batch_task("a.png", version_id="v-123")],
        user_arguments={"runId": "inventory-2026-11-20", "mode": "reindex"},
    )
    invocation = parse_invocation(event)
    (task,) = invocation.tasks
    assert (invocation.run_id, invocation.job_id, task.run_id, task.job_id) == (
        "inventory-2026-11-20",
        "job-42",
        "inventory-2026-11-20",
        "job-42",
    )
    assert task.mode == "reindex"
    assert task.version_id == "v-123"


@pytest.mark.parametrize("schema_version", ["1.0", "2.0"])
def test_run_id_falls_back_to_the_job_id(schema_version):
    event = batch_event([batch_task("a.png", schema_version=schema_version)], schema_version=schema_version)
    if schema_version == "2.0":
        event["job"]["userArguments"] = {}
    invocation = parse_invocation(event)
    assert invocation.run_id == "job-42"
    assert invocation.tasks[0].mode == "import"


@pytest.mark.parametrize("raw_version", [None, "null", ""])
def test_absent_or_null_version_becomes_none(raw_version):
    (task,) = parse_invocation(batch_event([batch_task("a.png", version_id=raw_version)])).tasks
    assert task.version_id is None


def test_unknown_mode_fails_every_task_with_a_clear_reason():
    event = batch_event([batch_task("a.png")], user_arguments={"runId": "r", "mode": "purge"})
    (task,) = parse_invocation(event).tasks
    assert isinstance(task, BadTask)
    assert "mode must be import or reindex" in task.reason and "purge" in task.reason


def test_a_task_without_a_key_is_a_bad_task_not_an_exception():
    event = batch_event([{"taskId": "t-9", "s3Bucket": IMAGE_BUCKET}])
    (task,) = parse_invocation(event).tasks
    assert task == BadTask("t-9", "error:event: task lacks 's3Key'")


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"invocationSchemaVersion": "2.0", "invocationId": "i"},
        {"invocationSchemaVersion": "3.0", "invocationId": "i", "tasks": []},
    ],
)
def test_an_event_that_is_not_an_s3_batch_invocation_is_refused(event):
    with pytest.raises(EventError):
        parse_invocation(event)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("job", "f3cc4f60-61f6-4a2b-8a21-d07600c373ce", "'job' is a JSON str"),  # found by make fuzz
        ("job", ["id"], "'job' is a JSON list"),
        ("job", {"id": "j", "userArguments": "runId=r"}, "'job.userArguments' is a JSON str"),
    ],
)
def test_a_job_field_of_the_wrong_json_type_is_refused_naming_it(field, value, named):
    event = batch_event([batch_task("a.png")], schema_version="2.0")
    event[field] = value
    with pytest.raises(EventError, match=named):
        parse_invocation(event)


@pytest.mark.parametrize("schema_version", ["1.0", "2.0"])
def test_response_echoes_the_invocation_and_sets_treat_missing_keys_as(schema_version):
    invocation = parse_invocation(
        batch_event([batch_task("a.png", schema_version=schema_version)], schema_version=schema_version)
    )
    response = build_response(invocation, [S3BatchOperationResponseRecord("task-1", "Succeeded", "queued")])
    assert response == {
        "invocationSchemaVersion": schema_version,
        "invocationId": "inv-abc",
        "treatMissingKeysAs": "PermanentFailure",
        "results": [{"taskId": "task-1", "resultCode": "Succeeded", "resultString": "queued"}],
    }


def test_response_answers_every_task_when_there_are_several():
    invocation = parse_invocation(
        batch_event([batch_task("a.png", task_id="t1"), batch_task("b.png", task_id="t2")])
    )
    records = [
        S3BatchOperationResponseRecord("t1", "Succeeded", "queued"),
        S3BatchOperationResponseRecord("t2", "TemporaryFailure", "retry"),
    ]
    response = build_response(invocation, records)
    assert [r["taskId"] for r in response["results"]] == ["t1", "t2"]
    assert response["treatMissingKeysAs"] == "PermanentFailure"


def test_a_task_that_is_not_an_object_is_a_bad_task():
    (task,) = parse_invocation(batch_event(["a.png"])).tasks  # type: ignore[list-item]
    assert isinstance(task, BadTask)
    assert "not an object" in task.reason
