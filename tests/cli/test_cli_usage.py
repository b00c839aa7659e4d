"""Stack discovery and bad usage: every way of giving the command a wrong stack ends with exit 2 and a message
that names what was wrong; `--help` works for every subcommand."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from cli.main import main

SUBCOMMANDS = (
    ["import-now"],
    ["status"],
    ["history"],
    ["history", "object"],
    ["history", "user"],
    ["history", "run"],
    ["history", "failures"],
    ["redrive"],
    ["reindex"],
)


@pytest.mark.parametrize("argv", SUBCOMMANDS, ids=" ".join)
def test_every_subcommand_has_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--help"]) == 0
    assert f"usage: bulk-loader {' '.join(argv)}" in capsys.readouterr().out


def test_no_subcommand_is_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_unknown_option_is_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--no-such-flag"]) == 2
    assert "--no-such-flag" in capsys.readouterr().err


def test_reindex_needs_user_or_prefix(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reindex", "--yes"]) == 2
    assert "one of the arguments --user --prefix is required" in capsys.readouterr().err


def test_missing_outputs_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.json"
    assert main(["history", "user", "u", "--outputs", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"outputs file {missing} does not exist" in err
    assert "pulumi stack output --json" in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [("{not json", "is not JSON"), ("[1, 2]", "holds a JSON list, expected an object")],
)
def test_malformed_outputs_file(
    tmp_path: Path, content: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "outputs.json"
    file.write_text(content)
    assert main(["history", "user", "u", "--outputs", str(file)]) == 2
    assert expected in capsys.readouterr().err


def test_stack_without_the_component_the_command_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "outputs.json"
    file.write_text(json.dumps({"image_bucket_name": "images"}))  # no ThrottledIndexer in this stack
    assert main(["redrive", "--dlq", "--outputs", str(file)]) == 2
    err = capsys.readouterr().err
    assert "'dlq_url'" in err
    assert "ThrottledIndexer" in err
    assert "--dlq-url" in err


def test_pulumi_missing_is_bad_usage(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi there
    assert main(["history", "user", "u"]) == 2
    assert "the pulumi CLI is not on PATH" in capsys.readouterr().err


def _fake_pulumi(directory: Path, script: str) -> None:
    pulumi = directory / "pulumi"
    pulumi.write_text("#!/bin/sh\n" + script)
    pulumi.chmod(pulumi.stat().st_mode | stat.S_IEXEC)


def test_outputs_come_from_pulumi_for_the_named_stack(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The fake pulumi answers only `stack output --json --stack prod`, with a stack lacking the table.
    _fake_pulumi(
        tmp_path,
        'if [ "$*" = "stack output --json --stack prod" ]; then echo \'{"queue_url": "q"}\'; exit 0; fi\n'
        'echo "unexpected arguments: $*" >&2; exit 3\n',
    )
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert main(["history", "user", "u", "--stack", "prod"]) == 2
    assert "stack 'prod' does not have" in capsys.readouterr().err
    assert main(["history", "user", "u", "--stack", "dev"]) == 2
    err = capsys.readouterr().err
    assert "failed (exit 3)" in err
    assert "unexpected arguments: stack output --json --stack dev" in err


def test_no_credentials_is_bad_usage(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert main(["history", "user", "u", "--history-table", "history"]) == 2
    assert "no AWS credentials found" in capsys.readouterr().err


def test_bad_time_is_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "failures", "--since", "yesterday-ish", "--history-table", "t"]) == 2
    assert "--since 'yesterday-ish' is neither an ISO 8601 time" in capsys.readouterr().err
