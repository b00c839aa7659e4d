"""EventBridge "Object Deleted" keys under both readings (as given, URL-decoded once), and sequencers of
different lengths and cases on every path that orders events (deleter, importer's stale check, emulator).

AWS's EventBridge pages do not say whether `detail.object.key` is URL-encoded (Powertools decodes it): a face
must be deregistered whichever reading is right.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from indexer_fixtures import IMAGE_BUCKET, first_attempt, import_message, jpeg_bytes, put_image

from handlers.common.contracts import (
    DeleteMessage,
    MessageError,
    delete_message_from_eventbridge,
    dump_message,
    parse_message,
)
from handlers.common.history import pad_sequencer
from offline.aws.events.sequencers import S3Sequencers

REAL_EVENTS = Path(__file__).resolve().parents[1] / "events"  # tests/events: the corpus of real AWS samples
HOSTILE_KEYS = [
    "photos/a b.jpg",
    "photos/a+b.jpg",
    "photos/100%.jpg",
    "photos/a%2Bb.jpg",
    "photos/Zoë ü+1 日本.jpg",
    "photos/a b+c%20d.jpg",
]


def _event(key: str, *, sequencer: str | None = "0062E99A88DC407460", version: str | None = None) -> dict:
    """An EventBridge "Object Deleted" event in the shape of AWS's sample (ev-events.object-deleted.json)."""
    sample = json.loads((REAL_EVENTS / "eventbridge/awsdocs.object-deleted.json").read_text())
    sample["id"] = "ev-1"
    sample["detail"]["bucket"]["name"] = IMAGE_BUCKET
    obj = {"key": key}
    if sequencer is not None:
        obj["sequencer"] = sequencer
    if version is not None:
        obj["version-id"] = version
    sample["detail"]["object"] = obj
    return sample


def _as_sent(key: str, encoding: str) -> str:
    return key if encoding == "raw" else quote_plus(key, safe="/")


# ---------------------------------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    "sample",
    ["eventbridge/awsdocs.object-deleted.json", "eventbridge/powertools.object-deleted.json"],
)
def test_real_samples_parse(sample):
    event = json.loads((REAL_EVENTS / sample).read_text())
    message = parse_message(json.dumps(event))
    assert isinstance(message, DeleteMessage)
    assert message.object.key == event["detail"]["object"]["key"] and message.decoded_key is None
    assert message.object.sequencer == event["detail"]["object"]["sequencer"]
    assert message.object.version_id == event["detail"]["object"].get("version-id")
    assert message.event_id == event["id"]


@pytest.mark.parametrize(
    ("given", "readings"),
    [
        ("photos/a b.jpg", ("photos/a b.jpg",)),
        ("photos/a+b.jpg", ("photos/a+b.jpg", "photos/a b.jpg")),
        ("photos/100%.jpg", ("photos/100%.jpg",)),  # not an escape: one reading
        ("photos/a%2Bb.jpg", ("photos/a%2Bb.jpg", "photos/a+b.jpg")),
        ("photos/a%252Bb.jpg", ("photos/a%252Bb.jpg", "photos/a%2Bb.jpg")),  # decoded once, not twice
        ("photos/Zo%C3%AB.jpg", ("photos/Zo%C3%AB.jpg", "photos/Zoë.jpg")),
        ("photos/Zoë.jpg", ("photos/Zoë.jpg",)),
        ("photos/%FF.jpg", ("photos/%FF.jpg",)),  # decodes to no UTF-8: not a key
    ],
)
def test_both_readings_of_the_key_are_kept(given, readings):
    message = delete_message_from_eventbridge(_event(given))
    assert message.key_readings() == readings
    assert message.object.key == given
    again = parse_message(dump_message(message))  # our own queue message keeps both
    assert again.key_readings() == readings


def test_a_reading_that_cannot_be_an_s3_key_is_dropped():
    decoded = "ë" * 400  # 800 bytes of UTF-8: a valid key; its encoded form is 2400 characters
    message = delete_message_from_eventbridge(_event(quote_plus(decoded)))
    assert message.key_readings() == (decoded,)
    with pytest.raises(MessageError, match="not an S3 key under either reading"):
        delete_message_from_eventbridge(_event("x" * 1025))


def test_malformed_events_say_what_is_wrong():
    event = _event("a.jpg")
    del event["detail"]["object"]["key"]
    with pytest.raises(MessageError, match="lacks 'key'"):
        parse_message(json.dumps(event))
    event = _event("a.jpg")
    event["detail"]["object"]["key"] = 7
    with pytest.raises(MessageError, match=r"detail\.object\.key is not a string"):
        parse_message(json.dumps(event))
    event = _event("a.jpg")
    event["detail-type"] = "Object Created"
    with pytest.raises(MessageError, match="expected 'Object Deleted'"):
        parse_message(json.dumps(event))


# ---------------------------------------------------------------------------------------------- deleter
@pytest.mark.parametrize("encoding", ["raw", "quote_plus"])
@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_a_deleted_key_loses_its_face_under_either_encoding(
    s3, history, importer, deleter, face_index, key, encoding
):
    obj = put_image(s3, key, jpeg_bytes(key))
    assert importer.process(import_message(obj), first_attempt()).label == "indexed"
    marker = s3.delete_object(Bucket=IMAGE_BUCKET, Key=key)["VersionId"]
    message = parse_message(json.dumps(_event(_as_sent(key, encoding), version=marker)))
    assert deleter.process(message).label == "deleted"
    assert face_index.faces == {}
    record = history.get(obj)
    assert record.status == "deleted" and record.reason == "deregistered"
    if len(message.key_readings()) == 1:
        assert "delete_key_reading" not in record.raw
    else:
        assert record.raw["delete_key_reading"] == ("as-given" if encoding == "raw" else "decoded")
    assert history.newest_delete_sequencer(IMAGE_BUCKET, key) == pad_sequencer("0062E99A88DC407460")


@pytest.mark.parametrize(("deleted", "kept"), [("a b.jpg", "a+b.jpg"), ("a+b.jpg", "a b.jpg")])
def test_when_both_readings_have_records_only_the_deleted_one_goes(
    s3, history, importer, deleter, face_index, deleted, kept
):
    for key in (deleted, kept):
        importer.process(import_message(put_image(s3, key, jpeg_bytes(key))), first_attempt())
    s3.delete_object(Bucket=IMAGE_BUCKET, Key=deleted)
    # "a+b.jpg" reads as itself or as "a b.jpg": either object may be the deleted one.
    message = parse_message(json.dumps(_event("a+b.jpg")))
    assert message.key_readings() == ("a+b.jpg", "a b.jpg")
    assert deleter.process(message).label == "deleted"
    assert face_index.registered_keys() == [kept]  # the live one keeps its face
    assert [r.status for r in history.by_object(IMAGE_BUCKET, deleted)] == ["deleted"]
    assert [r.status for r in history.by_object(IMAGE_BUCKET, kept)] == ["indexed"]
    # Which key the sequencer belongs to is not certain: it is noted for neither.
    assert history.newest_delete_sequencer(IMAGE_BUCKET, deleted) is None
    assert history.newest_delete_sequencer(IMAGE_BUCKET, kept) is None


def test_when_neither_reading_has_a_record_the_delete_is_still_recorded(history, deleter, s3):
    message = parse_message(json.dumps(_event("never+seen%21.jpg")))
    assert deleter.process(message).label == "deleted:nothing-registered"
    for key in ("never+seen%21.jpg", "never seen!.jpg"):
        item = history.delete_events(IMAGE_BUCKET, key)
        assert (item["status"], item["reason"]) == ("deleted", "no-history-record"), key
        assert item["key_readings"] == ["never+seen%21.jpg", "never seen!.jpg"]
        assert item["delete_event_id"] == "ev-1" and item["delete_sequencer"] == "0062E99A88DC407460"
        assert history.newest_delete_sequencer(IMAGE_BUCKET, key) is None  # not certainly this key


def test_a_single_reading_without_records_is_recorded_too(history, deleter, s3):
    assert (
        deleter.process(parse_message(json.dumps(_event("plain.jpg")))).label == "deleted:nothing-registered"
    )
    item = history.delete_events(IMAGE_BUCKET, "plain.jpg")
    assert (item["reason"], item["key_readings"]) == ("no-history-record", ["plain.jpg"])
    assert history.newest_delete_sequencer(IMAGE_BUCKET, "plain.jpg") == pad_sequencer("0062E99A88DC407460")


# ---------------------------------------------------------------------------------------------- sequencers
def test_delete_events_are_ordered_across_lengths_and_cases(s3, history, deleter):
    put_image(s3, "a.jpg", jpeg_bytes("a"))  # live: nothing is deleted, only the order is noted
    first = deleter.process(parse_message(json.dumps(_event("a.jpg", sequencer="0062e99a88dc4075"))))
    assert first.label == "deleted:nothing-registered"
    # 18 digits, upper case, numerically larger but older under S3's rule ("...4074F0" < "...407500")
    assert history.note_delete_event(IMAGE_BUCKET, "a.jpg", "0062E99A88DC4074F0") == (
        False,
        "0062e99a88dc4075",
    )
    assert history.note_delete_event(IMAGE_BUCKET, "a.jpg", "0062E99A88DC407501")[0] is True


@pytest.mark.parametrize(
    ("sequencer", "stale"),
    [
        ("0062E99A88DC4074F0", True),  # 18 digits, upper: older once the delete's 16 are right-padded
        ("0062e99a88dc4074", True),  # 16 digits, lower
        ("0062E99A88DC407500", False),  # the same value as the delete's: not older
        ("0062E99A88DC4075", False),  # the same, other case
        ("0062e99a88dc407501", False),  # newer
        ("617f08299329d189", False),  # newer ("61" > "00"; the old left-pad rule called it older)
    ],
)
def test_the_importer_stale_check_uses_the_right_pad_rule(s3, history, importer, deleter, sequencer, stale):
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    deleter.process(parse_message(json.dumps(_event("a.jpg", sequencer="0062e99a88dc4075"))))
    label = importer.process(import_message(obj.model_copy(update={"sequencer": sequencer})), first_attempt())
    assert label.label == ("skipped:stale" if stale else "indexed")


def test_the_emulator_mixes_lengths_and_cases_and_increases_under_the_rule():
    sequencers = S3Sequencers(start_seconds=0x6408CAD6)
    values = [sequencers.next() for _ in range(64)]
    upper = [S3Sequencers.render(v) for v in values]  # S3 notifications
    lower = [S3Sequencers.render(v, lowercase=True) for v in values]  # EventBridge
    assert {len(s) for s in upper} == {16, 18}
    assert all(s == s.upper() for s in upper) and all(s == s.lower() for s in lower)
    for rendered in (
        upper,
        lower,
        [u if i % 3 else lo for i, (u, lo) in enumerate(zip(upper, lower, strict=True))],
    ):
        keys = [pad_sequencer(s) for s in rendered]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
    # The mix is real: by the old left-pad rule (as numbers) the sequence would not be increasing.
    assert [int(s, 16) for s in upper] != sorted(int(s, 16) for s in upper)
