"""The program of one Lambda execution environment (a worker process), run as
`python -I offline/lambda_runtime/worker.py CODE_DIR MODULE.FUNCTION` by offline/lambda_runtime/process.py.

Protocol: one JSON line per request on stdin ({"payload", "request_id", "invoked_function_arn",
"timeout_s"}), one JSON line per response on the original stdout: first {"ready": true} (or the import
error), then {"ok": true, "payload"} or {"ok": false, "errorType", "errorMessage", "stackTrace"} per request.
The handler's own prints and logs go to stderr (the function's log file).

Standard library only, and run by path in isolated mode (`-I`): nothing of this repository is on sys.path,
so the handler is imported from the function's deployed code archive alone, as Lambda would.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO


class Context:
    """The Lambda context object handed to the handler."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = request["invoked_function_arn"]
        self.memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.aws_request_id = request["request_id"]
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self._deadline = time.time() + request["timeout_s"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def load_handler(code_dir: str, handler_path: str) -> Callable[[Any, Context], Any]:
    """`module.function` from the code archive. Appended after site-packages: third-party packages come from
    the interpreter (the archive's bundles are built for the Lambda platform), our code from the archive."""
    sys.path.append(code_dir)
    module_name, func_name = handler_path.rsplit(".", 1)
    return getattr(importlib.import_module(module_name), func_name)


def serve(
    handler: Callable[[Any, Context], Any], requests: Iterable[str], reply: Callable[[dict], None]
) -> None:
    """Answer each request line in turn; an exception of the handler is the invocation's error, not ours."""
    for line in requests:
        request = json.loads(line)
        try:
            result = handler(json.loads(request["payload"]), Context(request))
            reply({"ok": True, "payload": json.dumps(result)})
        except Exception as exc:
            traceback.print_exc()
            reply(
                {
                    "ok": False,
                    "errorType": type(exc).__name__,
                    "errorMessage": str(exc),
                    "stackTrace": traceback.format_exc().splitlines(),
                }
            )


def _replier(protocol: BinaryIO) -> Callable[[dict], None]:
    def reply(message: dict) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        protocol.write((json.dumps(message) + "\n").encode())

    return reply


def main(argv: list[str]) -> int:
    code_dir, handler_path = argv
    # The protocol keeps the original stdout; the handler's stdout is sent to stderr (the log file).
    protocol = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    reply = _replier(protocol)
    try:
        handler = load_handler(code_dir, handler_path)
    except Exception as exc:
        traceback.print_exc()
        reply(
            {
                "ready": False,
                "errorType": "Runtime.ImportModuleError",
                "errorMessage": f"Unable to import module '{handler_path}': {type(exc).__name__}: {exc}",
            }
        )
        return 1
    reply({"ready": True})
    serve(handler, sys.stdin, reply)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
