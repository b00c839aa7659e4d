"""`bulk-loader history`: each query against a moto history table written through HistoryStore."""

from __future__ import annotations

from datetime import timedelta

import pytest

from handlers.common.contracts import HistoryStatus
from tests.cli.conftest import NOW, Stack, read_json
from tests.cli.history_seed import seed

RUN = "images-bucket/inv-1"


@pytest.fixture
def seeded(stack: Stack) -> Stack:
    hour = timedelta(hours=1)
    seed(stack.history, "a/one.jpg", HistoryStatus.INDEXED, at=NOW - 3 * hour)
    seed(stack.history, "a/one.jpg", HistoryStatus.INDEXED, at=NOW - 2 * hour, version_id="v2")
    seed(stack.history, "a/two photo+%.jpg", HistoryStatus.INVALID, at=NOW - hour, reason="invalid:no-face")
    seed(
        stack.history, "b/three.png", HistoryStatus.FAILED, at=NOW - hour, user_id="user-2", reason="gave up"
    )
    seed(stack.history, "c/four.png", HistoryStatus.QUEUED, at=NOW - timedelta(days=1), run_id="other")
    return stack


def test_by_object_lists_every_version(seeded: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert seeded.cli("history", "object", "s3://images-bucket/a/one.jpg", "--json") == 0
    records = read_json(capsys)["records"]
    assert sorted(r["version_id"] or "null" for r in records) == ["null", "v2"]
    assert {r["status"] for r in records} == {"indexed"}


def test_by_object_one_version(seeded: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert seeded.cli("history", "object", "s3://images-bucket/a/one.jpg", "--version", "v2", "--json") == 0
    assert [r["version_id"] for r in read_json(capsys)["records"]] == ["v2"]
    assert seeded.cli("history", "object", "s3://images-bucket/a/one.jpg", "--version", "null", "--json") == 0
    assert [r["version_id"] for r in read_json(capsys)["records"]] == [None]


def test_by_object_hostile_key_table(seeded: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert seeded.cli("history", "object", "s3://images-bucket/a/two photo+%.jpg") == 0
    out = capsys.readouterr().out
    assert "invalid:no-face" in out
    assert "s3://images-bucket/a/two photo+%.jpg" in out


def test_by_user_with_time_range(seeded: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert seeded.cli("history", "user", "user-1", "--json") == 0
    assert len(read_json(capsys)["records"]) == 4
    assert seeded.cli("history", "user", "user-1", "--since", "150m", "--json") == 0
    assert sorted(r["key"] for r in read_json(capsys)["records"]) == ["a/one.jpg", "a/two photo+%.jpg"]


def test_by_run_counts_by_status_and_reason(seeded: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert seeded.cli("history", "run", RUN, "--count", "--json") == 0
    assert read_json(capsys)["counts"] == {"indexed": 2, "invalid": 1, "failed": 1}
    assert seeded.cli("history", "run", RUN, "--count", "reason", "--json") == 0
    assert read_json(capsys)["counts"] == {"indexed": 2, "invalid:no-face": 1, "gave up": 1}


def test_by_run_time_range_in_iso(seeded: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    since = (NOW - timedelta(minutes=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert seeded.cli("history", "run", RUN, "--since", since, "--json") == 0
    assert sorted(r["status"] for r in read_json(capsys)["records"]) == ["failed", "invalid"]


def test_failures_since(seeded: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert seeded.cli("history", "failures", "--since", "1d", "--json") == 0
    records = read_json(capsys)["records"]
    assert sorted((r["key"], r["status"]) for r in records) == [
        ("a/two photo+%.jpg", "invalid"),
        ("b/three.png", "failed"),
    ]


def test_limit_truncates_and_says_so(seeded: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert seeded.cli("history", "user", "user-1", "--limit", "1", "--json") == 0
    answer = read_json(capsys)
    assert len(answer["records"]) == 1
    assert answer["truncated"] is True
    assert seeded.cli("history", "user", "user-1", "--limit", "1") == 0
    assert "--limit 0 prints all" in capsys.readouterr().out


def test_unknown_run_is_bad_usage(seeded: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert seeded.cli("history", "run", "images-bucket/no-such-run") == 2
    assert "unknown run id" in capsys.readouterr().err


def test_bad_url_is_bad_usage(seeded: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert seeded.cli("history", "object", "images-bucket/a.jpg") == 2
    assert "is not an s3://BUCKET/KEY URL" in capsys.readouterr().err


def test_since_after_until_is_bad_usage(seeded: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert seeded.cli("history", "user", "user-1", "--since", "1h", "--until", "2h") == 2
    assert "is after --until" in capsys.readouterr().err


def test_a_missing_table_fails(seeded: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert seeded.cli("history", "user", "user-1", "--history-table", "no-such-table") == 1
    assert "ResourceNotFoundException" in capsys.readouterr().err
