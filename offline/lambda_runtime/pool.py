"""The execution environments of one Lambda function: a pool of worker processes.

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

from offline.deployment.deployed import FunctionSpec
from offline.lambda_runtime.process import WorkerProcess


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
        self._idle: list[WorkerProcess] = []
        self._all: set[WorkerProcess] = set()
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

    def _take_worker(self) -> WorkerProcess:
        with self._cond:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive:
                    return worker
                worker.kill()
            self._started += 1
        worker = WorkerProcess(self.spec, self.env, self.log_file)
        with self._cond:
            self._all.add(worker)
        return worker

    def _return_worker(self, worker: WorkerProcess) -> None:
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
