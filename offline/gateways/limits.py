"""What both emulated gateways share: a token-bucket rate limit, fault injection and a registration registry.

The registry is the ground truth the demo report and the end-to-end tests check against: which registrations
exist, which were created while an identical one was still active ("registered twice"), and which were
removed.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

Clock = Callable[[], float]


class TokenBucket:
    """`rate_per_s` requests per second on average, bursts up to `burst` (default: one second's worth)."""

    def __init__(self, rate_per_s: float | None, burst: float | None = None, clock: Clock = time.monotonic):
        if rate_per_s is not None and rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be > 0 or None (unlimited), got {rate_per_s}")
        self.rate_per_s = rate_per_s
        self.capacity = float(burst if burst is not None else max(1.0, rate_per_s or 1.0))
        if self.capacity < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self._clock = clock
        self._tokens = self.capacity
        self._last = clock()
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        """Take one token if there is one; never blocks."""
        if self.rate_per_s is None:
            return True
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate_per_s)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


FaultKind = Literal["outage", "throttle", "timeout", "timeout_after_success", "crash_before", "crash_after"]
CRASH_KINDS = ("crash_before", "crash_after")


@dataclass(frozen=True)
class Fault:
    """A window in which requests fail with `kind`.

    The window is counted in requests (`after_requests`, `requests`: deterministic, what tests use) or in
    seconds since the plan started (`after_s`, `duration_s`: what an "outage that recovers" looks like live).
    kinds: outage (HTTP 500 / InternalServerError), throttle (429 / ThrottlingException), timeout (the answer
    comes after the client gave up, request not processed), timeout_after_success (processed, then too slow),
    crash_before (the calling worker is killed before the request is processed: nothing registered),
    crash_after (processed, then the calling worker is killed before the answer reaches it: a registration
    the caller never hears of). The crash kinds need the plan's `crash` callback (`FaultPlan(crash=...)`).
    """

    kind: FaultKind
    after_requests: int = 0
    requests: int | None = None
    after_s: float | None = None
    duration_s: float | None = None

    def __post_init__(self) -> None:
        timed = self.after_s is not None or self.duration_s is not None
        if timed and (self.after_s is None or self.duration_s is None):
            raise ValueError("a timed fault needs both after_s and duration_s")
        if timed and self.requests is not None:
            raise ValueError("a fault window is counted in requests or in seconds, not both")
        if not timed and self.requests is None:
            raise ValueError("a fault needs `requests` (a count) or `after_s` + `duration_s` (a time window)")

    def active(self, request_index: int, elapsed_s: float) -> bool:
        if self.requests is not None:
            return self.after_requests <= request_index < self.after_requests + self.requests
        assert self.after_s is not None and self.duration_s is not None
        return self.after_s <= elapsed_s < self.after_s + self.duration_s


class FaultPlan:
    """Decides, request by request, whether a fault applies. Thread-safe; faults may be added at any time.

    The fault-injection interface of both emulated gateways (rekognition, registration_api):
    each data-plane request calls `next(subject)` once, after the rate limit let it through, and applies
    the kind returned (see `Fault`); `injected` counts them by kind and `log` keeps (kind, subject) per
    injected fault, so a soak can tell which object a fault hit. `crash`: kills the calling worker(s)
    (e.g. `FunctionPool.kill_busy_workers`), returns how many; needed by the crash kinds.
    """

    def __init__(
        self,
        faults: Iterable[Fault] = (),
        clock: Clock = time.monotonic,
        crash: Callable[[], int] | None = None,
    ):
        self._faults = list(faults)
        self._clock = clock
        self._start = clock()
        self._count = 0
        self._lock = threading.Lock()
        self.crash_callback = crash
        self.injected: Counter[str] = Counter()
        self.log: list[tuple[str, str | None]] = []
        """(kind, subject) of every injected fault, in order."""
        self.crashed_workers = 0
        """Workers the crash callback reported killed."""

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def add_from_now(
        self, kind: FaultKind, *, requests: int | None = None, duration_s: float | None = None
    ) -> None:
        """A fault starting with the next request, for `requests` requests or `duration_s` seconds."""
        with self._lock:
            if duration_s is not None:
                fault = Fault(kind, after_s=self._clock() - self._start, duration_s=duration_s)
            else:
                fault = Fault(kind, after_requests=self._count, requests=requests)
            self._faults.append(fault)

    def next(self, subject: str | None = None) -> FaultKind | None:
        """Count one request; return the fault that applies to it, if any. `subject`: what the request is
        about (an object `bucket/key`, a user id), kept in `log`."""
        with self._lock:
            index = self._count
            self._count += 1
            elapsed = self._clock() - self._start
            for fault in self._faults:
                if fault.active(index, elapsed):
                    if fault.kind in CRASH_KINDS and self.crash_callback is None:
                        raise RuntimeError(f"fault {fault.kind} needs FaultPlan(crash=...): nothing to kill")
                    self.injected[fault.kind] += 1
                    self.log.append((fault.kind, subject))
                    return fault.kind
        return None

    def crash(self) -> int:
        """Kill the calling worker(s) now (a crash fault); returns how many were killed."""
        if self.crash_callback is None:
            raise RuntimeError("FaultPlan.crash: no crash callback was given")
        killed = self.crash_callback()
        with self._lock:
            self.crashed_workers += killed
        return killed


@dataclass
class Registration:
    id: str
    user_id: str
    fingerprint: str
    """SHA-256 hex of the image bytes."""
    source: str | None = None
    """`bucket/key#version` when the gateway knows which object the image came from (Rekognition S3Object)."""
    created_at: float = field(default_factory=time.time)
    deleted_at: float | None = None

    @property
    def active(self) -> bool:
        return self.deleted_at is None


class Registry:
    """Every registration a gateway made, with the checks the demo report runs."""

    def __init__(self, on_add: Callable[[Registration], None] | None = None) -> None:
        """on_add: called with each new registration, after it is stored (outside the registry's lock); a
        soak deletes the object then, while the indexer has not recorded the registration yet."""
        self._by_id: dict[str, Registration] = {}
        self._active_by_identity: dict[tuple[str, str], list[str]] = {}
        self._lock = threading.Lock()
        self.on_add = on_add
        self.duplicates: list[Registration] = []
        """Registrations created while one with the same (user id, fingerprint) was active."""

    def find_active(self, user_id: str, fingerprint: str) -> Registration | None:
        with self._lock:
            ids = self._active_by_identity.get((user_id, fingerprint), [])
            return self._by_id[ids[0]] if ids else None

    def add(
        self, user_id: str, fingerprint: str, source: str | None = None, reg_id: str | None = None
    ) -> Registration:
        with self._lock:
            registration = Registration(reg_id or str(uuid.uuid4()), user_id, fingerprint, source)
            active = self._active_by_identity.setdefault((user_id, fingerprint), [])
            if active:
                self.duplicates.append(registration)
            active.append(registration.id)
            self._by_id[registration.id] = registration
        if self.on_add is not None:
            self.on_add(registration)
        return registration

    def remove(self, reg_id: str) -> Registration | None:
        """Mark a registration deleted; None when the id is unknown or already deleted."""
        with self._lock:
            registration = self._by_id.get(reg_id)
            if registration is None or not registration.active:
                return None
            registration.deleted_at = time.time()
            self._active_by_identity[(registration.user_id, registration.fingerprint)].remove(reg_id)
            return registration

    def get(self, reg_id: str) -> Registration | None:
        with self._lock:
            return self._by_id.get(reg_id)

    def active(self) -> list[Registration]:
        with self._lock:
            return [r for r in self._by_id.values() if r.active]

    def all(self) -> list[Registration]:
        with self._lock:
            return list(self._by_id.values())

    def rate(self) -> float:
        """Registrations per second from the first to the last one (0 with fewer than two): the rate the
        gateway was driven at, without the pipeline's start-up before the first one."""
        times = sorted(r.created_at for r in self.all())
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        return (len(times) - 1) / span if span > 0 else 0.0
