"""parse_event on AWS's own SNS and S3 notification samples (tests/events, see its
SOURCES.md): the envelopes as published, only bucket and key naming an inventory manifest."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest

from handlers.inventory_created.errors import EventError
from handlers.inventory_created.events import Ignored, ManifestLocation, parse_event

REALDATA = Path(__file__).resolve().parents[1] / "events"  # tests/events: the corpus of real AWS samples
SNS_ENVELOPES = ["sns/powertools.snsEvent.json", "sns/aws-lambda-go.sns-event.json"]
S3_NOTIFICATIONS = [
    "s3-notification/awsdocs.object-created-put.json",
    "s3-notification/powertools.s3Event.json",
    "s3-notification/aws-lambda-go.s3-event.json",
]
FOLDER = "inventories/image bucket/daily+all/2026-11-30T01-00Z/"


def _sample(name: str) -> dict[str, Any]:
    return json.loads((REALDATA / name).read_text())


def _notification(name: str, key: str, bucket: str = "inventory-bucket") -> dict[str, Any]:
    """The sample S3 notification, its object named as S3 encodes keys (`+` for space)."""
    event = _sample(name)
    for record in event["Records"]:
        record["s3"]["bucket"]["name"] = bucket
        record["s3"]["object"]["key"] = quote_plus(key, safe="/")
    return event


def _in_sns(envelope: str, message: dict[str, Any] | str) -> dict[str, Any]:
    event = _sample(envelope)
    event["Records"][0]["Sns"]["Message"] = message if isinstance(message, str) else json.dumps(message)
    return event


@pytest.mark.parametrize("envelope", SNS_ENVELOPES)
@pytest.mark.parametrize("notification", S3_NOTIFICATIONS)
def test_a_real_sns_envelope_of_a_real_s3_notification_names_the_manifest(envelope, notification):
    event = _in_sns(envelope, _notification(notification, FOLDER + "manifest.checksum"))
    assert parse_event(event) == [
        ManifestLocation("inventory-bucket", FOLDER + "manifest.json", FOLDER + "manifest.checksum")
    ]


@pytest.mark.parametrize("notification", S3_NOTIFICATIONS)
def test_a_real_direct_s3_notification_names_the_manifest(notification):
    event = _notification(notification, FOLDER + "manifest.json")
    assert parse_event(event) == [ManifestLocation("inventory-bucket", FOLDER + "manifest.json", None)]


@pytest.mark.parametrize("envelope", SNS_ENVELOPES)
def test_the_real_s3_test_event_is_ignored_inside_sns_and_direct(envelope):
    test_event = _sample("s3-notification/awsdocs.test-event.json")
    assert parse_event(_in_sns(envelope, test_event)) == [Ignored("s3:TestEvent for bucket 'bucketname'")]
    assert parse_event(test_event) == [Ignored("s3:TestEvent for bucket 'bucketname'")]


@pytest.mark.parametrize("envelope", SNS_ENVELOPES)
def test_the_real_sns_sample_message_is_refused_as_not_json(envelope):
    # The samples carry "Hello from SNS!", which is no S3 notification.
    with pytest.raises(EventError, match="SNS message is not JSON"):
        parse_event(_sample(envelope))


def test_a_percent_encoded_space_is_decoded_too():
    # aws-lambda-go's sample writes the space as %20 (Happy%20Face.jpg); both encodings decode once.
    event = _sample("s3-notification/aws-lambda-go.s3-event.json")
    event["Records"][0]["s3"]["object"]["key"] = "a%20b/%252B/manifest.json"
    (location,) = parse_event(event)
    assert location.manifest_key == "a b/%2B/manifest.json"


@pytest.mark.parametrize("event_name", ["ObjectRemoved:Delete", "ObjectRemoved:DeleteMarkerCreated"])
def test_a_removed_manifest_is_no_new_inventory(event_name):
    event = _notification("s3-notification/awsdocs.object-created-put.json", FOLDER + "manifest.checksum")
    event["Records"][0]["eventName"] = event_name
    assert parse_event(event) == [Ignored(f"S3 event {event_name} is not an object creation")]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["s3"]["object"].update(key="%FF%FE/manifest.json"), "does not decode to UTF-8"),
        (lambda r: r["s3"]["object"].update(key=""), "empty or non-string"),
        (lambda r: r["s3"]["object"].update(key=42), "empty or non-string"),
        (lambda r: r["s3"]["bucket"].update(name=""), "empty or non-string"),
        (lambda r: r["s3"].pop("object"), "lacks s3.bucket.name or s3.object.key"),
        (lambda r: r.update(s3="nope"), "lacks s3.bucket.name or s3.object.key"),
    ],
)
def test_a_broken_real_notification_says_what_is_wrong(change, message):
    event = _notification("s3-notification/awsdocs.object-created-put.json", FOLDER + "manifest.json")
    change(event["Records"][0])
    with pytest.raises(EventError, match=message):
        parse_event(event)
    with pytest.raises(EventError, match=message):
        parse_event(_in_sns(SNS_ENVELOPES[0], event))


def test_an_sns_message_holding_non_object_records_is_refused():
    with pytest.raises(EventError, match="every event record must be a JSON object"):
        parse_event(_in_sns(SNS_ENVELOPES[0], {"Records": ["x"]}))


def test_the_samples_are_not_changed_by_parsing():
    event = _in_sns(SNS_ENVELOPES[0], _notification(S3_NOTIFICATIONS[0], FOLDER + "manifest.checksum"))
    before = copy.deepcopy(event)
    parse_event(event)
    assert event == before
