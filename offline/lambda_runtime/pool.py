"""Lambda functions as local worker processes.

Each deployed function gets a pool of worker processes (warm execution environments, reused between
invocations). A worker runs `python -I` with exactly the function's deployed environment, plus what Lambda
itself sets (AWS_LAMBDA_FUNCTION_NAME, ...), the endpoint of the offline front door and the credentials of the
function's OWN role. It imports the handler from the function's deployed code archive (extracted by the
deployment); third-party packages come from this interpreter's site-packages, because the archive's dependency
bundles are built for the Lambda platform (manylinux, arm64 by default).

Semantics kept from Lambda: sync (RequestResponse) and async (Event) invocations, a context object, the
function timeout (the worker is killed and the invocation fails), reserved concurrency (sync invocations over
the limit are throttled with 429; async ones wait), async retries (MaximumRetryAttempts) and the on-failure
destination of the FunctionEventInvokeConfig (the invocation record sent with the function's role).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from offline.deployment.program import FunctionSpec

# Seconds a new worker may take to import its handler (Lambda's init phase limit is 10 s; imports of boto3,
# pydantic and Powertools on a busy shared machine can take longer).
INIT_TIMEOUT_S = 60.0

# Runs inside the worker (`python -I -c`): one JSON line per request on stdin, one JSON line per response on
# the original stdout; the handler's own prints and logs go to stderr (the function's log file).
_BOOTSTRAP = r"""
import importlib, json, os, sys, time, traceback
proto = os.fdopen(os.dup(1), "wb", buffering=0)
os.dup2(2, 1)
code_dir, handler_path = sys.argv[1], sys.argv[2]
# After site-packages: third-party packages come from the interpreter, our code from the archive.
sys.path.append(code_dir)


class Context:
    def __init__(self, req):
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = req["invoked_function_arn"]
        self.memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.aws_request_id = req["request_id"]
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self._deadline = time.time() + req["timeout_s"]

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.time()) * 1000))


def reply(obj):
    sys.stdout.flush()
    sys.stderr.flush()
    proto.write((json.dumps(obj) + "\n").encode())


try:
    module_name, func_name = handler_path.rsplit(".", 1)
    handler = getattr(importlib.import_module(module_name), func_name)
    reply({"ready": True})
except Exception as exc:
    traceback.print_exc()
    reply({"ready": False, "errorType": "Runtime.ImportModuleError",
           "errorMessage": f"Unable to import module '{handler_path}': {type(exc).__name__}: {exc}"})
    sys.exit(1)

for line in sys.stdin:
    req = json.loads(line)
    try:
        result = handler(json.loads(req["payload"]), Context(req))
        reply({"ok": True, "payload": json.dumps(result)})
    except Exception as exc:
        traceback.print_exc()
        reply({"ok": False, "errorType": type(exc).__name__, "errorMessage": str(exc),
               "stackTrace": traceback.format_exc().splitlines()})
"""


@dataclass
class InvokeResult:
    """What the Lambda Invoke API answers."""

    status: int
    payload: bytes
    function_error: str | None = None
    """'Unhandled' when the function failed (the payload is the error object)."""
    request_id: str = ""

    @property
    def error(self) -> dict[str, Any] | None:
        if self.function_error is None:
            return None
        return json.loads(self.payload)


class FunctionThrottled(Exception):
    """The function's reserved concurrency is exhausted (Lambda answers 429 TooManyRequestsException)."""


class _Worker:
    """One execution environment: a process that imported the handler and serves invocations in turn."""

    def __init__(self, spec: FunctionSpec, env: dict[str, str], log_file: Path) -> None:
        self.spec = spec
        self._log = log_file.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and bootstrap)
            [sys.executable, "-I", "-c", _BOOTSTRAP, str(spec.code_dir), spec.handler],
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


@dataclass
class FunctionStats:
    invocations: int = 0
    sync: int = 0
    async_: int = 0
    errors: int = 0
    timeouts: int = 0
    throttles: int = 0
    retries: int = 0
    sent_to_destination: int = 0
    duration_s: float = 0.0
    by_source: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "invocations": self.invocations,
            "sync": self.sync,
            "async": self.async_,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "throttles": self.throttles,
            "async_retries": self.retries,
            "sent_to_on_failure_destination": self.sent_to_destination,
            "duration_s": round(self.duration_s, 3),
            "by_source": dict(self.by_source),
        }


class FunctionPool:
    """The execution environments of one function."""

    def __init__(
        self,
        spec: FunctionSpec,
        env: dict[str, str],
        log_file: Path,
        max_local_workers: int,
        send_to_destination: Callable[[str, dict[str, Any]], None],
        retry_delays_s: tuple[float, ...],
        ship_logs: Callable[[FunctionSpec, list[str]], None] | None = None,
    ) -> None:
        self.spec = spec
        self._ship_logs = ship_logs
        self._log_offset = 0
        self._log_lock = threading.Lock()
        self.env = env
        self.log_file = log_file
        self.limit = spec.reserved_concurrency
        self.max_local = max(1, min(max_local_workers, spec.reserved_concurrency or max_local_workers))
        self.stats = FunctionStats()
        self._send_to_destination = send_to_destination
        self._retry_delays_s = retry_delays_s
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._started = 0
        self._in_flight = 0
        self._pending_async = 0
        self._cond = threading.Condition()
        self._closed = False
        self._async = ThreadPoolExecutor(max_workers=self.max_local, thread_name_prefix=f"async-{spec.name}")

    # -- concurrency ------------------------------------------------------------------------------------
    def _acquire_slot(self, wait: bool, deadline: float) -> None:
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError(f"function {self.spec.name}: the runtime is stopping")
                if self.limit is not None and self._in_flight >= self.limit:
                    if not wait:
                        raise FunctionThrottled(self.spec.name)
                elif self._in_flight < self.max_local:
                    self._in_flight += 1
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"function {self.spec.name}: no free execution environment")
                self._cond.wait(0.5)

    def _release_slot(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def _take_worker(self) -> _Worker:
        with self._cond:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive:
                    return worker
                worker.kill()
            self._started += 1
        worker = _Worker(self.spec, self.env, self.log_file)
        with self._cond:
            self._all.add(worker)
        return worker

    def _return_worker(self, worker: _Worker) -> None:
        with self._cond:
            if worker.alive and not self._closed:
                self._idle.append(worker)
                return
            self._all.discard(worker)
        worker.kill()

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._in_flight > 0 or self._pending_async > 0

    def kill_busy_workers(self) -> int:
        """Kill the execution environments that are running an invocation now (fault injection: a crash).

        Their invocations end with Runtime.ExitError, as when a Lambda environment dies mid-invocation.
        """
        with self._cond:
            busy = [w for w in self._all if w not in self._idle]
        for worker in busy:
            if worker.process.poll() is None:
                worker.process.kill()
        return len(busy)

    # -- invocations ------------------------------------------------------------------------------------
    def _run(self, payload: bytes, request_id: str) -> InvokeResult:
        started = time.monotonic()
        try:
            worker = self._take_worker()
        except RuntimeError as exc:
            with self._cond:
                self.stats.errors += 1
            return _error_result(request_id, "Runtime.ImportModuleError", str(exc))
        response = worker.invoke(payload, request_id, float(self.spec.timeout_s))
        self._return_worker(worker)
        self._forward_logs()
        with self._cond:
            self.stats.duration_s += time.monotonic() - started
            if not response.get("ok"):
                self.stats.errors += 1
                if response.get("errorType") == "Sandbox.Timedout":
                    self.stats.timeouts += 1
        if response.get("ok"):
            return InvokeResult(200, response["payload"].encode(), None, request_id)
        error = {k: response[k] for k in ("errorMessage", "errorType", "stackTrace") if k in response}
        return InvokeResult(200, json.dumps(error).encode(), "Unhandled", request_id)

    def _forward_logs(self) -> None:
        """Hand the log lines written since the last call to the shipper (CloudWatch Logs in moto)."""
        if self._ship_logs is None:
            return
        with self._log_lock:
            try:
                with self.log_file.open("rb") as handle:
                    handle.seek(self._log_offset)
                    data = handle.read()
            except OSError:
                return
            complete = data[: data.rfind(b"\n") + 1]
            self._log_offset += len(complete)
        lines = [line for line in complete.decode(errors="replace").splitlines() if line.strip()]
        if lines:
            try:
                self._ship_logs(self.spec, lines)
            except Exception as exc:  # logs are a convenience: never fail an invocation for them
                print(f"offline workers: shipping logs of {self.spec.name} failed: {exc}", file=sys.stderr)

    def invoke_sync(self, payload: bytes, source: str) -> InvokeResult:
        request_id = str(uuid.uuid4())
        try:
            self._acquire_slot(wait=False, deadline=time.monotonic() + 3600)
        except FunctionThrottled:
            with self._cond:
                self.stats.throttles += 1
            body = {
                "Type": "User",
                "message": "Rate Exceeded.",
                "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
            }
            return InvokeResult(429, json.dumps(body).encode(), None, request_id)
        try:
            self._count(source, sync=True)
            return self._run(payload, request_id)
        finally:
            self._release_slot()

    def invoke_async(self, payload: bytes, source: str) -> str:
        request_id = str(uuid.uuid4())
        with self._cond:
            if self._closed:
                raise RuntimeError(f"function {self.spec.name}: the runtime is stopping")
            self._pending_async += 1
        self._async.submit(self._run_async, payload, request_id, source)
        return request_id

    def _run_async(self, payload: bytes, request_id: str, source: str) -> None:
        try:
            attempts = 0
            result: InvokeResult | None = None
            while True:
                # Lambda's internal queue waits for concurrency rather than dropping the event.
                self._acquire_slot(wait=True, deadline=time.monotonic() + 3600)
                try:
                    self._count(source, sync=False)
                    attempts += 1
                    result = self._run(payload, request_id)
                finally:
                    self._release_slot()
                if result.function_error is None or attempts > self.spec.maximum_retry_attempts:
                    break
                with self._cond:
                    self.stats.retries += 1
                time.sleep(self._retry_delays_s[min(attempts - 1, len(self._retry_delays_s) - 1)])
            if result.function_error is not None and self.spec.on_failure:
                with self._cond:
                    self.stats.sent_to_destination += 1
                self._send_to_destination(
                    self.spec.on_failure, _invocation_record(self.spec, request_id, payload, result, attempts)
                )
        except Exception as exc:  # never lose an async event silently
            print(f"offline workers: async invocation of {self.spec.name} failed: {exc}", file=sys.stderr)
            with self._cond:
                self.stats.errors += 1
        finally:
            with self._cond:
                self._pending_async -= 1
                self._cond.notify_all()

    def _count(self, source: str, sync: bool) -> None:
        with self._cond:
            self.stats.invocations += 1
            if sync:
                self.stats.sync += 1
            else:
                self.stats.async_ += 1
            self.stats.by_source[source] = self.stats.by_source.get(source, 0) + 1

    def close(self) -> None:
        with self._cond:
            self._closed = True
            workers, self._all, self._idle = list(self._all), set(), []
            self._cond.notify_all()
        self._async.shutdown(wait=False, cancel_futures=True)
        # Busy workers too: a running invocation is cut short, as when Lambda tears an environment down.
        for worker in workers:
            worker.kill()


def _error_result(request_id: str, error_type: str, message: str) -> InvokeResult:
    body = {"errorMessage": message, "errorType": error_type}
    return InvokeResult(200, json.dumps(body).encode(), "Unhandled", request_id)


def _invocation_record(
    spec: FunctionSpec, request_id: str, payload: bytes, result: InvokeResult, attempts: int
) -> dict[str, Any]:
    """The record Lambda sends to an async invocation's on-failure destination."""
    try:
        request_payload = json.loads(payload or b"null")
    except ValueError:
        request_payload = payload.decode(errors="replace")
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{spec.arn}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": request_payload,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": json.loads(result.payload),
    }


def worker_environment(
    spec: FunctionSpec,
    endpoint: str,
    credentials: dict[str, str],
    region: str,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Exactly what a worker sees: the deployed environment plus what Lambda itself sets."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        # Lambda's reserved variables.
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"offline/{spec.name}",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "_HANDLER": spec.handler,
        # The function's own role, and every AWS call through the offline front door.
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
        "AWS_ENDPOINT_URL": endpoint,
        # Never the developer's ~/.aws, never an instance metadata service.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    env.update(spec.environment)
    # No X-Ray daemon offline: tracing would only log "cannot send segment" errors (deployed value wins).
    env.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    env.update(extra or {})
    return env


class Workers:
    """All functions' pools; invocations by function name or ARN."""

    def __init__(
        self,
        log_dir: Path,
        max_local_workers: int = 4,
        async_retry_delays_s: tuple[float, ...] = (1.0, 2.0),
    ) -> None:
        self.log_dir = log_dir
        self.max_local_workers = max_local_workers
        self.async_retry_delays_s = async_retry_delays_s
        self.pools: dict[str, FunctionPool] = {}

    def add(
        self,
        spec: FunctionSpec,
        env: dict[str, str],
        send_to_destination: Callable[[str, dict[str, Any]], None],
        ship_logs: Callable[[FunctionSpec, list[str]], None] | None = None,
    ) -> FunctionPool:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        pool = FunctionPool(
            spec,
            env,
            self.log_dir / f"{spec.name}.log",
            self.max_local_workers,
            send_to_destination,
            self.async_retry_delays_s,
            ship_logs,
        )
        self.pools[spec.name] = pool
        return pool

    def pool(self, name_or_arn: str) -> FunctionPool:
        name = name_or_arn
        if name.startswith("arn:"):
            parts = name.split(":")
            if len(parts) > 7 and parts[7] not in ("$LATEST",):
                raise KeyError(f"function {name_or_arn}: only $LATEST runs offline")
            name = parts[6]
        try:
            return self.pools[name]
        except KeyError:
            raise KeyError(f"Function not found: {name_or_arn}") from None

    @property
    def busy(self) -> bool:
        return any(pool.busy for pool in self.pools.values())

    def stats(self) -> dict[str, dict[str, Any]]:
        return {name: pool.stats.as_dict() for name, pool in self.pools.items()}

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()
