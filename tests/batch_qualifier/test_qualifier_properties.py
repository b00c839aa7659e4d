"""Properties referenced from a tag: validation, the 400 KB user record, inline vs by-reference messages."""

from __future__ import annotations

import json

import pytest
from qualifier_fixtures import make_task

from handlers.common.contracts import SQS_MAX_MESSAGE_BYTES, USER_RECORD_MAX_BYTES, parse_message


def _qualify(env, properties_content, user_id="alice"):
    uri = env.put_properties("props/alice.json", properties_content)
    env.put_image("p.png", tags={"UserId": user_id, "Properties": uri})
    return env.qualifier().qualify(make_task("p.png")), uri


def test_small_properties_travel_inline(env):
    result, _ = _qualify(env, {"name": "Alice Ünïcödé", "dept": 'R&D, "ops"'})
    assert result.result_string == "queued"
    (body,) = env.queued_messages()
    assert body["properties"] == {"name": "Alice Ünïcödé", "dept": 'R&D, "ops"'}
    assert "properties_ref" not in body


def test_large_properties_travel_by_reference(env):
    # ~300 KB of multi-byte characters: fits the 400 KB user record, not the 256 KiB queue message.
    big = {"bio": "é" * 150_000}
    result, uri = _qualify(env, big)
    assert result.result_string == "queued", result.result_string
    (body,) = env.queued_messages()
    assert "properties" not in body
    assert body["properties_ref"] == uri
    message = parse_message(json.dumps(body))
    assert message.properties_ref == uri
    item = env.history_item("p.png")
    assert item["status"] == "queued" and item["properties_ref"] == uri


def test_inline_limit_counts_utf8_bytes_not_characters(env):
    # 100k three-byte characters: 100k characters (would fit) but 300 KB of UTF-8 (does not).
    result, uri = _qualify(env, {"bio": "写" * 100_000})
    assert result.result_string == "queued"
    (body,) = env.queued_messages()
    assert body.get("properties_ref") == uri


def test_properties_just_under_the_queue_limit_stay_inline(env):
    result, _ = _qualify(env, {"bio": "a" * (SQS_MAX_MESSAGE_BYTES - 2_000)})
    assert result.result_string == "queued"
    (body,) = env.queued_messages()
    assert "properties" in body


def test_a_user_record_over_400_kb_is_invalid(env):
    result, _ = _qualify(env, {"bio": "a" * USER_RECORD_MAX_BYTES})
    assert result.result_code == "PermanentFailure"
    assert result.result_string.startswith("invalid:user-record-too-large")
    assert env.queued_messages() == []


def test_the_user_id_counts_toward_the_400_kb_record(env):
    # The properties object alone fits; with the user id and JSON framing the record does not.
    content = {"bio": "a" * (USER_RECORD_MAX_BYTES - 40)}
    result, _ = _qualify(env, content, user_id="u" * 128)
    assert result.result_string.startswith("invalid:user-record-too-large"), result.result_string


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"not json", "is not JSON"),
        (b"\xff\xfe{}", "is not UTF-8"),
        (b'["a", "b"]', "is a JSON array, not an object"),
        (b'{"age": 42}', "value of 'age' is a JSON number, not a string"),
        (b'{"tags": ["a"]}', "value of 'tags' is a JSON array"),
        (b'{"x": null}', "value of 'x' is a JSON null"),
        (b'{"a": "1", "a": "2"}', "duplicate key 'a'"),
    ],
)
def test_properties_that_are_not_a_json_object_of_strings_are_invalid(env, content, fragment):
    result, _ = _qualify(env, content)
    assert result.result_code == "PermanentFailure"
    assert result.result_string.startswith("invalid:properties-json")
    assert fragment in result.result_string, result.result_string


def test_escaped_json_is_measured_as_the_record_not_as_the_file(env):
    # \u00e9 escapes make the file 6 bytes per character; the record is 2 bytes per character (~200 KB).
    content = json.dumps({"bio": "é" * 100_000}, ensure_ascii=True).encode()
    assert len(content) > USER_RECORD_MAX_BYTES
    result, _ = _qualify(env, content)
    assert result.result_string == "queued", result.result_string


def test_a_huge_properties_file_is_not_downloaded_whole(env):
    from handlers.batch_qualifier.properties import PROPERTIES_OBJECT_MAX_BYTES

    result, _ = _qualify(env, b'{"bio": "' + b"a" * PROPERTIES_OBJECT_MAX_BYTES + b'"}')
    assert result.result_code == "PermanentFailure"
    assert result.result_string.startswith("invalid:properties-too-large")


def test_the_read_stops_at_the_bound_even_without_a_content_length():
    import io

    import boto3
    from botocore.response import StreamingBody
    from botocore.stub import Stubber

    from handlers.batch_qualifier.properties import PropertiesLoader
    from handlers.batch_qualifier.registration import InvalidRegistration

    class CountingStream(io.BytesIO):
        delivered = 0

        def read(self, size=-1):
            data = super().read(size)
            CountingStream.delivered += len(data)
            return data

    stream = CountingStream(b'{"bio": "' + b"a" * 1_000_000 + b'"}')
    s3 = boto3.client("s3", region_name="us-east-1")
    with Stubber(s3) as stubber:
        stubber.add_response("get_object", {"Body": StreamingBody(stream, None)})
        with pytest.raises(InvalidRegistration, match="is over 100000 bytes"):
            PropertiesLoader(s3, max_bytes=100_000).load("s3://props-bucket/p.json")
    # One chunk past the bound at most, never the whole object.
    assert CountingStream.delivered <= 100_000 + 64 * 1024
    assert stream.closed
