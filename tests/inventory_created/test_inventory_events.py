"""parse_event: every accepted invocation shape, and clear errors for the rest."""

from __future__ import annotations

import json

import pytest

from handlers.inventory_created.errors import EventError
from handlers.inventory_created.events import (
    ConvertTask,
    DispatchTask,
    Ignored,
    ManifestLocation,
    ManifestPayload,
    parse_event,
)


def _sns(message: dict) -> dict:
    return {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(message)}}]}


def _s3_event(key: str) -> dict:
    return {"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name": "inv"}, "object": {"key": key}}}]}


def test_sns_wrapped_checksum_event_names_the_manifest_and_its_checksum():
    event = _sns(_s3_event("inventories/src/daily/2024-05-02T01-00Z/manifest.checksum"))
    assert parse_event(event) == [
        ManifestLocation(
            "inv",
            "inventories/src/daily/2024-05-02T01-00Z/manifest.json",
            "inventories/src/daily/2024-05-02T01-00Z/manifest.checksum",
        )
    ]


def test_event_keys_are_url_decoded_once():
    assert parse_event(_sns(_s3_event("a+dir/%2B/manifest.json")))[0].manifest_key == "a dir/+/manifest.json"


def test_s3_test_event_is_ignored():
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "inv"}
    assert parse_event(_sns(test_event)) == [Ignored("s3:TestEvent for bucket 'inv'")]
    assert parse_event(test_event) == [Ignored("s3:TestEvent for bucket 'inv'")]


def test_direct_invocations():
    assert parse_event({"bucket": "inv", "key": "x/manifest.json"}) == [
        ManifestLocation("inv", "x/manifest.json", None)
    ]
    assert parse_event({"bucket": "inv", "key": "x/manifest.checksum", "mode": "reindex"}) == [
        ManifestLocation("inv", "x/manifest.json", "x/manifest.checksum", "reindex")
    ]
    payload = {"destinationBucket": "inv", "fileFormat": "CSV", "files": [{"key": "d.csv.gz"}]}
    assert parse_event(payload) == [ManifestPayload(payload)]


def test_fan_out_task():
    task = {
        "action": "convert",
        "manifest": {},
        "inventoryId": "d",
        "sourceBucket": "s",
        "part": 0,
        "parts": 2,
    }
    assert isinstance(parse_event(task)[0], ConvertTask)
    with pytest.raises(EventError, match=r"invalid fan-out task: parts: Field required"):
        parse_event({k: v for k, v in task.items() if k != "parts"})
    rest = {"action": "dispatch", "bucket": "inv", "manifestKey": "x/manifest.json", "start": 1000}
    assert parse_event(rest) == [DispatchTask(bucket="inv", manifestKey="x/manifest.json", start=1000)]
    with pytest.raises(
        EventError, match=r"invalid fan-out task: start: Input should be greater than or equal to 1"
    ):
        parse_event({**rest, "start": 0})


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([], "event must be a JSON object"),
        ({"hello": 1}, "unrecognised event"),
        ({"bucket": "inv"}, "needs both 'bucket' and 'key'"),
        ({"bucket": "inv", "key": "data/file.csv.gz"}, "is not an inventory manifest"),
        (
            {"bucket": "inv", "key": "x/manifest.json", "mode": "delete"},
            "mode must be one of import, reindex",
        ),
        ({"Records": [{"Sns": {"Message": "not json"}}]}, "SNS message is not JSON"),
        ({"Records": [{"Sns": {"Message": "{}"}}]}, "not an S3 event notification"),
        ({"Records": [{"eventSource": "aws:s3", "s3": {}}]}, "lacks s3.bucket.name or s3.object.key"),
        ({"Records": [{"eventSource": "aws:sqs"}]}, "neither SNS nor S3"),
    ],
)
def test_bad_events_say_what_is_wrong(event, message):
    with pytest.raises(EventError, match=message):
        parse_event(event)
