"""The default provider's tag contract, end to end through the Qualifier against moto."""

from __future__ import annotations

import pytest
from qualifier_fixtures import HOSTILE_KEYS, IMAGE_BUCKET, JPEG, make_task

from handlers.common.contracts import parse_message


def test_a_tagged_png_is_queued_with_etag_size_and_run(env):
    put = env.put_image("users/alice.png", tags={"UserId": "alice"})
    result = env.qualifier().qualify(make_task("users/alice.png"))
    assert (result.result_code, result.result_string) == ("Succeeded", "queued")
    (body,) = env.queued_messages()
    message = parse_message(__import__("json").dumps(body))
    assert message.type == "import"
    assert message.user_id == "alice"
    assert message.object.bucket == IMAGE_BUCKET
    assert message.object.key == "users/alice.png"
    assert message.object.etag == put["ETag"].strip('"')
    assert (
        message.object.size == env.s3.head_object(Bucket=IMAGE_BUCKET, Key="users/alice.png")["ContentLength"]
    )
    assert (message.run_id, message.job_id, message.task_id, message.mode) == (
        "run-1",
        "job-1",
        "task-1",
        "import",
    )
    assert message.properties is None and message.properties_ref is None


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_keys_are_read_and_queued_under_their_real_name(env, key):
    env.put_image(key, body=JPEG, tags={"UserId": "user+1 é"})
    result = env.qualifier().qualify(make_task(key))
    assert result.result_code == "Succeeded", result.result_string
    (body,) = env.queued_messages()
    assert body["object"]["key"] == key
    assert body["user_id"] == "user+1 é"


def test_tags_are_read_once_and_the_image_probed_once(env):
    env.put_image("a.png", tags={"UserId": "alice"})
    env.clients.calls.clear()
    env.qualifier().qualify(make_task("a.png"))
    assert env.clients.calls.get("GetObjectTagging") == 1
    assert env.clients.calls.get("GetObject") == 1


def test_a_versioned_object_is_qualified_as_that_version(env):
    env.s3.put_bucket_versioning(Bucket=IMAGE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    old = env.put_image("v.png", tags={"UserId": "old-owner"})
    env.put_image("v.png", body=b"not an image at all", tags={"UserId": "new-owner"})
    result = env.qualifier().qualify(make_task("v.png", version_id=old["VersionId"]))
    assert result.result_string == "queued"
    (body,) = env.queued_messages()
    assert body["user_id"] == "old-owner"
    assert body["object"]["version_id"] == old["VersionId"]
    assert body["object"]["etag"] == old["ETag"].strip('"')


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"UserId": "a", "Ignore": "True"}, "skipped:ignored"),
        ({"UserId": "a", "Ignore": "tRuE", "Indexed": "False"}, "skipped:ignored"),
        ({"UserId": "a", "Indexed": "TRUE"}, "skipped:indexed"),
        ({"Ignore": "true"}, "skipped:ignored"),
    ],
)
def test_ignored_and_indexed_objects_succeed_as_skipped_without_queueing(env, tags, expected):
    env.put_image("s.png", tags=tags)
    result = env.qualifier().qualify(make_task("s.png"))
    assert (result.result_code, result.result_string, result.outcome) == ("Succeeded", expected, "skipped")
    assert env.queued_messages() == []
    assert env.history_item("s.png") is None


def test_reindex_mode_ignores_indexed_but_not_ignore(env):
    env.put_image("r.png", tags={"UserId": "a", "Indexed": "True"})
    env.put_image("i.png", tags={"UserId": "a", "Indexed": "True", "Ignore": "True"})
    qualifier = env.qualifier()
    assert qualifier.qualify(make_task("r.png", mode="reindex")).result_string == "queued"
    assert qualifier.qualify(make_task("i.png", mode="reindex")).result_string == "skipped:ignored"
    (body,) = env.queued_messages()
    assert body["mode"] == "reindex"


@pytest.mark.parametrize("key", ["notes.txt", "photo.gif", "noext", "image.png.bak"])
def test_a_key_without_an_image_suffix_is_skipped_without_any_call(env, key):
    env.clients.calls.clear()
    result = env.qualifier().qualify(make_task(key))
    assert (result.result_code, result.result_string) == ("Succeeded", "skipped:suffix")
    assert env.clients.calls == {}


def test_suffixes_match_in_any_case(env):
    env.put_image("UPPER.JPEG", body=JPEG, tags={"UserId": "a"})
    assert env.qualifier().qualify(make_task("UPPER.JPEG")).result_string == "queued"


@pytest.mark.parametrize(
    ("tags", "reason"),
    [
        ({}, "invalid:user-id-missing"),
        ({"UserId": ""}, "invalid:user-id-missing"),
        ({"UserId": "x" * 129}, "invalid:user-id: UserId has 129 characters"),
        ({"Indexed": "False", "Ignore": "False"}, "invalid:user-id-missing"),
        ({"UserId": "a", "Ignore": "yes"}, "invalid:tag-ignore: Ignore must be True or False"),
        ({"UserId": "a", "Indexed": "1"}, "invalid:tag-indexed: Indexed must be True or False"),
        ({"UserId": "a", "Properties": "https://example.com/p.json"}, "invalid:properties-uri"),
        ({"UserId": "a", "Properties": "s3://Bad_Bucket/p.json"}, "invalid:properties-uri"),
        ({"UserId": "a", "Properties": "s3://qualifier-properties/"}, "invalid:properties-uri"),
        (
            {"UserId": "a", "Properties": "s3://qualifier-properties/absent.json"},
            "invalid:properties-missing",
        ),
        ({"UserId": "a", "Properties": "s3://no-such-bucket-here/p.json"}, "invalid:properties-missing"),
    ],
)
def test_invalid_tags_fail_permanently_and_are_recorded(env, tags, reason):
    env.put_image("bad.png", tags=tags)
    result = env.qualifier().qualify(make_task("bad.png"))
    assert result.result_code == "PermanentFailure"
    assert result.result_string.startswith(reason), result.result_string
    assert env.queued_messages() == []
    item = env.history_item("bad.png")
    assert item["status"] == "invalid"
    assert item["reason"] == result.result_string
    assert item["run_id"] == "run-1"


def test_a_user_id_with_a_control_character_is_invalid(env):
    # S3 tag values cannot carry control characters, so this goes through a provider that returns one.
    from handlers.batch_qualifier.registration import InvalidRegistration, validate_user_id

    with pytest.raises(InvalidRegistration, match=r"control character U\+0007 at 2"):
        validate_user_id("ab\x07c")
    assert validate_user_id("x" * 128) == "x" * 128


def test_no_history_table_means_no_history_writes(env):
    env.put_image("bad.png", tags={})
    env.clients.calls.clear()
    result = env.qualifier(history=False).qualify(make_task("bad.png"))
    assert result.result_code == "PermanentFailure"
    assert env.history_item("bad.png") is None
