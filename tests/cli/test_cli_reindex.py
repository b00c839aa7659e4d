"""`bulk-loader reindex`: images the history knows queued again as reindex ImportMessages, after a prompt."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from handlers.common.contracts import HistoryStatus, ImportMessage, parse_message
from tests.cli.conftest import IMAGE_BUCKET, NOW, Stack, Terminal, read_json
from tests.cli.history_seed import seed


@pytest.fixture
def images(stack: Stack) -> Stack:
    at = NOW - timedelta(hours=1)
    seed(stack.history, "people/a.jpg", HistoryStatus.INDEXED, at=at, properties={"name": 'Zoë, "Z"'})
    seed(stack.history, "people/b.jpg", HistoryStatus.FAILED, at=at)
    seed(stack.history, "people/gone.jpg", HistoryStatus.DELETED, at=at)
    seed(stack.history, "other/c.jpg", HistoryStatus.INDEXED, at=at, user_id="user-2")
    for key in ("people/a.jpg", "people/b.jpg", "people/new.jpg", "other/c.jpg"):
        stack.s3.put_object(Bucket=IMAGE_BUCKET, Key=key, Body=b"img")
    return stack


def _queued(stack: Stack) -> list[ImportMessage]:
    messages = [parse_message(m["Body"]) for m in stack.receive_all(stack.outputs["queue_url"])]
    assert all(isinstance(m, ImportMessage) for m in messages)
    return messages  # type: ignore[return-value]


def test_reindex_a_user(images: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert images.cli("reindex", "--user", "user-1", "--yes", "--json") == 0
    answer = read_json(capsys)
    assert answer["queued"] == 2
    messages = _queued(images)
    assert sorted(m.object.key for m in messages) == ["people/a.jpg", "people/b.jpg"]
    assert {m.mode for m in messages} == {"reindex"}
    assert {m.run_id for m in messages} == {answer["run_id"]}
    by_key = {m.object.key: m for m in messages}
    assert by_key["people/a.jpg"].properties == {"name": 'Zoë, "Z"'}
    assert by_key["people/a.jpg"].object.etag == "etag-people/a.jpg"


def test_reindex_a_prefix_lists_the_never_imported(images: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert images.cli("reindex", "--prefix", "people/", "--yes", "--json") == 0
    answer = read_json(capsys)
    assert answer["never_imported"] == [f"s3://{IMAGE_BUCKET}/people/new.jpg"]
    assert sorted(m.object.key for m in _queued(images)) == ["people/a.jpg", "people/b.jpg"]


def test_the_prompt_declined_queues_nothing(images: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert images.cli("reindex", "--user", "user-1", stdin=Terminal("n\n")) == 0
    out = capsys.readouterr().out
    assert "2 images of user user-1 will be queued" in out
    assert "nothing queued" in out
    assert images.depth(images.outputs["queue_url"]) == 0


def test_the_prompt_accepted_queues(images: Stack) -> None:
    assert images.cli("reindex", "--user", "user-2", stdin=Terminal("y\n")) == 0
    assert [m.object.key for m in _queued(images)] == ["other/c.jpg"]


def test_no_terminal_and_no_yes_is_bad_usage(images: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert images.cli("reindex", "--user", "user-1", stdin=io.StringIO("y\n")) == 2
    assert "give --yes" in capsys.readouterr().err
    assert images.depth(images.outputs["queue_url"]) == 0


def test_nothing_to_reindex_is_bad_usage(images: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert images.cli("reindex", "--user", "nobody", "--yes") == 2
    assert "no image of user nobody" in capsys.readouterr().err
