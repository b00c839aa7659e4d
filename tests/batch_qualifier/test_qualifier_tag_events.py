"""Tag changes as events (issue 15): S3's EventBridge "Object Tags Added" / "Object Tags Deleted" re-qualify
the object's current version with the inventory path's Qualifier, through the tag-events queue."""

from __future__ import annotations

import importlib
import json
import sys

import pytest
from qualifier_fixtures import HISTORY_TABLE, IMAGE_BUCKET, s3_encoded

from handlers.batch_qualifier.tag_events import TagEventError, TagEventQualifier, parse_tag_event
from handlers.common import aws as common_aws
from tests.lambda_context import context_factory

APP = "handlers.batch_qualifier.app"
FakeContext = context_factory("batch-qualifier")


def tag_event(key: str, *, version_id: str | None = None, detail_type: str = "Object Tags Added") -> dict:
    """Shaped like AWS's example (S3 User Guide, "EventBridge event message structure"): no size/sequencer."""
    obj = {"key": key, "etag": "ef71823e383fd23ea6533c8155cd0129"}
    if version_id:
        obj["version-id"] = version_id
    return {
        "version": "0",
        "id": "ceff8539-647a-386e-0251-cb098dfd0422",
        "detail-type": detail_type,
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-12-01T02:32:07Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{IMAGE_BUCKET}"],
        "detail": {
            "version": "0",
            "bucket": {"name": IMAGE_BUCKET},
            "object": obj,
            "request-id": "C9HBRQFZ0DTZYN4F",
            "requester": "123456789012",
            "source-ip-address": "127.0.0.1",
        },
    }


def _requalify(env, event: dict):
    return TagEventQualifier(env.qualifier(), env.s3).requalify(parse_tag_event(json.dumps(event)))


def _versioned(env) -> None:
    env.s3.put_bucket_versioning(Bucket=IMAGE_BUCKET, VersioningConfiguration={"Status": "Enabled"})


def test_user_id_added_to_a_skipped_image_queues_it_like_an_inventory_row(env):
    _versioned(env)
    version = env.put_image("later/tagged.png", tags={"UserId": "alice"})["VersionId"]
    result = _requalify(env, tag_event("later/tagged.png", version_id=version))
    assert (result.result_code, result.result_string) == ("Succeeded", "queued")
    (message,) = env.queued_messages()
    assert message["object"]["key"] == "later/tagged.png" and message["object"]["version_id"] == version
    assert (message["user_id"], message["run_id"], message["mode"]) == (
        "alice",
        "tag-events/2026-12-01",
        "import",
    )
    assert message["job_id"] == "tag-event:ceff8539-647a-386e-0251-cb098dfd0422"
    assert env.history_item("later/tagged.png", version)["status"] == "queued"


def test_the_indexers_own_indexed_tag_never_imports_again(env):
    env.put_image("done.png", tags={"UserId": "bob", "Indexed": "True"})
    result = _requalify(env, tag_event("done.png"))
    assert (result.result_code, result.result_string) == ("Succeeded", "skipped:indexed")
    assert env.queued_messages() == []


def test_ignore_added_to_an_indexed_image_is_a_skip(env):
    # ARCHITECTURE / docs give Ignore=True no deregistering meaning: the same answer as an inventory row.
    env.put_image("ignored.png", tags={"UserId": "bob", "Indexed": "True", "Ignore": "true"})
    assert _requalify(env, tag_event("ignored.png")).result_string == "skipped:ignored"
    assert env.queued_messages() == []


def test_tags_deleted_leave_an_invalid_registration(env):
    env.put_image("untagged.png")
    result = _requalify(env, tag_event("untagged.png", detail_type="Object Tags Deleted"))
    assert (result.result_code, result.outcome) == ("PermanentFailure", "invalid")
    assert result.result_string.startswith("invalid:user-id-missing")
    assert env.history_item("untagged.png")["status"] == "invalid"


def test_only_the_current_version_is_requalified(env):
    _versioned(env)
    old = env.put_image("v.png", tags={"UserId": "carol"})["VersionId"]
    env.put_image("v.png", tags={"UserId": "carol"})
    assert _requalify(env, tag_event("v.png", version_id=old)).result_string == "skipped:not-latest"
    assert env.queued_messages() == []


def test_an_object_gone_since_the_event_is_skipped(env):
    assert _requalify(env, tag_event("never/there.png")).result_string == "skipped:gone"


@pytest.mark.parametrize("key", ["with space/a b.jpg", "plus+sign/a+b.png", "unicode/Zoë 写真.png"])
def test_either_reading_of_the_event_key_finds_the_object(env, key):
    env.put_image(key, tags={"UserId": "dave"})
    for given in (key, s3_encoded(key)):
        assert _requalify(env, tag_event(given)).result_string == "queued"
    assert [m["object"]["key"] for m in env.queued_messages()] == [key, key]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "tag-events message is not JSON"),
        ("[]", "is a JSON list, not an EventBridge event"),
        (json.dumps(tag_event("a.png", detail_type="Object Deleted")), "not an S3 tag event"),
        (
            json.dumps({**tag_event("a.png"), "detail": {"bucket": {"name": IMAGE_BUCKET}}}),
            "lacks detail field",
        ),
    ],
)
def test_other_messages_say_what_is_wrong(body, message):
    with pytest.raises(TagEventError, match=message):
        parse_tag_event(body)


def _sqs_event(*bodies: str) -> dict:
    return {
        "Records": [
            {
                "messageId": f"m-{n}",
                "receiptHandle": f"r-{n}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:tag-events",
                "awsRegion": "us-east-1",
            }
            for n, body in enumerate(bodies)
        ]
    }


def test_the_handler_takes_queue_batches_and_reports_only_the_failed_message(monkeypatch, env, capsys):
    monkeypatch.setenv("QUEUE_URL", env.queue_url)
    monkeypatch.setenv("HISTORY_TABLE", HISTORY_TABLE)
    common_aws.client.cache_clear()
    sys.modules.pop(APP, None)
    try:
        app = importlib.import_module(APP)
        env.put_image("a.png", tags={"UserId": "erin"})
        env.put_image("b.png", tags={"UserId": "erin", "Indexed": "True"})
        event = _sqs_event(json.dumps(tag_event("a.png")), "garbage", json.dumps(tag_event("b.png")))
        assert app.handler(event, FakeContext()) == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    finally:
        sys.modules.pop(APP, None)
        common_aws.client.cache_clear()
    assert [m["object"]["key"] for m in env.queued_messages()] == ["a.png"]
    out = capsys.readouterr().out
    assert '"TagEventQueued"' in out and '"TagEventSkipped"' in out


def test_providers_say_whether_incremental_runs_can_miss_their_changes(env):
    from handlers.batch_qualifier.provider_loader import load_provider_class
    from handlers.batch_qualifier.registration import needs_full_rescans

    tags = load_provider_class("s3-tags")(clients=env.clients)
    mapping = load_provider_class("dynamodb-mapping")(clients=env.clients, table_name="owners")
    assert (needs_full_rescans(tags), needs_full_rescans(mapping)) == (False, True)

    class Silent:  # a custom provider that does not say: its source is not assumed to announce changes
        def get_registration_data(self, task): ...

    class Wrong(Silent):
        needs_full_rescans = "no"

    assert needs_full_rescans(Silent()) is True
    with pytest.raises(TypeError, match=r"Wrong\.needs_full_rescans must be True or False, not 'no'"):
        needs_full_rescans(Wrong())
