"""Soak: the dev stack in the offline runtime importing a few thousand images under a random mix of faults.

Faults, chosen from `--seed`:
- gateway: throttling (429 / ThrottlingException), outages (5xx), timeouts (before and after processing),
  windows counted in gateway requests (offline.gateways.limits.FaultPlan);
- worker kills: the calling indexer environment is killed when its request reaches the gateway (before it is
  processed: `crash_before`) or after the gateway processed it (`crash_after`: a registration the worker
  never hears of);
- the same inventory delivered again (during the run and after it), qualifier messages sent twice, in-flight
  indexer messages made visible again (a visibility timeout that expires while a worker still holds them),
  deletes racing imports (an object deleted right after its face was registered, before the indexer records
  it) and deletes at any moment of the run.
At the end benchmarks.soak_checks reads S3, the history table, the gateway's registry and the DLQ and checks:
every object indexed or with a recorded reason, no face registered twice, no face of a deleted object left,
every DLQ message matched to a recorded failure. Prints the faults injected and survived (the object a fault
hit passed every check), duration and rate; exit status 1 on any failed check or when the run did not settle
within `--timeout`.

Run: .venv/bin/python -m benchmarks.soak [--images 2000] [--seed 1] [--gateway rekognition|http]
     [--rate 20] [--timeout 1800]        (make soak SOAK_ARGS="--images 500 --seed 3")

Time compression (not AWS's values, printed): failed messages reappear after 1 s, the indexer's back-off base
is 1 s, its function timeout 30 s (a killed worker's claim is kept until its lease runs out: ~90 s).
Everything binds to 127.0.0.1; the runtime's worker processes and work directory go when it ends.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import queue
import random
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("AWS_ACCESS_KEY_ID", "soak")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "soak")

from moto.sqs.models import sqs_backends

from benchmarks.soak_checks import Problem, SoakState, collect_state, find_problems, run_checks
from handlers.throttled_indexer.rekognition_gateway import external_image_id
from offline.demo.report import Check
from offline.deployment.program import REPO_ROOT, read_stack_config
from offline.gateways.limits import Fault, FaultPlan, Registration, Registry
from offline.gateways.registration_api import RegistrationApi
from offline.runtime import OfflineRuntime
from tests.e2e.e2e_support import deliver_inventory, make_rekognition, png, put_images, redeliver

STACK = "dev"
# A killed worker's claim is kept for the invocation's time left + 60 s: a short function timeout keeps the
# wait for it near 90 s. Not shorter: the indexer starts no message with less than 2 x the gateway timeout
# + 5 s left, so at 15 s (tests/e2e's crash test) most of each batch comes back as retry:time (~1 image/s).
SHORT_TIMEOUTS = {"throttledIndexer": {"timeoutSeconds": 30, "gatewayTimeoutSeconds": 2}}
# Seconds a "timeout" fault holds the answer: longer than the indexer's gateway timeout above.
GATEWAY_DELAY_S = 3.0
FAST_INDEXER = {"BACKOFF_BASE_SECONDS": "1", "BACKOFF_MAX_SECONDS": "4", "AWS_MAX_ATTEMPTS": "2"}
GATEWAY_KINDS = ("throttle", "outage", "timeout", "timeout_after_success")
CRASH_KINDS = ("crash_before", "crash_after")
PROGRESS_EVERY_S = 30.0


@dataclass
class SoakPlan:
    """What to inject; `plan_faults` draws one from a seed, tests write their own."""

    gateway_faults: list[Fault] = field(default_factory=list)
    duplicate_messages: set[int] = field(default_factory=set)
    """Indexes (0-based, in send order) of the qualifier's SendMessage calls whose message is sent again."""
    redeliver_inventory_at: list[int] = field(default_factory=list)
    """Registration counts at which the inventory is delivered again (plus once after the run settled)."""
    expire_visibility_at: list[int] = field(default_factory=list)
    """Registration counts at which the indexer queue's in-flight messages become visible again."""
    race_deletes: set[int] = field(default_factory=set)
    """Image numbers deleted as soon as their face is registered (before the indexer records it)."""
    deletes_at: dict[int, int] = field(default_factory=dict)
    """Registration count -> image number deleted then (it may be imported already, or not yet)."""

    def describe(self) -> str:
        kinds = Counter(f.kind for f in self.gateway_faults)
        return (
            f"gateway fault windows {dict(kinds)}, {len(self.duplicate_messages)} messages sent twice, "
            f"inventory again at registrations {self.redeliver_inventory_at} + after the run, visibility "
            f"expiries at {self.expire_visibility_at}, {len(self.race_deletes)} racing deletes, "
            f"{len(self.deletes_at)} deletes at random moments"
        )


def plan_faults(seed: int, images: int) -> SoakPlan:
    """A random mix scaled to the run: about one gateway fault window per 100 expected gateway requests."""
    rng = random.Random(seed)
    requests = int(images * 1.2)  # IndexFaces per image plus searches, deletes and retries
    faults: list[Fault] = []
    for _ in range(max(2, requests // 100)):
        kind = rng.choice(GATEWAY_KINDS)
        length = rng.randint(1, 3) if kind.startswith("timeout") else rng.randint(2, 10)
        faults.append(Fault(kind, after_requests=rng.randrange(requests), requests=length))
    for _ in range(max(1, images // 700)):
        for kind in CRASH_KINDS:
            faults.append(Fault(kind, after_requests=rng.randrange(requests), requests=1))
    numbers = list(range(images))
    rng.shuffle(numbers)
    deletes = max(1, images // 200)
    race, later = numbers[:deletes], numbers[deletes : 2 * deletes]
    return SoakPlan(
        gateway_faults=faults,
        duplicate_messages=set(rng.sample(range(images), max(1, images // 100))),
        redeliver_inventory_at=[rng.randrange(1, max(2, images // 2))],
        expire_visibility_at=sorted(rng.sample(range(1, images), min(images - 1, max(1, images // 400)))),
        race_deletes=set(race),
        deletes_at={rng.randrange(1, images): n for n in later},
    )


class Injector:
    """Carries out the plan's non-gateway faults. Hooks (registry additions, front-door calls) only enqueue;
    one thread acts, so no emulator request thread waits on an injected action."""

    def __init__(self, runtime: OfflineRuntime, plan: SoakPlan, keys: list[str]) -> None:
        self.runtime = runtime
        self.plan = plan
        self.keys = keys
        # (user id, image SHA-256) -> key: put_images gives key n png(n + 1) and UserId user-<n + 1>; png
        # repeats every 256 seeds (one photo, several users), so the bytes alone do not name the object.
        self.key_of_identity = {
            (user, hashlib.sha256(png(n + 1)).hexdigest()): key
            for n, key in enumerate(keys)
            for user in {f"user-{n + 1}", external_image_id(f"user-{n + 1}")}
        }
        self.number_of_key = {key: n for n, key in enumerate(keys)}
        outputs = runtime.deployment.outputs  # type: ignore[union-attr]
        self.bucket = outputs["image_bucket_name"]
        self.queue_name = outputs["queue_url"].rsplit("/", 1)[-1]
        self.queue_url = f"{runtime.endpoint}/{runtime.account_id}/{self.queue_name}"
        self.qualifier_role = outputs["batch_function_role_arn"].rsplit("/", 1)[-1]
        self.delivery: Any = None
        self.injected: Counter[str] = Counter()
        self.subjects: list[tuple[str, str]] = []
        """(fault kind, object key) of each fault injected here."""
        self._registrations = 0
        self._sends = 0
        self._deleted: set[str] = set()
        self._lock = threading.Lock()
        self._actions: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="soak-injector", daemon=True)
        self.errors: list[str] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._actions.put(None)
        self._thread.join(timeout=30)

    def drain(self, timeout_s: float = 30.0) -> None:
        """Wait until every queued action ran."""
        done = threading.Event()
        self._actions.put(done.set)
        done.wait(timeout_s)

    def _loop(self) -> None:
        while (action := self._actions.get()) is not None:
            try:
                action()
            except Exception as exc:  # an injection that failed is reported, the soak goes on
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def _note(self, kind: str, key: str) -> None:
        with self._lock:
            self.injected[kind] += 1
            self.subjects.append((kind, key))

    # -- hooks ----------------------------------------------------------------------------------------------
    def on_registration(self, registration: Registration) -> None:
        key = self.key_of_identity.get((registration.user_id, registration.fingerprint))
        with self._lock:
            count = self._registrations = self._registrations + 1
        if key is not None and self.number_of_key[key] in self.plan.race_deletes:
            self._actions.put(lambda: self._delete(key, "delete racing the import"))
        if count in self.plan.deletes_at:
            later = self.keys[self.plan.deletes_at[count]]
            self._actions.put(lambda: self._delete(later, "delete at a random moment"))
        if count in self.plan.redeliver_inventory_at:
            self._actions.put(self._redeliver)
        if count in self.plan.expire_visibility_at:
            self._actions.put(self._expire_visibility)

    def on_api_call(self, request: Any, status: int) -> None:
        target = request.headers.get("X-Amz-Target") or request.headers.get("x-amz-target") or ""
        if request.service != "sqs" or not target.endswith(".SendMessage") or status != 200:
            return
        if request.caller.role_name != self.qualifier_role:
            return
        with self._lock:
            index, self._sends = self._sends, self._sends + 1
        if index in self.plan.duplicate_messages:
            body = json.loads(request.body)["MessageBody"]
            self._actions.put(lambda: self._send_again(body))

    # -- actions --------------------------------------------------------------------------------------------
    def _delete(self, key: str, kind: str) -> None:
        with self._lock:
            if key in self._deleted:
                return
            self._deleted.add(key)
        self.runtime.client("s3").delete_object(Bucket=self.bucket, Key=key)
        self._note(kind, key)

    def _send_again(self, body: str) -> None:
        self.runtime.client("sqs").send_message(QueueUrl=self.queue_url, MessageBody=body)
        self._note("message sent twice", json.loads(body)["object"]["key"])

    def _redeliver(self) -> None:
        if self.delivery is not None:
            redeliver(self.runtime, self.delivery)
            with self._lock:
                self.injected["inventory delivered again"] += 1

    def _expire_visibility(self) -> None:
        """The messages a worker holds become visible again, as when their visibility timeout runs out first
        (moto's own backend call, what ChangeMessageVisibility does)."""
        backend = sqs_backends[self.runtime.account_id][self.runtime.region]
        for message in list(backend.get_queue(self.queue_name).pending_messages)[:2]:
            backend.change_message_visibility(self.queue_name, message.receipt_handle, 0)
            try:
                key = json.loads(message.body)["object"]["key"]
            except (ValueError, KeyError, TypeError):
                key = ""  # a raw EventBridge delete event
            self._note("visibility expired in flight", key)

    def redeliver_now(self) -> None:
        self._actions.put(self._redeliver)


@dataclass
class SoakResult:
    images: int
    gateway: str
    seconds: float
    indexed: int
    statuses: Counter[str]
    checks: list[Check]
    injected: Counter[str]
    survived: Counter[str]
    plan: str
    settled: bool = True
    injection_errors: list[str] = field(default_factory=list)
    state: SoakState | None = field(default=None, repr=False)
    """The end state the checks read (tests plant faults in it)."""

    @property
    def passed(self) -> bool:
        return self.settled and not self.injection_errors and all(c.passed for c in self.checks)


def run(
    images: int,
    seed: int,
    gateway: str = "rekognition",
    rate: float | None = 20.0,
    timeout_s: float = 1800.0,
    plan: SoakPlan | None = None,
) -> SoakResult:
    plan = plan or plan_faults(seed, images)
    deadline = time.monotonic() + timeout_s
    registry = Registry()
    faults = FaultPlan(plan.gateway_faults)
    last_line = [time.monotonic()]

    def progress(kind: str, stats: dict[str, Any]) -> None:
        """A line every PROGRESS_EVERY_S while the run goes on (a soak takes minutes)."""
        if kind != "tick" or time.monotonic() - last_line[0] < PROGRESS_EVERY_S:
            return
        last_line[0] = time.monotonic()
        depths = ", ".join(f"{name} {sum(d.values())}" for name, d in sorted(stats["queues"].items()))
        print(
            f"  [{time.monotonic() - deadline + timeout_s:6.0f}s] registrations {len(registry.all())} "
            f"(active {len(registry.active())}), gateway faults {dict(faults.injected)}, queues: {depths}",
            flush=True,
        )

    overrides: dict[str, Any] = json.loads(json.dumps(SHORT_TIMEOUTS))
    runtime = OfflineRuntime(
        max_local_workers=4,
        failed_visibility_timeout_s=1,
        worker_env={"indexer-function": FAST_INDEXER},
        batch_retry_delays_s=(0.2, 0.5, 1.0),
        async_retry_delays_s=(0.5, 1.0),
        progress=progress,
    )
    api: RegistrationApi | None = None
    injector: Injector | None = None
    try:
        runtime.start()
        region = read_stack_config(REPO_ROOT, STACK, overrides)[1].get("aws:region", runtime.region)
        faces = make_rekognition(
            runtime,
            region=region,
            rate_per_s=rate,
            faults=faults,
            registry=registry,
            timeout_delay_s=GATEWAY_DELAY_S,
        )
        runtime.set_rekognition_handler(faces)
        if gateway == "http":
            api = RegistrationApi(
                rate_per_s=rate, faults=faults, registry=registry, timeout_delay_s=GATEWAY_DELAY_S
            )
            overrides["throttledIndexer"].update({"gateway": "http", "gatewayUrl": api.start()})
        runtime.deploy(STACK, overrides)
        runtime.enforce_iam()
        assert runtime.workers is not None and runtime.deployment is not None
        faults.crash_callback = runtime.workers.pool(
            runtime.deployment.outputs["indexer_function_name"]
        ).kill_busy_workers
        keys = [f"soak/user {n:05d}/photo+{n}.png" for n in range(images)]
        rows = put_images(runtime, keys)
        injector = Injector(runtime, plan, keys)
        registry.on_add = injector.on_registration
        runtime.on_api_call(injector.on_api_call)
        injector.start()
        started = time.monotonic()
        settled = True
        try:
            injector.delivery = deliver_inventory(runtime, rows)
            runtime.run_until_idle(max(1.0, deadline - time.monotonic()))
            injector.drain()
            injector.redeliver_now()  # once more after everything finished
            injector.drain()
            runtime.run_until_idle(max(1.0, deadline - time.monotonic()))
        except TimeoutError as exc:
            print(f"soak: the run did not settle within --timeout: {exc}", file=sys.stderr)
            settled = False
        seconds = time.monotonic() - started
        injector.stop()
        state = collect_state(runtime, registry)
        problems = find_problems(state)
        return _result(images, gateway, seconds, state, problems, faults, injector, plan, settled)
    finally:
        if injector is not None:
            injector.stop()
        if api is not None:
            api.stop()
        runtime.stop()


def _result(
    images: int,
    gateway: str,
    seconds: float,
    state: SoakState,
    problems: list[Problem],
    faults: FaultPlan,
    injector: Injector,
    plan: SoakPlan,
    settled: bool,
) -> SoakResult:
    failing = {p.key for p in problems}
    injected: Counter[str] = Counter()
    survived: Counter[str] = Counter()

    def count(kind: str, key: str | None) -> None:
        injected[kind] += 1
        # Survived: the object the fault hit passed every check (a fault with no object: every check passed).
        if (key not in failing if key else not problems) and settled:
            survived[kind] += 1

    prefix = f"{injector.bucket}/"
    for kind, subject in faults.log:
        key = subject.removeprefix(prefix) if subject and subject.startswith(prefix) else None
        if key is None and subject and subject.startswith("user-"):  # the HTTP API's subject: the UserId
            number = int(subject.removeprefix("user-")) - 1
            key = injector.keys[number] if 0 <= number < len(injector.keys) else None
        count(f"gateway {kind}", key)
    for kind, key in injector.subjects:
        count(kind, key or None)
    for _ in range(injector.injected["inventory delivered again"]):
        count("inventory delivered again", None)
    if faults.crashed_workers:
        injected["workers killed (by the crash faults)"] = faults.crashed_workers
    statuses: Counter[str] = Counter()
    for key in state.objects:
        records = state.records.get(key, [])
        statuses[records[-1].status if records else "no record"] += 1
    indexed = sum(1 for key, records in state.records.items() if any(r.status == "indexed" for r in records))
    checks = run_checks(state, problems)
    return SoakResult(
        images,
        gateway,
        seconds,
        indexed,
        statuses,
        checks,
        injected,
        survived,
        plan.describe(),
        settled,
        list(injector.errors),
        state,
    )


def report(result: SoakResult) -> str:
    lines = [
        "",
        f"soak: {result.images} images, gateway {result.gateway}, {result.seconds:.1f} s, "
        f"{result.images / result.seconds if result.seconds else 0:.2f} images/s "
        "(from the inventory delivery until idle)",
        f"  plan: {result.plan}",
        f"  final states: {dict(sorted(result.statuses.items()))}; indexed {result.indexed}",
        "  faults injected / survived:",
    ]
    for kind in sorted(result.injected):
        survived = result.survived.get(kind)
        tail = "" if kind.startswith("workers killed") else f" / {survived or 0}"
        lines.append(f"    {kind:<44} {result.injected[kind]:>5}{tail}")
    if not result.settled:
        lines.append("  [FAIL] settled within --timeout")
    for error in result.injection_errors[:5]:
        lines.append(f"  [FAIL] injection error: {error}")
    for check in result.checks:
        lines.append(
            f"  [{'PASS' if check.passed else 'FAIL'}] {check.name}"
            + (f": {check.detail}" if check.detail else "")
        )
    lines.append(
        "  (time compression: failed messages reappear after 1 s, back-off base 1 s, function timeout 30 s)"
    )
    lines.append("SOAK PASSED" if result.passed else "SOAK FAILED")
    return "\n".join(lines)


# Not named `main`: `make bench` runs every benchmarks module with a `main()`, and a soak of minutes has its
# own target (`make soak`).
def soak_cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000, help="images to import (default 2000)")
    parser.add_argument("--seed", type=int, default=1, help="chooses the faults (default 1)")
    parser.add_argument("--gateway", choices=("rekognition", "http"), default="rekognition")
    parser.add_argument(
        "--rate", type=float, default=20.0, help="gateway requests/s (default 20; 0: unlimited)"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds for the whole run (default 1800)"
    )
    args = parser.parse_args(argv)
    if args.images < 10:
        parser.error("--images must be at least 10")

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # `kill <pid>` ends it like Ctrl-C: the runtime's `finally` removes its workers and work directory.
    signal.signal(signal.SIGTERM, stop)
    result = run(args.images, args.seed, args.gateway, args.rate or None, args.timeout)
    print(report(result), flush=True)
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(soak_cli())
