"""One Lambda execution environment: a worker process (offline/lambda_runtime/worker.py) that imported the
function's handler and serves its invocations in turn, and the invocation's end when it times out or dies.

The worker runs `python -I` with exactly the environment it is given (offline/lambda_runtime/workers.py) and
the function's extracted code archive as its working directory.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from offline.deployment.deployed import FunctionSpec

# Seconds a new worker may take to import its handler (Lambda's init phase limit is 10 s; imports of boto3,
# pydantic and Powertools on a busy shared machine can take longer).
INIT_TIMEOUT_S = 60.0

WORKER_PROGRAM = Path(__file__).with_name("worker.py")
"""Run by path, not `-m`: in isolated mode nothing of this repository is importable by the handler."""


class WorkerProcess:
    """One execution environment: a process that imported the handler and serves invocations in turn."""

    def __init__(self, spec: FunctionSpec, env: dict[str, str], log_file: Path) -> None:
        self.spec = spec
        self._log = log_file.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and worker program)
            [sys.executable, "-I", str(WORKER_PROGRAM), str(spec.code_dir), spec.handler],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            cwd=str(spec.code_dir),
        )
        self._buffer = b""
        self.eof = False
        """True once the worker closed its protocol pipe (it exited or crashed)."""
        ready = self._read_line(INIT_TIMEOUT_S)
        if ready is None or not ready.get("ready"):
            self.kill()
            message = (ready or {}).get("errorMessage") or f"worker did not start (see {log_file})"
            raise RuntimeError(f"function {spec.name}: {message}")

    def _read_line(self, timeout_s: float) -> dict[str, Any] | None:
        """The next protocol line, or None on timeout or exit."""
        if self.process.stdout is None or self.process.stdout.closed:
            return None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                readable, _, _ = select.select([fd], [], [], remaining)
                if not readable:
                    return None
                chunk = os.read(fd, 65536)
            except (OSError, ValueError):  # killed while we waited (the runtime is stopping)
                self.eof = True
                return None
            if not chunk:
                self.eof = True
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def invoke(self, payload: bytes, request_id: str, timeout_s: float) -> dict[str, Any]:
        assert self.process.stdin is not None
        request = {
            "payload": payload.decode() or "null",
            "request_id": request_id,
            "invoked_function_arn": self.spec.arn,
            "timeout_s": timeout_s,
        }
        try:
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
        except BrokenPipeError:
            return {
                "ok": False,
                "errorType": "Runtime.ExitError",
                "errorMessage": "the worker process had exited",
            }
        response = self._read_line(timeout_s)
        if response is None:
            if not self.eof and self.process.poll() is None:
                self.kill()
                return {
                    "ok": False,
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"Task timed out after {timeout_s:.2f} seconds",
                }
            return {
                "ok": False,
                "errorType": "Runtime.ExitError",
                "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status "
                f"{self.process.wait(timeout=10)}",
            }
        return response

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        self._log.close()
