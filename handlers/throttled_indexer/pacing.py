"""Pacing: every worker together calls the gateway at its configured rate (GATEWAY_RATE_PER_SECOND).

Why one limiter shared by all workers, not each worker's share of the rate: workers run side by side with
unrelated phases, so two workers each calling every C/T seconds still send two calls closer together than
1/T whenever their phases drift close; a strict limiter (token bucket of size 1) refuses the second one.
`benchmarks/pacing_modes.py` measures both (docs/throttled-indexer.md, "Pacing").

The shared limiter is a slot book: one item per paced API in the import-history table, holding the time of
the next free call slot (`next_slot`, epoch seconds). A worker takes a slot with a conditional UpdateItem
(compare-and-set on the value it read: `next_slot = max(now, next_slot) + 1/rate`), waits until the slot
and calls. Whoever loses the race gets the current value back (ReturnValuesOnConditionCheckFailure) and
tries again, so no two calls share a slot, whatever the number of workers. Cost: one DynamoDB write per call
(plus one per lost race). The slots are wall-clock times: Lambda's clocks are kept by the Amazon Time Sync
Service, to within a millisecond, far below a slot at any quota a face index offers.

Item layout (handlers/common/history_schema.py allows other item kinds under their own pk prefix):
`pk = "pacer#<api>"`, `sk = "pacer"`, `next_slot` (Number). It carries none of the index attributes
(run_id, user_id, failure), so no history query ever sees it, and no TTL (one small item per API).
Permission: the history grant's dynamodb:GetItem / dynamodb:UpdateItem on the table (components/
throttled_indexer.py) already covers it; no new action or resource is needed.

What still throttles (another client of the same quota, a lower quota than configured, calls reaching a
strict limiter a few ms off their slots) leaves one slot empty for every worker: a throttled answer pushes
`next_slot` one interval further, so repeated throttling slows every worker down, not only the refused one.
The refused message itself waits the gateway's Retry-After (backoff.paced_delay). Holding the whole book
for the Retry-After instead would idle the gateway for at least a second per stray 429 (Retry-After
counts whole seconds). The client's adaptive retries stay as they are.

A call goes out on its slot or not at all. Two things would make it late: a reservation whose slot was
already due when the conditional write came back (the book was idle, and the write itself took a round trip),
and a worker that wakes up late. A late call crowds the call of the next slot, which a limiter without burst
then refuses (measured: 58 of 66 refused calls followed a call sent 20-1100 ms after its slot, docs/
offline-runtime.md, "Third measurement"). So each worker reserves its slot at least a round trip ahead
(`RoundTrip`: its own recent reservations' duration, mean plus twice the mean deviation, as TCP's RFC 6298
estimates a round trip), and a call found later than LATE_FRACTION of the interval after its slot gives the
slot up and takes the next free one (at most MAX_LATE_ROUNDS times): an empty slot costs a limiter with a
burst allowance nothing, a refused call costs every limiter a slot and a throttled answer.

Why calls are spaced at exactly 1/rate, with no margin: a limiter that allows a burst (a token bucket of a
second's worth, API Gateway's and Rekognition's kind) takes that at full rate. A strict limiter (no burst)
refuses any call that arrives even a millisecond early, and calls arrive off their slots by the request's
travel time; for such a gateway set the rate 5-10 % under its limit (docs/throttled-indexer.md, "Pacing";
`benchmarks/pacing_modes.py` measures it).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

from botocore.exceptions import ClientError

from handlers.common.history_schema import PARTITION_KEY, SORT_KEY
from handlers.throttled_indexer.gateway import (
    Gateway,
    GatewayBusy,
    Registration,
    RegistrationRequest,
)

PACER_PK_PREFIX = "pacer#"
PACER_SK = "pacer"
SLOT_ATTRIBUTE = "next_slot"
# A worker waits at most this long for its slot; a book further ahead (more workers than the rate serves in
# that time, or a long Retry-After) defers the message instead of holding the invocation.
DEFAULT_MAX_WAIT_SECONDS = 5.0
# Compare-and-set rounds before giving up on one reservation (each lost round means another call got a slot).
MAX_ROUNDS = 50
# A call this much of its interval behind its slot gives the slot up (module docstring): within it, a limiter
# without burst paced 5 % under its limit (docs/throttled-indexer.md, "Pacing") still sees calls 1/T apart.
LATE_FRACTION = 0.05
# Slots given up for lateness in one call before it goes out late anyway (a worker the machine starves).
MAX_LATE_ROUNDS = 3
# A reservation is taken no further ahead than this for its round trip, however slow the last ones were.
MAX_LEAD_SECONDS = 1.0
# The API names a gateway call is paced under: Rekognition's TPS quotas are per API operation ("Guidelines and
# quotas in Amazon Rekognition", Default quotas), so are the ones rekognitionMode users adds (each has its own
# quota); the HTTP API has one limit for all its calls.
REKOGNITION_APIS = ("IndexFaces", "DeleteFaces", "SearchFacesByImage")
REKOGNITION_USERS_APIS = ("CreateUser", "AssociateFaces", "DisassociateFaces", "ListFaces", "DeleteUser")
HTTP_API = "http"


class SlotBook(Protocol):
    def advance(self, api: str, step: Callable[[float | None], float | None]) -> tuple[float | None, float]:
        """Atomically replace the api's `next_slot` by `step(current)` (current None: never written); a step
        that returns None leaves it unchanged. Returns (current value used, new value)."""
        ...


class LocalSlotBook:
    """A slot book in this process's memory: for a single process (tests, benchmarks)."""

    def __init__(self) -> None:
        self._slots: dict[str, float] = {}
        self._lock = threading.Lock()

    def advance(self, api: str, step: Callable[[float | None], float | None]) -> tuple[float | None, float]:
        with self._lock:
            current = self._slots.get(api)
            new = step(current)
            if new is not None:
                self._slots[api] = new
            return current, (new if new is not None else current or 0.0)


class DynamoSlotBook:
    """The slot book shared by every worker: one item per API in the history table (module docstring)."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self._known: dict[str, float | None] = {}

    def advance(self, api: str, step: Callable[[float | None], float | None]) -> tuple[float | None, float]:
        key = {PARTITION_KEY: f"{PACER_PK_PREFIX}{api}", SORT_KEY: PACER_SK}
        if api not in self._known:
            item = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
            self._known[api] = _slot_of(item)
        for _ in range(MAX_ROUNDS):
            current = self._known[api]
            new = step(current)
            if new is None:
                return current, current or 0.0
            if current is None:
                condition, values = "attribute_not_exists(#slot)", {":new": Decimal(str(new))}
            else:
                condition = "#slot = :current"
                values = {":new": Decimal(str(new)), ":current": Decimal(str(current))}
            try:
                self._table.update_item(
                    Key=key,
                    UpdateExpression="SET #slot = :new",
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#slot": SLOT_ATTRIBUTE},
                    ExpressionAttributeValues=values,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                # Another worker took a slot first: its value comes back with the failure.
                self._known[api] = _slot_of(exc.response.get("Item"))
                continue
            self._known[api] = new
            return current, new
        raise RuntimeError(f"pacer {api}: no slot after {MAX_ROUNDS} rounds of contention")


def _microseconds_up(moment: float) -> float:
    """Slots are kept to the microsecond, rounded up: two slots are never closer than 1/rate (a limiter
    counting from the previous call must never find one a rounding error too early)."""
    return (math.floor(moment * 1_000_000) + 1) / 1_000_000


def _slot_of(item: dict[str, Any] | None) -> float | None:
    if not item or SLOT_ATTRIBUTE not in item:
        return None
    value = item[SLOT_ATTRIBUTE]
    if isinstance(value, dict):  # low-level client shape {"N": "..."}
        value = value["N"]  # a number attribute always has N
    return float(value)


class RoundTrip:
    """How long this worker's slot reservations take: the smoothed duration and its mean deviation, updated
    as RFC 6298 section 2 does for TCP's round trip (gains 1/8 and 1/4); `lead` is how far ahead of now a
    slot is reserved so that the reservation is back before the slot is due."""

    def __init__(self) -> None:
        self._smoothed: float | None = None
        self._deviation = 0.0

    def observe(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        if self._smoothed is None:
            self._smoothed, self._deviation = seconds, seconds / 2
            return
        self._deviation += (abs(self._smoothed - seconds) - self._deviation) / 4
        self._smoothed += (seconds - self._smoothed) / 8

    @property
    def lead(self) -> float:
        if self._smoothed is None:
            return 0.0
        return min(MAX_LEAD_SECONDS, self._smoothed + 2 * self._deviation)


class Booked(GatewayBusy):
    """The pacer's book is further ahead than a worker waits: nothing was sent (not a gateway's answer)."""


class Pacer:
    """Hands out call slots `1/rate` apart per API, shared through `book`; waits for them."""

    def __init__(
        self,
        rates: dict[str, float],
        book: SlotBook,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS,
    ) -> None:
        for api, rate in rates.items():
            if not rate > 0:
                raise ValueError(f"pacing rate of {api} must be > 0, got {rate}")
        self.rates = dict(rates)
        self._book = book
        self._clock = clock
        self._sleep = sleep
        self._max_wait = max_wait_seconds
        self._round_trips: dict[str, RoundTrip] = {}
        self.late_slots = 0
        """Slots given up because this worker reached them late (acquire)."""

    def paces(self, api: str) -> bool:
        return api in self.rates

    def acquire(self, api: str) -> float:
        """Wait for this call's slot and return its time. Raises GatewayBusy (nothing called, nothing
        registered) when the book is further ahead than max_wait_seconds. A slot this worker reaches later
        than LATE_FRACTION of the interval is given up for the next free one (module docstring)."""
        if api not in self.rates:
            return self._clock()
        interval = 1.0 / self.rates[api]
        for given_up in range(MAX_LATE_ROUNDS + 1):
            slot = self._reserve(api, interval)
            wait = slot - self._clock()
            if wait > 0:
                self._sleep(wait)
            if self._clock() - slot <= LATE_FRACTION * interval:
                break
            if given_up < MAX_LATE_ROUNDS:
                self.late_slots += 1
        return slot

    def _reserve(self, api: str, interval: float) -> float:
        """Take the next free slot at least this worker's reservation round trip ahead of now."""
        trip = self._round_trips.setdefault(api, RoundTrip())
        lead = trip.lead
        taken: list[float] = []
        stepped = [0.0]

        def step(current: float | None) -> float | None:
            now = stepped[0] = self._clock()
            slot = max(now + lead, current if current is not None else now)
            if slot - now > self._max_wait:
                taken.clear()
                return None
            taken[:] = [slot]
            return _microseconds_up(slot + interval)

        current, _ = self._book.advance(api, step)
        if not taken:
            ahead = (current or stepped[0]) - stepped[0]
            raise Booked(
                f"paced {api}: the gateway is booked for {ahead:.1f} s",
                retry_after=ahead,
                may_have_registered=False,
                throttled=True,
            )
        trip.observe(self._clock() - stepped[0])  # only a write that was sent is a round trip
        return taken[0]

    def hold(self, api: str) -> None:
        """The gateway throttled a paced call: the book moves one slot further (module docstring)."""
        if api not in self.rates:
            return
        interval = 1.0 / self.rates[api]
        now = self._clock()

        def step(current: float | None) -> float | None:
            return _microseconds_up(max(now, current if current is not None else now) + interval)

        self._book.advance(api, step)

    def booked_seconds(self, api: str) -> float:
        """How far ahead of now the api's book is (0 when free): what a deferred message waits at least."""
        if api not in self.rates:
            return 0.0
        current, _ = self._book.advance(api, lambda current: None)
        return max(0.0, (current or 0.0) - self._clock())


class PacedGateway:
    """A gateway whose calls wait for their slot (Pacer); what still throttles moves the shared book.

    The wait happens inside the gateway, right before each request is sent (`pace_calls`: after the HTTP
    connection is open; botocore's before-send event for Rekognition, so the client's adaptive retries are
    paced too): the less that happens between the slot and the request, the closer to its slot a call arrives.
    """

    def __init__(self, inner: PaceableGateway, pacer: Pacer) -> None:
        self._inner = inner
        self._pacer = pacer
        self.name = inner.name
        self.needs_bytes = inner.needs_bytes
        self.registers_per_image = inner.registers_per_image
        rekognition = inner.name == "rekognition"
        # Which paced API a throttled answer of each operation came from, when the answer does not say
        # (`GatewayBusy.api`: an operation of several calls, e.g. register in rekognitionMode users).
        self._apis = {
            "register": "IndexFaces" if rekognition else HTTP_API,
            "find_registration": "SearchFacesByImage" if rekognition else HTTP_API,
            "deregister": "DeleteFaces" if rekognition else HTTP_API,
        }
        self._attempts = threading.local()
        inner.pace_calls(self._before_send)

    def register(self, request: RegistrationRequest) -> Registration:
        return self._call("register", self._inner.register, request)

    def find_registration(self, request: RegistrationRequest) -> Registration | None:
        return self._call("find_registration", self._inner.find_registration, request)

    def deregister(self, user_id: str, face_ids: tuple[str, ...], image_id: str | None) -> None:
        return self._call("deregister", self._inner.deregister, user_id, face_ids, image_id)

    def _before_send(self, api: str) -> None:
        """Each request of a gateway call, the client's retries included, waits for its own slot."""
        self._attempts.count = getattr(self._attempts, "count", 0) + 1
        try:
            self._pacer.acquire(api)
        except Booked as booked:
            if self._attempts.count == 1:
                raise  # nothing was sent for this call
            # A retry of a request that may have been processed (a timeout): not provably harmless.
            raise GatewayBusy(booked.reason, booked.retry_after, throttled=True) from booked

    def _call(self, operation: str, call: Callable[..., Any], *args: Any) -> Any:
        self._attempts.count = 0
        try:
            return call(*args)
        except Booked:
            raise
        except GatewayBusy as busy:
            if busy.throttled:
                self._pacer.hold(busy.api or self._apis[operation])
            raise


class PaceableGateway(Gateway, Protocol):
    def pace_calls(self, before_call: Callable[[str], None]) -> None:
        """Have `before_call(<paced API>)` called right before each request is sent."""
        ...
