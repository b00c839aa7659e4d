"""Pacing (handlers/throttled_indexer/pacing.py): the slot book shared through the history table (moto), the
pacer holding a strict limit under several workers (simulated time, no real sleeps), the paced gateway
against a real local registration API, and the rate-bounded back-off of throttled messages in a batch."""

from __future__ import annotations

import itertools
import random

import boto3
import pytest
from indexer_fixtures import (
    import_message,
    jpeg_bytes,
    put_image,
    receive_as_lambda,
    runner_for,
)

from handlers.common.contracts import dump_message
from handlers.common.history_schema import (
    FAILURE_ATTRIBUTE,
    PARTITION_KEY,
    RUN_ATTRIBUTE,
    SORT_KEY,
    TTL_ATTRIBUTE,
    USER_ATTRIBUTE,
)
from handlers.throttled_indexer.backoff import paced_delay
from handlers.throttled_indexer.gateway import GatewayBusy, RegistrationRequest
from handlers.throttled_indexer.http_gateway import HttpGateway
from handlers.throttled_indexer.pacing import (
    PACER_PK_PREFIX,
    SLOT_ATTRIBUTE,
    DynamoSlotBook,
    LocalSlotBook,
    PacedGateway,
    Pacer,
)
from offline.gateways.limits import TokenBucket
from offline.gateways.registration_api import RegistrationApi

RATE = 5.0


class SimClock:
    """Simulated time: `sleep` moves it, nothing waits for real."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


# ------------------------------------------------------------------------------------------ the slot book
def test_workers_racing_for_slots_in_dynamodb_each_get_their_own_slot(history_table):
    """Four workers (each its own book and client, as separate Lambda environments) take 25 slots each at
    the same instant, in turn: every book but the last writer's is stale, so each reservation first loses the
    conditional write, learns the current slot from the failure and takes the next one. 100 distinct slots,
    1/rate apart, none lost to the races."""
    workers, per_worker = 4, 25
    books = [
        DynamoSlotBook(boto3.resource("dynamodb", region_name="us-east-1").Table(history_table.name))
        for _ in range(workers)
    ]
    pacers = [
        Pacer({"IndexFaces": RATE}, book, clock=lambda: 1_000.0, sleep=lambda s: None, max_wait_seconds=1e6)
        for book in books
    ]
    lost: list[int] = []
    for book in books:  # count the lost conditional writes
        update = book._table.update_item

        def counting(*args, _update=update, **kwargs):
            try:
                return _update(*args, **kwargs)
            except Exception:
                lost.append(1)
                raise

        book._table.update_item = counting
    slots = [pacer.acquire("IndexFaces") for _ in range(per_worker) for pacer in pacers]
    assert len(set(slots)) == workers * per_worker
    expected = [1_000.0 + n / RATE for n in range(workers * per_worker)]
    assert sorted(slots) == pytest.approx(expected, abs=1e-3)
    gaps = [b - a for a, b in itertools.pairwise(sorted(slots))]
    assert min(gaps) >= 1 / RATE  # rounded up to the microsecond, never down
    assert len(lost) >= workers * per_worker - 1 - workers  # the races did happen (stale books)


def test_the_pacer_item_stays_out_of_every_history_query(history_table):
    """Item layout: pk pacer#<api>, sk pacer, next_slot only: no index attribute (run, user, failure) and
    no TTL."""
    Pacer(
        {"DeleteFaces": RATE}, DynamoSlotBook(history_table), clock=lambda: 50.0, sleep=lambda s: None
    ).acquire("DeleteFaces")
    items = history_table.scan()["Items"]
    assert len(items) == 1
    item = items[0]
    assert (item[PARTITION_KEY], item[SORT_KEY]) == (f"{PACER_PK_PREFIX}DeleteFaces", "pacer")
    assert float(item[SLOT_ATTRIBUTE]) == pytest.approx(50.0 + 1 / RATE)
    assert not {RUN_ATTRIBUTE, USER_ATTRIBUTE, FAILURE_ATTRIBUTE, TTL_ATTRIBUTE} & set(item)


# ------------------------------------------------------------------------------------------ the pacer
def _simulate(
    pacers: list[Pacer],
    clock: SimClock,
    calls: int,
    seed: int = 3,
    work: tuple[float, float] = (0.05, 0.3),
) -> list[float]:
    """Workers that each call, then work `work` seconds (50-300 ms) on something else, then call again; the
    earliest-ready worker goes first. Returns when each call went out (the clock when acquire returned, not
    the slot it was given): what a limiter sees."""
    rng = random.Random(seed)
    ready = [clock.now + rng.uniform(0, work[0]) for _ in pacers]
    sent: list[float] = []
    while len(sent) < calls:
        worker = min(range(len(pacers)), key=ready.__getitem__)
        clock.now = ready[worker]
        pacers[worker].acquire("http")
        sent.append(clock.now)
        ready[worker] = clock.now + rng.uniform(*work)
    return sorted(sent)


def _refused_by_a_strict_limiter(times: list[float], rate: float) -> int:
    now = [times[0]]
    bucket = TokenBucket(rate, burst=1, clock=lambda: now[0])
    refused = 0
    for moment in times:
        now[0] = moment
        refused += not bucket.try_acquire()
    return refused


def test_a_shared_book_holds_a_strict_limit_under_several_workers():
    clock = SimClock()
    book = LocalSlotBook()
    pacers = [Pacer({"http": RATE}, book, clock=clock, sleep=clock.sleep) for _ in range(4)]
    times = _simulate(pacers, clock, calls=200)
    assert _refused_by_a_strict_limiter(times, RATE) == 0
    achieved = (len(times) - 1) / (times[-1] - times[0])
    assert achieved == pytest.approx(RATE, rel=0.01)


def test_each_workers_share_alone_breaks_a_strict_limit():
    """The alternative design (each of C workers at rate/C on its own): phases drift together, a strict
    limiter refuses. This is why the book is shared."""
    clock = SimClock()
    workers = 4
    pacers = [
        Pacer({"http": RATE / workers}, LocalSlotBook(), clock=clock, sleep=clock.sleep)
        for _ in range(workers)
    ]
    times = _simulate(pacers, clock, calls=200)
    assert _refused_by_a_strict_limiter(times, RATE) > 10


class SlowBook:
    """A shared book whose reservations take a round trip of `rtt()` seconds of simulated time (the
    conditional write to DynamoDB): the slot is computed when the write leaves, and is back a trip later."""

    def __init__(self, clock: SimClock, rtt) -> None:
        self._inner = LocalSlotBook()
        self._clock = clock
        self._rtt = rtt

    def advance(self, api, step):
        answer = self._inner.advance(api, step)
        self._clock.sleep(self._rtt())
        return answer


def _slow_book_pacers(clock: SimClock, workers: int = 4) -> list[Pacer]:
    rng = random.Random(11)
    book = SlowBook(clock, lambda: rng.uniform(0.02, 0.15))
    return [Pacer({"http": 0.95 * RATE}, book, clock=clock, sleep=clock.sleep) for _ in range(workers)]


def test_calls_go_out_on_their_slots_when_reservations_take_a_round_trip():
    """The measured cause of refusals (docs/offline-runtime.md): on an idle book a slot was due before its
    conditional write came back, the call went out late and crowded the next slot's call. Reserving a round
    trip ahead, and giving up a slot reached late, keeps a strict limiter paced 5 % under from refusing."""
    clock = SimClock()
    pacers = _slow_book_pacers(clock)
    sent = _simulate(pacers, clock, calls=300, seed=5, work=(0.5, 1.5))  # the book often idle
    assert _refused_by_a_strict_limiter(sent, RATE) == 0
    assert sum(p.late_slots for p in pacers) <= 2 * len(pacers)  # mostly each worker's first reservation


def test_without_the_lead_the_same_workers_are_refused(monkeypatch):
    """The same simulation with slots taken at `now` and late calls sent anyway: the test above can fail.
    Patched in the namespace Pacer runs in (other tests may import the handler modules afresh)."""
    namespace = Pacer.acquire.__globals__
    monkeypatch.setattr(namespace["RoundTrip"], "lead", property(lambda self: 0.0))
    monkeypatch.setitem(namespace, "LATE_FRACTION", float("inf"))
    clock = SimClock()
    sent = _simulate(_slow_book_pacers(clock), clock, calls=300, seed=5, work=(0.5, 1.5))
    assert _refused_by_a_strict_limiter(sent, RATE) > 10


def test_a_worker_that_wakes_up_late_gives_its_slot_up():
    clock = SimClock()
    oversleep = [0.05]  # the first wake-up comes 50 ms late, a quarter of the 200 ms interval

    def sleep(seconds: float) -> None:
        clock.sleep(seconds + (oversleep.pop() if oversleep else 0.0))

    book = LocalSlotBook()
    pacer = Pacer({"http": RATE}, book, clock=clock, sleep=sleep)
    book.advance("http", lambda current: 1_000.5)  # another worker holds the book until 1000.5
    slot = pacer.acquire("http")
    assert pacer.late_slots == 1
    assert slot == pytest.approx(1_000.7, abs=1e-5)  # 1000.5 was reached at 1000.55: given up
    assert clock.now == pytest.approx(slot)


def test_the_reservation_lead_follows_the_round_trips():
    from handlers.throttled_indexer.pacing import MAX_LEAD_SECONDS, RoundTrip

    trip = RoundTrip()
    assert trip.lead == 0.0  # nothing measured yet
    for _ in range(50):
        trip.observe(0.1)
    assert trip.lead == pytest.approx(0.1, abs=1e-3)  # steady: the deviation decays
    trip.observe(0.5)
    assert 0.15 < trip.lead < 0.5  # one slow trip raises the lead at once, not to the outlier
    for _ in range(20):
        trip.observe(30.0)
    assert trip.lead == MAX_LEAD_SECONDS


def test_a_book_too_far_ahead_defers_without_calling_or_taking_a_slot():
    clock = SimClock()
    book = LocalSlotBook()
    pacer = Pacer({"http": 1.0}, book, clock=clock, sleep=lambda s: None, max_wait_seconds=2.5)
    for _ in range(3):
        pacer.acquire("http")  # slots at 1000, 1001, 1002; the book is now at 1003
    with pytest.raises(GatewayBusy) as caught:
        pacer.acquire("http")
    assert caught.value.throttled and not caught.value.may_have_registered
    assert caught.value.retry_after == pytest.approx(3.0)
    assert pacer.booked_seconds("http") == pytest.approx(3.0)  # unchanged: no slot was taken


def test_a_throttled_answer_leaves_one_slot_empty_for_every_worker():
    clock = SimClock()
    book = LocalSlotBook()
    first, second = (Pacer({"http": 10.0}, book, clock=clock, sleep=clock.sleep) for _ in range(2))
    assert first.acquire("http") == pytest.approx(1_000.0)  # the book is at 1000.1
    first.hold("http")  # the gateway refused it
    assert second.acquire("http") == pytest.approx(1_000.2, abs=1e-5)  # 1000.1 was left empty


def test_an_api_without_a_rate_is_not_paced():
    clock = SimClock()
    pacer = Pacer({"IndexFaces": 1.0}, LocalSlotBook(), clock=clock, sleep=clock.sleep)
    for _ in range(5):
        pacer.acquire("DeleteFaces")
    assert clock.now == 1_000.0


def test_rates_must_be_positive():
    with pytest.raises(ValueError, match="IndexFaces"):
        Pacer({"IndexFaces": 0.0}, LocalSlotBook())


# ------------------------------------------------------------------------------------------ paced gateway
def _request(n: int) -> RegistrationRequest:
    from handlers.common.contracts import ObjectRef
    from tests.e2e.e2e_support import png

    return RegistrationRequest(
        obj=ObjectRef(bucket="images", key=f"{n}.png", version_id="v1"),
        user_id=f"user-{n}",
        properties={},
        image=png(n),
    )


def test_the_paced_http_gateway_registers_within_a_strict_limit_of_a_real_api():
    """A real registration API on 127.0.0.1 limited to RATE/s, burst 1, on the same simulated clock."""
    clock = SimClock()
    with RegistrationApi(rate_per_s=RATE, burst=1, clock=clock) as api:
        unpaced = HttpGateway(api.url, timeout_seconds=5)
        with pytest.raises(GatewayBusy) as caught:
            for n in range(3):
                unpaced.register(_request(n))
        assert caught.value.throttled and caught.value.retry_after == 1.0
        clock.sleep(1.0)
        paced = PacedGateway(
            HttpGateway(api.url, timeout_seconds=5),
            Pacer({"http": RATE}, LocalSlotBook(), clock=clock, sleep=clock.sleep),
        )
        start = clock.now
        for n in range(100, 120):
            assert paced.register(_request(n)).image_id
        assert api.responses["/register 429"] == 1  # only the unpaced one above
        assert clock.now - start == pytest.approx(19 / RATE, abs=1e-3)


def test_a_429_under_pacing_slows_the_shared_book_by_one_slot():
    clock = SimClock()
    with RegistrationApi(rate_per_s=RATE, burst=1, clock=clock) as api:
        book = LocalSlotBook()
        paced = PacedGateway(
            HttpGateway(api.url, timeout_seconds=5),
            Pacer({"http": RATE}, book, clock=clock, sleep=clock.sleep),
        )
        api.faults.add_from_now("throttle", requests=1)  # another client took the quota: 429, Retry-After 1
        with pytest.raises(GatewayBusy) as caught:
            paced.register(_request(1))
        assert caught.value.throttled and caught.value.retry_after == 1.0  # the message waits that
        other_worker = Pacer({"http": RATE}, book, clock=clock, sleep=clock.sleep)
        assert other_worker.booked_seconds("http") == pytest.approx(2 / RATE, abs=1e-5)


# ------------------------------------------------------------------------------------------ back-off
def test_paced_delay_is_the_retry_after_plus_the_place_in_line():
    assert paced_delay(1, rate_per_second=5) == 1  # 0.2 s, at least 1 s (SQS counts whole seconds)
    assert paced_delay(10, rate_per_second=5) == 2
    assert paced_delay(10, rate_per_second=5, retry_after=3) == 5
    assert paced_delay(50, rate_per_second=0.5) == 100
    with pytest.raises(ValueError):
        paced_delay(1, rate_per_second=0)


def test_a_throttled_batch_waits_its_place_in_line_not_an_exponential_guess(
    queues,
    s3,
    history,
    importer,
    deleter,
    face_index,
):
    sqs, url, arn, _ = queues
    objs = [put_image(s3, f"{i}.jpg", jpeg_bytes(str(i))) for i in range(10)]
    for obj in objs:
        sqs.send_message(QueueUrl=url, MessageBody=dump_message(import_message(obj)))
    records = []
    while len(records) < 10:
        records += receive_as_lambda(sqs, url, arn)
    delays: dict[str, list[int]] = {}
    for rate in (None, 5.0):
        runner = runner_for(queues, history, importer, deleter, gateway_rate_per_second=rate)
        seen: list[int] = []
        runner._change_visibility = lambda changes, seen=seen: seen.extend(s for _, _, s in changes)
        face_index.script.append(GatewayBusy("HTTP 429", retry_after=1, throttled=True))
        result = runner.run(records)
        assert len(result.failures) == 10 and result.labels.count("retry:deferred") == 9
        delays[str(rate)] = seen
    assert min(delays["None"]) >= 30  # the exponential back-off: base 60 s with equal jitter
    assert delays["5.0"] == [2, 2, 2, 2, 2, 3, 3, 3, 3, 3]  # Retry-After 1 s + place / 5 per second


def test_an_outage_under_pacing_keeps_the_exponential_back_off(
    queues,
    s3,
    history,
    importer,
    deleter,
    face_index,
):
    sqs, url, arn, _ = queues
    obj = put_image(s3, "a.jpg", jpeg_bytes("a"))
    sqs.send_message(QueueUrl=url, MessageBody=dump_message(import_message(obj)))
    records = receive_as_lambda(sqs, url, arn)
    runner = runner_for(queues, history, importer, deleter, gateway_rate_per_second=5.0)
    seen: list[int] = []
    runner._change_visibility = lambda changes: seen.extend(s for _, _, s in changes)
    face_index.script.append(GatewayBusy("HTTP 503"))  # down, not throttled
    runner.run(records)
    assert seen == [60]


# ------------------------------------------------------------------------------------------ rekognition
class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_kwargs):
        yield self._body


def test_rekognition_calls_and_the_clients_own_retries_each_wait_for_a_slot():
    """The slot is waited for in botocore's before-send, after the pacer's hook a second hook answers as
    Rekognition would (no network): a ThrottlingException first, which botocore retries itself, then the
    face. Every attempt, the retry included, goes out at its own slot 1/rate apart."""
    import json as _json

    from botocore.awsrequest import AWSResponse
    from botocore.config import Config

    from handlers.throttled_indexer.rekognition_gateway import RekognitionGateway

    clock = SimClock()
    client = boto3.client(
        "rekognition",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"mode": "standard", "max_attempts": 3}),
    )
    answers = [
        (400, {"__type": "ThrottlingException", "Message": "Rate exceeded"}),
        (200, {"FaceRecords": [{"Face": {"FaceId": "f-1", "ImageId": "i-1"}}], "UnindexedFaces": []}),
        (200, {"FaceRecords": [{"Face": {"FaceId": "f-2", "ImageId": "i-2"}}], "UnindexedFaces": []}),
    ]
    sent_at: list[float] = []

    def rekognition_answers(request, **_kwargs):
        sent_at.append(clock.now)
        status, body = answers.pop(0)
        headers = {"Content-Type": "application/x-amz-json-1.1"}
        return AWSResponse(request.url, status, headers, _Raw(_json.dumps(body).encode()))

    pacer = Pacer({"IndexFaces": RATE}, LocalSlotBook(), clock=clock, sleep=clock.sleep)
    gateway = PacedGateway(RekognitionGateway(client, "faces"), pacer)
    # Registered after the pacer's hook: botocore calls before-send handlers in order.
    client.meta.events.register("before-send.rekognition.IndexFaces", rekognition_answers)
    start = clock.now
    assert gateway.register(_request(1)).face_ids == ("f-1",)
    assert gateway.register(_request(2)).face_ids == ("f-2",)
    assert len(sent_at) == 3  # the throttled attempt, botocore's retry, the second image
    slots = [round(t - start, 6) for t in sent_at]
    assert slots[0] == 0.0
    assert all(b - a >= 1 / RATE - 1e-9 for a, b in itertools.pairwise(slots))
    assert pacer.booked_seconds("DeleteFaces") == 0.0  # other APIs keep their own books


def test_a_full_book_on_a_retry_is_not_taken_for_a_call_that_did_nothing():
    """The first attempt may have been processed (it timed out): the busy answer must say so, so that the
    next delivery looks the registration up instead of assuming none was made."""
    from handlers.throttled_indexer.pacing import Booked

    clock = SimClock()

    class RetryingGateway:
        name, needs_bytes, registers_per_image = "rekognition", False, True

        def pace_calls(self, before_call):
            self.before_call = before_call

        def register(self, request):
            self.before_call("IndexFaces")  # the first attempt goes out, and times out
            clock.sleep(0.0)
            pacer._book.advance("IndexFaces", lambda current: clock.now + 60)  # others fill the book
            self.before_call("IndexFaces")  # botocore's retry
            raise AssertionError("not reached")

    pacer = Pacer({"IndexFaces": RATE}, LocalSlotBook(), clock=clock, sleep=clock.sleep)
    gateway = PacedGateway(RetryingGateway(), pacer)
    with pytest.raises(GatewayBusy) as caught:
        gateway.register(_request(1))
    assert not isinstance(caught.value, Booked)
    assert caught.value.may_have_registered and caught.value.throttled
    with pytest.raises(Booked) as first:  # a first attempt refused by the book: nothing sent
        pacer.acquire("IndexFaces")
    assert not first.value.may_have_registered


def test_a_throttled_call_holds_the_book_of_the_api_that_answered():
    """rekognitionMode users registers with three calls: a throttled AssociateFaces moves AssociateFaces'
    book, not IndexFaces' (GatewayBusy.api)."""
    from handlers.throttled_indexer.gateway import GatewayBusy

    class Throttled:
        name, needs_bytes, registers_per_image = "rekognition", False, True

        def pace_calls(self, before_call):
            pass

        def register(self, request):
            raise GatewayBusy(
                "rekognition AssociateFaces: ThrottlingException", throttled=True, api="AssociateFaces"
            )

    clock = SimClock()
    pacer = Pacer(
        {"IndexFaces": RATE, "AssociateFaces": RATE}, LocalSlotBook(), clock=clock, sleep=clock.sleep
    )
    with pytest.raises(GatewayBusy):
        PacedGateway(Throttled(), pacer).register(_request(1))
    assert pacer.booked_seconds("AssociateFaces") > 0
    assert pacer.booked_seconds("IndexFaces") == 0.0
