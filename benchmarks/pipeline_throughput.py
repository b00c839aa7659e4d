"""Pipeline throughput: the dev stack in the offline runtime, its gateway (the emulated Rekognition, or the
local HTTP registration API, offline/gateways/registration_api.py) limited to T requests/s with a token
bucket of `--burst` requests, the indexer mapping's maximum concurrency C, pacing off or on (`--pace R`:
throttledIndexer.gatewayRatePerSecond).

Prints
- the achieved registration rate (registrations per second between the first and the last one, from the
  gateway's registry) as a fraction of T: the baseline is the gateway's own limit in the same run;
- throttled calls (ProvisionedThroughputExceeded answers / HTTP 429) per registration;
- the end-to-end rate (from the inventory delivery to the last registration), for comparison;
- loss: images not indexed, images registered twice (the emulator's registry), DLQ depth;
- AWS API calls per imported image by stage (the front door counts by caller role / service / action), so the
  cost per million images can be read off.

Run: .venv/bin/python -m benchmarks.pipeline_throughput [--images N] [--rate T] [--concurrency C]
     [--burst B] [--gateway rekognition|http] [--pace R] [--deployed-backoff]
     .venv/bin/python -m benchmarks.pipeline_throughput --matrix --images 1000 --rate 5 --concurrency 4
     (issue 13: per gateway the machine's ceiling, then T at burst 1 and burst T, pacing off and on)

Time compression (not AWS's values, stated in the output; `--deployed-backoff` turns it off): a failed SQS
message reappears after 1 s whatever visibility the indexer set, and the indexer's back-off base is 1 s, max
4 s (BACKOFF_BASE_SECONDS / BACKOFF_MAX_SECONDS; 60 s / 6 h deployed), so a throttled message waits seconds,
not minutes. This flatters the runs without pacing: deployed, their back-off tail is minutes long.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter, defaultdict

os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")

from offline.demo.cli import Progress, throttled_counter
from offline.deployment.program import REPO_ROOT, read_stack_config
from offline.gateways.registration_api import RegistrationApi
from offline.runtime import OfflineRuntime
from tests.e2e.e2e_support import deliver_inventory, history, make_rekognition, put_images

STACK = "dev"
# Time compression of the default runs (not AWS's values; every report says so).
COMPRESSED_ENV = {"BACKOFF_BASE_SECONDS": "1", "BACKOFF_MAX_SECONDS": "4"}
COMPRESSION_NOTE = (
    "time compression: failed messages reappear after 1 s, whatever delay the indexer set; indexer back-off "
    "base 1 s, max 4 s (deployed: 60 s, 6 h)"
)


def _stage_by_role(outputs: dict[str, str]) -> dict[str, str]:
    def role(key: str) -> str:
        return outputs[key].rsplit("/", 1)[1]

    return {
        role("inventory_function_role_arn"): "1 inventory_created",
        role("batch_role_arn"): "2 S3 Batch job",
        role("batch_function_role_arn"): "3 batch_qualifier",
        role("indexer_function_role_arn"): "4 throttled_indexer",
    }


def run(
    images: int,
    rate: float | None,
    concurrency: int,
    burst: float = 1.0,
    extra_env: dict[str, str] | None = None,
    *,
    gateway: str = "rekognition",
    paced_rate: float | None = None,
    compressed: bool = True,
    progress: bool = False,
) -> dict[str, object]:
    """One import of `images` through `gateway` limited to `rate`/s (None: unlimited, the machine's ceiling),
    pacing off (`paced_rate` None) or on at `paced_rate` (throttledIndexer.gatewayRatePerSecond).
    `progress`: the demo's progress line while it runs (queue depth, rate over the last 10 s, refusals), which
    shows whether the indexer waited for the gateway or for its input."""
    indexer: dict[str, object] = {"maxConcurrency": concurrency}
    if paced_rate is not None:
        indexer["gatewayRatePerSecond"] = paced_rate
    region = read_stack_config(REPO_ROOT, STACK, {"throttledIndexer": indexer})[1].get(
        "aws:region", "us-east-1"
    )
    env = dict(COMPRESSED_ENV if compressed else {})
    runtime = OfflineRuntime(
        max_local_workers=max(4, concurrency),
        failed_visibility_timeout_s=1 if compressed else None,
        worker_env={"indexer-function": {**env, **(extra_env or {})}},
    )
    runtime.start()
    api: RegistrationApi | None = None
    try:
        # burst 1 (default): the limit holds over any window; a short run cannot beat T in its first second.
        faces = make_rekognition(runtime, region=region, rate_per_s=rate, burst=burst)
        runtime.set_rekognition_handler(faces)
        registry = faces.registry
        overrides: dict[str, dict[str, object]] = {"throttledIndexer": indexer}
        if gateway == "http":
            api = RegistrationApi(rate_per_s=rate, burst=burst)
            indexer.update({"gateway": "http", "gatewayUrl": api.start(), "collectionId": None})
            registry = api.registry
        runtime.deploy(STACK, overrides)
        runtime.enforce_iam()
        keys = [f"bench/user-{n:05d}/photo.png" for n in range(images)]
        rows = put_images(runtime, keys)
        before = runtime.stats()["api_calls_by_caller"]
        if progress:
            queue = runtime.deployment.outputs["queue_url"].rsplit("/", 1)[1]
            runtime.progress = Progress(len(rows), registry, queue, throttled_counter(api, faces))
        started = time.time()
        deliver_inventory(runtime, rows)
        runtime.run_until_idle(300 + 5 * images / (rate or 10.0))
        finished = time.time()
        stats = runtime.stats()
        records = history(runtime)
        registrations = sorted(r.created_at for r in registry.all())
        indexed = sum(1 for key in keys if records.get(key, {}).get("status") == "indexed")
        dlq = runtime.deployment.outputs["dlq_url"].rsplit("/", 1)[1]
        per_stage: dict[str, Counter[str]] = defaultdict(Counter)
        stages = _stage_by_role(runtime.deployment.outputs)
        for name, count in stats["api_calls_by_caller"].items():
            caller, call = name.split(" ", 1)
            delta = count - before.get(name, 0)
            if delta and caller in stages:
                per_stage[stages[caller]][call] += delta
        if api is not None:
            calls = {k: v for k, v in api.responses.items() if k.startswith("/register")}
            throttled = {"register 429": api.responses.get("/register 429", 0)}
        else:
            calls, throttled = dict(faces.calls), dict(faces.throttled)
        return {
            "images": images,
            "gateway": gateway,
            "rate": rate,
            "paced_rate": paced_rate,
            "concurrency": concurrency,
            "burst": burst,
            "compressed": compressed,
            "extra_env": extra_env or {},
            "registrations": len(registrations),
            "registration_rate": registry.rate(),
            "end_to_end_rate": len(registrations) / (registrations[-1] - started) if registrations else 0.0,
            "wall_s": finished - started,
            "indexed": indexed,
            "duplicates": len(registry.duplicates),
            "dlq": runtime.queue_depths()[dlq]["visible"],
            "throttled": throttled,
            "throttled_total": sum(throttled.values()),
            "calls": calls,
            "per_stage": per_stage,
            "denied": len(stats["access_denied"]),
        }
    finally:
        if api is not None:
            api.stop()
        runtime.stop()


def report(result: dict[str, object]) -> None:
    images, rate = result["images"], result["rate"]
    assert isinstance(images, int)
    limit = f"T={rate:g}/s (burst {result['burst']:g})" if rate else "unlimited (the machine's ceiling)"
    print(
        f"\npipeline_throughput: {images} images, gateway {result['gateway']} limited to {limit}, "
        f"maxConcurrency C={result['concurrency']}, pacing {_pacing(result)}, back-off {_backoff(result)}, "
        f"indexer env {result['extra_env'] or 'as deployed'}"
    )
    registrations = int(result["registrations"])  # type: ignore[call-overload]
    fraction = f" = {float(result['registration_rate']) / rate:.2f} x T (target >= 0.90)" if rate else ""  # type: ignore[arg-type]
    print(
        f"  registration rate {result['registration_rate']:.2f}/s{fraction}; end to end "
        f"{result['end_to_end_rate']:.2f}/s, {result['wall_s']:.1f} s"
    )
    throttled = int(result["throttled_total"])  # type: ignore[call-overload]
    print(
        f"  throttled calls {throttled} = {throttled / max(registrations, 1):.3f} per registration"
        " (target < 0.05)"
    )
    lost = images - int(result["indexed"])  # type: ignore[call-overload]
    print(
        f"  loss: {lost} not indexed, {result['duplicates']} registered twice, {result['dlq']} in the DLQ, "
        f"{result['denied']} access denied"
    )
    print(f"  gateway: calls {result['calls']}, refused by the rate limit {result['throttled']}")
    print("  AWS API calls per imported image, by stage (service:action):")
    per_stage = result["per_stage"]
    assert isinstance(per_stage, dict)
    total = 0.0
    for stage in sorted(per_stage):
        calls = per_stage[stage]
        stage_total = sum(calls.values()) / images
        total += stage_total
        detail = ", ".join(f"{call} {n / images:.2f}" for call, n in sorted(calls.items()))
        print(f"    {stage:<22} {stage_total:6.2f}  ({detail})")
    print(f"    {'all stages':<22} {total:6.2f}  -> {total * 1e6:,.0f} calls per million images")
    print(f"  ({COMPRESSION_NOTE if result['compressed'] else 'no time compression: AWS back-off values'})")


def _pacing(result: dict[str, object]) -> str:
    paced = result["paced_rate"]
    return f"on at {paced:g}/s" if paced else "off"


def _backoff(result: dict[str, object]) -> str:
    return "compressed" if result["compressed"] else "deployed"


def matrix(
    images: int,
    rate: float,
    concurrency: int,
    strict_pace: float,
    deployed_after: bool,
    ceiling: bool = True,
    rows_wanted: list[int] | None = None,
) -> None:
    """The issue-13 measurement, in one run: the machine's ceiling (each gateway unlimited, first),
    then per gateway the limit T with a strict (burst 1) and a one-second (burst T) bucket, pacing off
    ("before") and on ("after"); the strict rows first. Each result prints as it comes, a table at the end."""
    rows: list[dict[str, object]] = []

    def measure(**options: object) -> None:
        result = run(images, options.pop("rate", rate), concurrency, **options)  # type: ignore[arg-type]
        report(result)
        rows.append(result)

    if ceiling:
        measure(rate=None, gateway="http")
        measure(rate=None, gateway="rekognition")
    strict, burst = rate * strict_pace, rate
    after = {"compressed": not deployed_after}
    plan = (
        {"burst": 1.0, "gateway": "http"},
        {"burst": 1.0, "gateway": "http", "paced_rate": strict, **after},
        {"burst": 1.0, "gateway": "rekognition"},
        {"burst": 1.0, "gateway": "rekognition", "paced_rate": strict, **after},
        {"burst": rate, "gateway": "http", "paced_rate": burst, **after},
        {"burst": rate, "gateway": "rekognition", "paced_rate": burst, **after},
        {"burst": rate, "gateway": "http"},
        {"burst": rate, "gateway": "rekognition"},
    )
    for index in rows_wanted or range(len(plan)):
        measure(**plan[index])
    print(f"\npipeline_throughput matrix: {images} images, C={concurrency}, T={rate:g}/s")
    print(
        "| gateway | T | burst | pacing | back-off | images | registrations/s | rate/T "
        "| throttled per registration | lost / twice / DLQ |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        registrations = int(row["registrations"])  # type: ignore[call-overload]
        t = row["rate"]
        ratio = f"{float(row['registration_rate']) / t:.2f}" if t else "(ceiling)"  # type: ignore[arg-type]
        lost = int(row["images"]) - int(row["indexed"])  # type: ignore[call-overload]
        per_registration = int(row["throttled_total"]) / max(registrations, 1)  # type: ignore[call-overload]
        cells = [
            row["gateway"],
            t or "none",
            row["burst"] if t else "",
            _pacing(row),
            _backoff(row),
            row["images"],
            f"{row['registration_rate']:.2f}",
            ratio,
            f"{per_registration:.3f}",
            f"{lost} / {row['duplicates']} / {row['dlq']}",
        ]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    print(
        f"({COMPRESSION_NOTE}; 'deployed': none of it, AWS's visibility timeout and BACKOFF_BASE_SECONDS=60)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=150)
    parser.add_argument("--rate", type=float, default=10.0, help="gateway limit T, requests/s (0: unlimited)")
    parser.add_argument("--concurrency", type=int, default=2, help="mapping maximum concurrency C (>= 2)")
    parser.add_argument("--burst", type=float, default=1.0, help="gateway token bucket size (default 1)")
    parser.add_argument("--gateway", choices=("rekognition", "http"), default="rekognition")
    parser.add_argument(
        "--pace",
        type=float,
        default=None,
        metavar="R",
        help="throttledIndexer.gatewayRatePerSecond (default off)",
    )
    parser.add_argument(
        "--deployed-backoff",
        action="store_true",
        help="no time compression (AWS's visibility, 60 s back-off)",
    )
    parser.add_argument(
        "--matrix",
        action="store_true",
        help="both gateways: the ceiling, then T at burst 1 and burst T, pacing off and on (issue 13)",
    )
    parser.add_argument(
        "--strict-pace",
        type=float,
        default=0.95,
        help="--matrix: pacing rate as a fraction of T against the strict (burst 1) bucket (default 0.95)",
    )
    parser.add_argument("--no-ceiling", action="store_true", help="--matrix without the unlimited runs")
    parser.add_argument(
        "--rows",
        type=lambda text: [int(i) for i in text.split(",")],
        default=None,
        help="--matrix: only these rows, in this order: 0/1 http strict off/on, 2/3 rekognition strict "
        "off/on, 4/5 http/rekognition burst on, 6/7 http/rekognition burst off",
    )
    parser.add_argument(
        "--deployed-after", action="store_true", help="--matrix: the paced runs without time compression"
    )
    parser.add_argument(
        "--indexer-env", action="append", default=[], metavar="NAME=VALUE", help="extra indexer environment"
    )
    parser.add_argument(
        "--progress", action="store_true", help="print the demo's progress line while each run goes on"
    )
    parser.add_argument("--quick", action="store_true", help="60 images (make bench --quick)")
    args = parser.parse_args(argv)
    images = 60 if args.quick else args.images
    if args.matrix:
        matrix(
            images,
            float(args.rate),
            args.concurrency,
            args.strict_pace,
            args.deployed_after,
            not args.no_ceiling,
            args.rows,
        )
        return
    extra_env = dict(item.split("=", 1) for item in args.indexer_env)
    result = run(
        images,
        float(args.rate) or None,
        args.concurrency,
        args.burst,
        extra_env,
        gateway=args.gateway,
        paced_rate=args.pace,
        compressed=not args.deployed_backoff,
        progress=args.progress,
    )
    report(result)


if __name__ == "__main__":
    main()
