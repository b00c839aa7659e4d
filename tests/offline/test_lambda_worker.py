"""The worker program (offline/lambda_runtime/worker.py) speaks its protocol, keeps the handler's output off
the protocol stream and imports the handler from the code directory alone, as the pool runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from offline.lambda_runtime.process import WORKER_PROGRAM
from offline.lambda_runtime.worker import Context

HANDLER = """
import json


def handler(event, context):
    print("hello from the handler")
    if event.get("fail"):
        raise ValueError("asked to fail")
    left_ms = context.get_remaining_time_in_millis()
    return {"echo": event, "request": context.aws_request_id, "left_ms": left_ms}


def imports_the_repo(event, context):
    import offline  # noqa: F401  (must not be importable from a worker)
"""

ENV = {"AWS_LAMBDA_FUNCTION_NAME": "fn", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "PATH": "/usr/bin:/bin"}


def _run(code_dir: Path, handler: str, requests: list[dict]) -> tuple[list[dict], str, int]:
    lines = "".join(json.dumps(r) + "\n" for r in requests)
    done = subprocess.run(
        [sys.executable, "-I", str(WORKER_PROGRAM), str(code_dir), handler],
        input=lines.encode(),
        capture_output=True,
        env=ENV,
        cwd=str(code_dir),
        timeout=60,
    )
    replies = [json.loads(line) for line in done.stdout.decode().splitlines()]
    return replies, done.stderr.decode(), done.returncode


def _request(payload: object, request_id: str = "r-1") -> dict:
    return {
        "payload": json.dumps(payload),
        "request_id": request_id,
        "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:fn",
        "timeout_s": 30,
    }


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(HANDLER)
    return tmp_path


def test_ready_then_one_reply_per_request_with_the_handlers_prints_on_stderr(code_dir):
    replies, stderr, code = _run(
        code_dir, "app.handler", [_request({"a": 1}), _request({"fail": True}, "r-2")]
    )
    assert code == 0
    assert replies[0] == {"ready": True}
    ok = json.loads(replies[1]["payload"])
    assert replies[1]["ok"] is True and ok["echo"] == {"a": 1} and ok["request"] == "r-1"
    assert 0 < ok["left_ms"] <= 30_000
    assert replies[2]["ok"] is False
    assert (replies[2]["errorType"], replies[2]["errorMessage"]) == ("ValueError", "asked to fail")
    assert any("asked to fail" in line for line in replies[2]["stackTrace"])
    assert len(replies) == 3
    assert stderr.count("hello from the handler") == 2


def test_a_handler_that_does_not_import_is_an_import_module_error(code_dir):
    replies, stderr, code = _run(code_dir, "missing.handler", [_request({})])
    assert code == 1
    assert replies == [
        {
            "ready": False,
            "errorType": "Runtime.ImportModuleError",
            "errorMessage": "Unable to import module 'missing.handler': "
            "ModuleNotFoundError: No module named 'missing'",
        }
    ]
    assert "ModuleNotFoundError" in stderr


def test_the_repository_is_not_importable_from_a_worker(code_dir):
    replies, _, _ = _run(code_dir, "app.imports_the_repo", [_request({})])
    assert replies[1]["ok"] is False and replies[1]["errorType"] == "ModuleNotFoundError"


def test_the_context_counts_down_to_zero(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    context = Context({**_request({}), "timeout_s": 0.05})
    assert context.function_name == "fn" and context.memory_limit_in_mb == 128
    assert 0 < context.get_remaining_time_in_millis() <= 50
    time.sleep(0.08)
    assert context.get_remaining_time_in_millis() == 0
