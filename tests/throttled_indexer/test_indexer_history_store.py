"""The import-history layer against a moto DynamoDB table with the shared key schema."""

from __future__ import annotations

import json
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.common.contracts import HistoryStatus, ImportMessage, ObjectRef
from handlers.common.history import HistoryStore, pad_sequencer


def _message(key: str = "photos/a b+c%.jpg", version: str | None = "v1", **kw) -> ImportMessage:
    return ImportMessage(
        object=ObjectRef(bucket="images", key=key, version_id=version, etag="abc"),
        user_id=kw.pop("user_id", "user-1"),
        run_id=kw.pop("run_id", "run-1"),
        **kw,
    )


def test_queued_record_round_trips(history: HistoryStore):
    message = _message(properties={"name": "Zoë", "dept": "x"})
    assert history.record_queued(message) is True
    record = history.get(message.object)
    assert record is not None
    assert (record.status, record.user_id, record.run_id) == ("queued", "user-1", "run-1")
    assert record.key == "photos/a b+c%.jpg"
    assert record.properties == {"name": "Zoë", "dept": "x"}
    assert record.raw["expires_at"] > 0


def test_queued_never_overwrites_indexed_or_deleted(history: HistoryStore):
    message = _message()
    history.record_queued(message)
    for final in (HistoryStatus.INDEXED, HistoryStatus.DELETED):
        assert history.record_outcome(message.object, final, final.value, user_id="user-1", run_id="run-1")
        assert history.record_queued(_message(run_id="run-2")) is False
        record = history.get(message.object)
        assert record.status == final.value
        assert record.run_id == "run-1"


def test_failed_outcome_does_not_undo_indexed(history: HistoryStore):
    obj = _message().object
    history.record_outcome(obj, HistoryStatus.INDEXED, "registered", user_id="u", run_id="r", face_ids=["f1"])
    assert not history.record_outcome(obj, HistoryStatus.FAILED, "late failure", user_id="u", run_id="r")
    record = history.get(obj)
    assert (record.status, record.face_ids) == ("indexed", ("f1",))
    assert "expires_at" not in record.raw and "failure" not in record.raw


def test_claim_is_exclusive_until_the_lease_expires(history: HistoryStore, clock):
    obj = _message().object
    history.record_queued(_message())
    token, _ = history.claim(obj, lease_seconds=60)
    assert token
    second, current = history.claim(obj, lease_seconds=60)
    assert second is None and current.status == "indexing" and current.claim_token == token
    clock.advance(61)  # the first worker died: its lease ran out
    third, _ = history.claim(obj, lease_seconds=60)
    assert third and third != token
    # the first worker's late outcome no longer counts
    assert not history.record_outcome(
        obj, HistoryStatus.INDEXED, "registered", user_id="u", run_id="r", claim_token=token
    )
    assert history.record_outcome(
        obj, HistoryStatus.INDEXED, "registered", user_id="u", run_id="r", claim_token=third
    )
    assert history.get(obj).attempts == 2
    assert history.claim(obj, lease_seconds=60)[0] is None  # indexed: nothing to claim


def test_release_returns_the_record_to_queued(history: HistoryStore):
    obj = _message().object
    token, _ = history.claim(obj, lease_seconds=60)
    assert history.release(obj, token, "retrying: gateway throttled")
    record = history.get(obj)
    assert (record.status, record.reason, record.claim_token) == (
        "queued",
        "retrying: gateway throttled",
        None,
    )
    assert history.claim(obj, lease_seconds=60)[0]


def test_deleted_blocks_claims_but_unversioned_new_content_may_be_claimed(history: HistoryStore):
    versioned = _message().object
    history.record_outcome(versioned, HistoryStatus.DELETED, "deleted", user_id="u", run_id="r")
    assert history.claim(versioned, lease_seconds=60)[0] is None
    old = ObjectRef(bucket="images", key="flat.jpg", etag="old")
    history.record_outcome(old, HistoryStatus.DELETED, "deleted", user_id="u", run_id="r")
    assert history.claim(old, lease_seconds=60)[0] is None
    new = ObjectRef(bucket="images", key="flat.jpg", etag="new")
    assert history.claim(new, lease_seconds=60)[0]


def test_queries_by_object_run_user_and_failures(history: HistoryStore, clock):
    start = clock.now
    for i in range(3):
        history.record_queued(_message(version=f"v{i}", user_id=f"user-{i % 2}", run_id="run-A"))
        clock.advance(3600)
    other = ObjectRef(bucket="images", key="other.jpg", version_id="x")
    history.record_outcome(other, HistoryStatus.INVALID, "no-face", user_id="user-9", run_id="run-B")
    clock.advance(86400)  # failures on the next day too
    late = ObjectRef(bucket="images", key="late.jpg", version_id="y")
    history.record_outcome(late, HistoryStatus.FAILED, "gave-up", user_id="user-9", run_id="run-B")

    assert sorted(r.version_id for r in history.by_object("images", "photos/a b+c%.jpg")) == [
        "v0",
        "v1",
        "v2",
    ]
    run = list(history.by_run("run-A", since=start + timedelta(minutes=30)))
    assert [r.version_id for r in run] == ["v1", "v2"]
    assert sorted(r.version_id for r in history.by_user("user-0")) == ["v0", "v2"]
    failures = list(history.failures_since(start))
    assert [(r.key, r.status, r.reason) for r in failures] == [
        ("other.jpg", "invalid", "no-face"),
        ("late.jpg", "failed", "gave-up"),
    ]
    assert [r.key for r in history.failures_since(clock.now - timedelta(hours=1))] == ["late.jpg"]
    # success clears the failure index entry and the TTL
    history.record_outcome(other, HistoryStatus.INDEXED, "registered", user_id="user-9", run_id="run-B")
    assert [r.key for r in history.failures_since(start)] == ["late.jpg"]


def test_ttl_only_on_non_success_records(history: HistoryStore, clock):
    obj = _message().object
    history.record_outcome(obj, HistoryStatus.SKIPPED, "stale", user_id="u", run_id="r")
    expected = int((clock.now + timedelta(days=14)).timestamp())
    assert history.get(obj).raw["expires_at"] == expected
    history.record_outcome(obj, HistoryStatus.INDEXED, "registered", user_id="u", run_id="r")
    assert "expires_at" not in history.get(obj).raw


def test_large_properties_are_compressed_and_round_trip(history_table, clock):
    store = HistoryStore(history_table, clock=clock, compress_over_bytes=1024)
    big = {f"field-{i}": "ü" * 50 + str(i) for i in range(200)}
    message = _message(properties=big)
    store.record_queued(message)
    raw = store.get(message.object).raw
    assert "properties" not in raw and len(raw["properties_gz"].value) < len(json.dumps(big))
    assert store.get(message.object).properties == big
    small = _message(properties={"a": "b"})  # back to inline: the compressed copy must go
    store.record_queued(small)
    raw = store.get(small.object).raw
    assert "properties_gz" not in raw and store.get(small.object).properties == {"a": "b"}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(props=st.dictionaries(st.text(max_size=20), st.text(max_size=200), max_size=40))
def test_properties_round_trip_whatever_their_size(history_table, clock, props):
    store = HistoryStore(history_table, clock=clock, compress_over_bytes=256)
    message = _message(key="prop-test", properties=props)
    store.record_queued(message)
    assert store.get(message.object).properties == props


def test_fingerprint_claims_detect_duplicates_and_pass_on_after_failure(history: HistoryStore, clock):
    first = ObjectRef(bucket="images", key="a.jpg", version_id="1")
    second = ObjectRef(bucket="images", key="b.jpg", version_id="1")
    sha = "ab" * 32
    token, _ = history.claim(first, lease_seconds=60)
    assert history.claim_fingerprint("user-1", sha, first) is None
    assert history.claim_fingerprint("user-1", sha, first) is None  # idempotent for the owner
    owner = history.claim_fingerprint("user-1", sha, second)
    assert owner is not None and owner.key == "a.jpg"  # first is being indexed under a live lease
    assert history.claim_fingerprint("user-2", sha, second) is None  # another user: not a duplicate
    # the first import fails permanently: the claim passes to the second object
    history.record_outcome(
        first, HistoryStatus.INVALID, "no-face", user_id="u", run_id="r", claim_token=token
    )
    assert history.claim_fingerprint("user-1", sha, second) is None
    history.release_fingerprint("user-1", sha, first)  # not the owner any more: no effect
    assert history.claim_fingerprint("user-1", sha, ObjectRef(bucket="images", key="c.jpg")) is None


def test_delete_event_sequencers_compare_right_padded(history: HistoryStore):
    # S3's current rule: right-pad the shorter with zeros, then compare (the old left-pad rule said the
    # reverse for these two real sample values: the 16-digit one would have been older).
    assert history.note_delete_event("images", "k", "0062E99A88DC407460") == (True, None)
    newest, previous = history.note_delete_event("images", "k", "617f0837b476e463")  # 16 digits, lower case
    assert newest is True and previous == "0062E99A88DC407460"
    newest, previous = history.note_delete_event("images", "k", "0062E99A88DC407460")  # now older
    assert newest is False and previous == "617f0837b476e463"
    assert history.note_delete_event("images", "k", "617F0837B476E463")[0] is True  # same event, other case
    assert history.note_delete_event("images", "k", "617f0837b476e46300")[0] is True  # equal once padded
    assert (
        history.note_delete_event("images", "k", "617f0837b476e4")[0] is False
    )  # shorter: ...e400 < ...e463
    assert history.note_delete_event("images", "k", None) == (True, None)
    assert history.newest_delete_sequencer("images", "k") == pad_sequencer("617f0837b476e463")
    assert list(history.by_object("images", "k")) == []  # not an object-version record
    item = history_table_item(history, "obj#images/k", "delete-events")
    assert item["expires_at"] > 0  # one per deleted key: it must not accumulate forever


def test_a_legacy_left_padded_sequencer_is_ignored_and_replaced(history: HistoryStore):
    # Written by the old rule: "0062E99A88DC407460" left-padded. Its length is lost, so it cannot be compared.
    legacy = "0062E99A88DC407460".rjust(64, "0")
    history.table.put_item(Item={"pk": "obj#images/k", "sk": "delete-events", "sequencer": legacy})
    assert history.newest_delete_sequencer("images", "k") is None
    # Under the old encoding this right-padded value compares lower than the legacy one: it must still count.
    assert history.note_delete_event("images", "k", "0062E99A88DC4074") == (True, None)
    item = history_table_item(history, "obj#images/k", "delete-events")
    assert "sequencer" not in item and item["sequencer_seen"] == "0062E99A88DC4074"
    assert history.newest_delete_sequencer("images", "k") == pad_sequencer("0062E99A88DC4074")


def test_an_unmatched_delete_is_recorded_on_the_key(history: HistoryStore):
    history.note_delete_event("images", "a b.jpg", "0062E99A88DC407460")
    history.record_unmatched_delete(
        "images", "a b.jpg", readings=("a+b.jpg", "a b.jpg"), event_id="ev-1", sequencer="0062E99A88DC407460"
    )
    item = history.delete_events("images", "a b.jpg")
    assert (item["status"], item["reason"], item["object_key"]) == ("deleted", "no-history-record", "a b.jpg")
    assert item["key_readings"] == ["a+b.jpg", "a b.jpg"] and item["delete_event_id"] == "ev-1"
    assert item["sequencer_order"] == pad_sequencer("0062E99A88DC407460")  # the ordering facts stay
    assert item["expires_at"] > 0 and "failure" not in item  # not a failure: nothing was registered


@given(
    a=st.integers(min_value=1, max_value=2**72 - 1),
    b=st.integers(min_value=1, max_value=2**72 - 1),
    wide_a=st.booleans(),
    wide_b=st.booleans(),
    lower=st.booleans(),
)
def test_padded_sequencers_order_like_right_padded_strings(a, b, wide_a, wide_b, lower):
    """The documented comparison, written out: right-pad the shorter with zeros, compare as strings."""
    x = f"{a:018X}" if wide_a else f"{a:X}"
    y = f"{b:018x}" if wide_b else f"{b:x}"
    y = y if lower else y.upper()
    width = max(len(x), len(y))
    expected = x.upper().ljust(width, "0") < y.upper().ljust(width, "0")
    assert (pad_sequencer(x) < pad_sequencer(y)) == expected
    assert (pad_sequencer(x) == pad_sequencer(y)) == (
        x.upper().ljust(width, "0") == y.upper().ljust(width, "0")
    )


def history_table_item(store: HistoryStore, pk: str, sk: str) -> dict:
    return store.table.get_item(Key={"pk": pk, "sk": sk})["Item"]


def test_a_reindex_claim_returns_the_record_it_took_and_restore_puts_it_back(history: HistoryStore):
    obj = _message().object
    history.record_outcome(obj, HistoryStatus.INDEXED, "registered", user_id="u", run_id="r", face_ids=["f1"])
    token, before = history.claim(obj, lease_seconds=60, allow_indexed=True)
    assert token and (before.status, before.face_ids) == ("indexed", ("f1",))
    assert history.get(obj).face_ids == ("f1",)  # kept while re-registering: a deletion must find them
    assert history.restore(before, token)
    after = history.get(obj)
    assert (after.status, after.face_ids, after.claim_token) == ("indexed", ("f1",), None)
    assert not history.restore(before, token)  # the claim is gone
