"""The import-history layer against a moto DynamoDB table with the shared key schema."""

from __future__ import annotations

from handlers.common.contracts import HistoryStatus, ImportMessage, ObjectRef
from handlers.common.history import HistoryStore


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
