"""Which pacing holds a gateway's limit: each worker its share (rate / C, alone) or one book shared by all.

C worker threads call a token-bucket limiter (offline.gateways.limits.TokenBucket, the emulated gateways' own)
through handlers/throttled_indexer/pacing.Pacer, in real time: each call first travels 5-30 ms (the request
reaching the gateway), then the worker spends 50-300 ms on the rest of a message (S3, history writes) before
it asks for its next slot. Per mode and limiter burst (1 = strict, T = one second's worth) it prints the rate
from the first to the last accepted call as a fraction of T and the refused calls per accepted one.
"share": each worker paces itself at T/C with its own book (what a worker can do knowing only the mapping's
maximum concurrency); "shared": every worker takes slots from one book at T (in this process a LocalSlotBook;
the deployed one is the DynamoSlotBook in the history table, same compare-and-set semantics).

Run: .venv/bin/python -m benchmarks.pacing_modes [--rate T] [--workers C] [--calls N] [--seed S]
"""

from __future__ import annotations

import argparse
import random
import threading
import time

from handlers.throttled_indexer.pacing import LocalSlotBook, Pacer
from offline.gateways.limits import TokenBucket


def run(
    mode: str,
    rate: float,
    workers: int,
    calls: int,
    burst: float,
    seed: int,
    travel_ms: tuple[float, float],
    pace: float = 1.0,
) -> dict[str, float]:
    bucket = TokenBucket(rate, burst, time.monotonic)
    shared = LocalSlotBook()
    accepted: list[float] = []
    refused = [0]
    lock = threading.Lock()
    done = threading.Event()

    def worker(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        book = shared if mode == "shared" else LocalSlotBook()
        paced = rate * pace if mode == "shared" else rate * pace / workers
        pacer = Pacer({"api": paced}, book, max_wait_seconds=60)
        time.sleep(rng.uniform(0, 0.05))  # workers start together, as a mapping scales up
        while not done.is_set():
            pacer.acquire("api")
            time.sleep(rng.uniform(*travel_ms) / 1000)
            ok = bucket.try_acquire()
            with lock:
                if ok:
                    accepted.append(time.monotonic())
                    if len(accepted) >= calls:
                        done.set()
                else:
                    refused[0] += 1
            time.sleep(rng.uniform(0.05, 0.3))

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    span = accepted[-1] - accepted[0]
    return {"ratio": (len(accepted) - 1) / span / rate, "refused_per_call": refused[0] / len(accepted)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--travel-ms", type=float, nargs=2, default=(5.0, 30.0), help="request travel time range (ms)"
    )
    parser.add_argument(
        "--pace", type=float, nargs="+", default=[1.0], help="pacing rates as fractions of T (default 1)"
    )
    parser.add_argument("--quick", action="store_true", help="60 calls")
    args = parser.parse_args(argv)
    calls = 60 if args.quick else args.calls
    print(
        f"pacing_modes: T={args.rate:g}/s, C={args.workers} workers, {calls} accepted calls a row, "
        f"request travel {args.travel_ms[0]:g}-{args.travel_ms[1]:g} ms"
    )
    print(f"  {'mode':<7} {'paced at':>8} {'burst':>5} {'rate/T':>7} {'refused per call':>17}")
    for burst in (1.0, args.rate):
        for pace in args.pace:
            for mode in ("share", "shared"):
                result = run(
                    mode, args.rate, args.workers, calls, burst, args.seed, tuple(args.travel_ms), pace
                )
                print(
                    f"  {mode:<7} {pace:>6.2f} T {burst:>5g} {result['ratio']:>7.3f}"
                    f" {result['refused_per_call']:>17.3f}"
                )


if __name__ == "__main__":
    main()
