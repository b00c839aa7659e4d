"""The magic-byte check, missing objects, and what reaches the queue and the history."""

from __future__ import annotations

import pytest
from qualifier_fixtures import IMAGE_BUCKET, JPEG, PNG, make_task

from handlers.common.contracts import ObjectRef, parse_message


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"GIF89a" + bytes(32), "not a PNG or JPEG"),
        (b"%PDF-1.7\n", "not a PNG or JPEG"),
        (PNG[:7], "not a PNG or JPEG"),  # a truncated PNG signature
        (b"\xff\xd8", "not a PNG or JPEG"),
        (b"", "the object is empty"),
    ],
)
def test_an_image_suffix_on_something_else_is_invalid_format(env, body, detail):
    env.put_image("fake.png", body=body, tags={"UserId": "alice"})
    result = env.qualifier().qualify(make_task("fake.png"))
    assert result.result_code == "PermanentFailure"
    assert result.result_string.startswith("invalid:format"), result.result_string
    assert detail in result.result_string
    assert env.queued_messages() == []
    item = env.history_item("fake.png")
    assert (item["status"], item["user_id"]) == ("invalid", "alice")


@pytest.mark.parametrize("body", [PNG, JPEG, PNG[:8], JPEG[:3]])
def test_real_signatures_pass_even_when_the_object_is_tiny(env, body):
    env.put_image("ok.jpg", body=body, tags={"UserId": "alice"})
    assert env.qualifier().qualify(make_task("ok.jpg")).result_string == "queued"
    (message,) = env.queued_messages()
    assert message["object"]["size"] == len(body)


def test_only_sixteen_bytes_are_requested(env):
    seen = []
    env.s3.meta.events.register(
        "before-call.s3.GetObject", lambda params, **_: seen.append(params["headers"])
    )
    env.put_image("r.png", body=PNG + bytes(10_000), tags={"UserId": "a"})
    env.qualifier().qualify(make_task("r.png"))
    assert [headers.get("Range") for headers in seen] == ["bytes=0-15"]


def test_a_missing_object_fails_permanently_as_missing(env):
    result = env.qualifier().qualify(make_task("gone.png"))
    assert (result.result_code, result.outcome) == ("PermanentFailure", "missing")
    assert result.result_string.startswith("missing: s3:GetObjectTagging: NoSuchKey")


def test_a_missing_version_fails_permanently_as_missing(env):
    env.s3.put_bucket_versioning(Bucket=IMAGE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    env.put_image("v.png", tags={"UserId": "a"})
    result = env.qualifier().qualify(make_task("v.png", version_id="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"))
    assert (result.result_code, result.outcome) == ("PermanentFailure", "missing")
    assert "s3:GetObjectVersionTagging: NoSuchVersion" in result.result_string


def test_a_version_deleted_after_its_tags_were_read_names_the_version_action(env):
    env.s3.put_bucket_versioning(Bucket=IMAGE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    version = env.put_image("v.png", tags={"UserId": "a"})["VersionId"]
    env.s3.meta.events.register(
        "after-call.s3.GetObjectTagging",
        lambda **_: env.s3.delete_object(Bucket=IMAGE_BUCKET, Key="v.png", VersionId=version),
    )
    result = env.qualifier().qualify(make_task("v.png", version_id=version))
    assert (result.result_code, result.outcome) == ("PermanentFailure", "missing")
    assert "s3:GetObjectVersion: NoSuchVersion" in result.result_string


def test_an_object_deleted_between_tags_and_probe_is_missing(env):
    env.put_image("race.png", tags={"UserId": "a"})
    # Delete the object right after its tags were read: the probe finds nothing.
    env.s3.meta.events.register(
        "after-call.s3.GetObjectTagging",
        lambda **_: env.s3.delete_object(Bucket=IMAGE_BUCKET, Key="race.png"),
    )
    result = env.qualifier().qualify(make_task("race.png"))
    assert (result.result_code, result.outcome) == ("PermanentFailure", "missing")
    assert "s3:GetObject: NoSuchKey" in result.result_string


def test_queued_is_recorded_in_the_history_with_the_message_fields(env):
    env.put_image("h.png", tags={"UserId": "alice"})
    env.qualifier().qualify(make_task("h.png"))
    (body,) = env.queued_messages()
    item = env.history_item("h.png")
    assert item["status"] == "queued"
    assert (item["user_id"], item["run_id"], item["etag"]) == ("alice", "run-1", body["object"]["etag"])


def test_queueing_again_never_overwrites_an_indexed_record(env):
    env.put_image("done.png", tags={"UserId": "alice"})
    env.history.record_outcome(
        ObjectRef(bucket=IMAGE_BUCKET, key="done.png"), "indexed", "indexed", user_id="alice", run_id="run-0"
    )
    result = env.qualifier().qualify(make_task("done.png", mode="reindex"))
    assert result.result_string == "queued"
    assert env.history_item("done.png")["status"] == "indexed"


def test_characters_sqs_refuses_are_escaped_and_the_message_still_parses(env):
    key = "odd/\ufffe\uffff name.png"
    env.put_image(key, tags={"UserId": "alice"})
    result = env.qualifier().qualify(make_task(key))
    assert result.result_string == "queued", result.result_string
    # moto accepts any body; real SQS rejects U+FFFE / U+FFFF (InvalidMessageContents), so check the raw body.
    (raw,) = env.sqs.receive_message(QueueUrl=env.queue_url)["Messages"]
    assert "\ufffe" not in raw["Body"] and "\uffff" not in raw["Body"]
    assert "\\ufffe\\uffff" in raw["Body"]
    assert parse_message(raw["Body"]).object.key == key
