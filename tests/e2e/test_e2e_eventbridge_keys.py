"""Keys with spaces, `+`, `%` and non-ASCII characters are imported, then deleted: whether EventBridge sends
`detail.object.key` as is or URL-encoded (AWS's pages do not say; the emulator does either), every face goes
and the history says deleted. The emulator's sequencers (16 or 18 digits, lower case in EventBridge events)
reach the history in S3's order."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote_plus

import pytest
from boto3.dynamodb.types import TypeDeserializer
from e2e_support import active_by_key, deliver_inventory, explain, put_images

from handlers.common.history import pad_sequencer
from offline.runtime import OfflineRuntime

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

KEYS = [
    "users/a b.png",
    "users/a+b.png",  # with the one above: "a+b" reads as either key
    "users/100%.png",
    "users/x%2By.png",
    "users/Zoë ü+1 日本.png",
]


def _items(runtime: OfflineRuntime) -> dict[tuple[str, str], dict[str, Any]]:
    """Every history item of an object key, by (key, sort key)."""
    table = runtime.deployment.outputs["history_table_name"]
    deserialize = TypeDeserializer().deserialize
    items: dict[tuple[str, str], dict[str, Any]] = {}
    for page in runtime.client("dynamodb").get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            record = {name: deserialize(value) for name, value in item.items()}
            if str(record["pk"]).startswith("obj#"):
                items[(str(record["pk"]).split("/", 1)[1], str(record["sk"]))] = record
    return items


@pytest.mark.parametrize("encoding", ["raw", "quote_plus"])
def test_hostile_keys_are_deregistered_under_either_eventbridge_encoding(dev_stack, encoding):
    runtime, faces = dev_stack()
    runtime.events.eventbridge_keys = encoding
    images = runtime.deployment.outputs["image_bucket_name"]
    rows = put_images(runtime, KEYS)
    deliver_inventory(runtime, rows)
    runtime.run_until_idle(150)
    assert active_by_key(faces) == dict.fromkeys(KEYS, 1), explain(runtime, faces)

    s3 = runtime.client("s3")
    first_version = {row[1]: row[2] for row in rows}
    for key in KEYS:
        s3.delete_object(Bucket=images, Key=key)  # a delete marker
    # One key also loses its version for good: a second delete event for it, with a greater sequencer.
    s3.delete_object(Bucket=images, Key=KEYS[2], VersionId=first_version[KEYS[2]])
    runtime.run_until_idle(150)

    assert runtime.stats()["deliveries"]["eventbridge_deliveries"] >= len(KEYS) + 1, explain(runtime, faces)
    assert dict(active_by_key(faces)) == {}, explain(runtime, faces)
    items = _items(runtime)
    for key in KEYS:
        record = items[(key, f"v#{first_version[key]}")]
        assert (record["status"], record["reason"]) == ("deleted", "deregistered"), (key, record)
    # The delete-events items: sequencers as the emulator sent them (lower case, 16 or 18 digits).
    seen = [
        item["sequencer_seen"]
        for (_, sk), item in items.items()
        if sk == "delete-events" and "sequencer_seen" in item
    ]
    assert seen, explain(runtime, faces)
    assert all(re.fullmatch(r"[0-9a-f]{16}|[0-9a-f]{18}", s) for s in seen), seen
    # "users/100%.png" reads one way only (as given; decoded when encoded): its sequencer is noted, and the
    # permanent delete (the later event) is the newest whatever order the indexer processed the two in.
    notes = items[(KEYS[2], "delete-events")]
    assert len(_delete_sequencers(runtime, KEYS[2])) == 2
    assert notes["sequencer_order"] == pad_sequencer(notes["sequencer_seen"])
    assert notes["sequencer_order"] == max(pad_sequencer(s) for s in _delete_sequencers(runtime, KEYS[2]))
    if encoding == "quote_plus":
        # URL-encoded, "users/Zoë ü+1 日本.png" has two readings and only the decoded one has records.
        assert items[(KEYS[4], f"v#{first_version[KEYS[4]]}")]["delete_key_reading"] == "decoded"
    assert runtime.stats()["access_denied"] == [], explain(runtime, faces)


def _delete_sequencers(runtime: OfflineRuntime, key: str) -> list[str]:
    """Sequencers of the "Object Deleted" events the emulator sent for `key` (under either encoding)."""
    sent = {key, quote_plus(key, safe="/")}
    recent = runtime.events.stats.eventbridge_recent
    return [e["sequencer"] for e in recent if e["detail-type"] == "Object Deleted" and e["key"] in sent]
