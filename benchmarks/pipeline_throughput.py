"""Pipeline throughput: the dev stack in the offline runtime with the emulated Rekognition limited to T
requests/s and the indexer mapping's maximum concurrency C.

Prints
- the achieved registration rate (IndexFaces that registered a face, per second, between the first and the
  last registration) as a fraction of T: the baseline is the gateway's own limit in the same run;
- the end-to-end rate (from the inventory delivery to the last registration), for comparison;
- loss: images not indexed, images registered twice (the emulator's registry), DLQ depth;
- AWS API calls per imported image by stage (the front door counts by caller role / service / action), so the
  cost per million images can be read off.

Run: .venv/bin/python -m benchmarks.pipeline_throughput [--images N] [--rate T] [--concurrency C]

Time compression (not AWS's values, stated in the output): a failed SQS message reappears after 1 s and the
indexer's back-off base is 1 s (BACKOFF_BASE_SECONDS; 60 s deployed), so a throttled message waits seconds,
not minutes.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter, defaultdict

os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")

from offline.deploy import REPO_ROOT, read_stack_config
from offline.runtime import OfflineRuntime
from tests.e2e.e2e_support import deliver_inventory, history, make_rekognition, put_images

STACK = "dev"


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
    images: int, rate: float, concurrency: int, burst: float = 1.0, extra_env: dict[str, str] | None = None
) -> dict[str, object]:
    overrides = {"throttledIndexer": {"maxConcurrency": concurrency}}
    region = read_stack_config(REPO_ROOT, STACK, overrides)[1].get("aws:region", "us-east-1")
    runtime = OfflineRuntime(
        max_local_workers=max(4, concurrency),
        failed_visibility_timeout_s=1,
        worker_env={
            "indexer-function": {"BACKOFF_BASE_SECONDS": "1", "BACKOFF_MAX_SECONDS": "4", **(extra_env or {})}
        },
    )
    runtime.start()
    try:
        # burst 1 (default): the limit holds over any window; a short run cannot beat T in its first second.
        faces = make_rekognition(runtime, region=region, rate_per_s=rate, burst=burst)
        runtime.set_rekognition_handler(faces)
        runtime.deploy(STACK, overrides)
        runtime.enforce_iam()
        keys = [f"bench/user-{n:05d}/photo.png" for n in range(images)]
        rows = put_images(runtime, keys)
        before = runtime.stats()["api_calls_by_caller"]
        started = time.time()
        deliver_inventory(runtime, rows)
        runtime.run_until_idle(60 + 5 * images / rate)
        finished = time.time()
        stats = runtime.stats()
        records = history(runtime)
        registrations = sorted(r.created_at for r in faces.registry.all())
        indexed = sum(1 for key in keys if records.get(key, {}).get("status") == "indexed")
        span = registrations[-1] - registrations[0] if len(registrations) > 1 else float("nan")
        dlq = runtime.deployment.outputs["dlq_url"].rsplit("/", 1)[1]
        per_stage: dict[str, Counter[str]] = defaultdict(Counter)
        stages = _stage_by_role(runtime.deployment.outputs)
        for name, count in stats["api_calls_by_caller"].items():
            caller, call = name.split(" ", 1)
            delta = count - before.get(name, 0)
            if delta and caller in stages:
                per_stage[stages[caller]][call] += delta
        return {
            "images": images,
            "rate": rate,
            "concurrency": concurrency,
            "burst": burst,
            "extra_env": extra_env or {},
            "registrations": len(registrations),
            "registration_rate": (len(registrations) - 1) / span if span == span and span > 0 else 0.0,
            "end_to_end_rate": len(registrations) / (registrations[-1] - started) if registrations else 0.0,
            "wall_s": finished - started,
            "indexed": indexed,
            "duplicates": len(faces.registry.duplicates),
            "dlq": runtime.queue_depths()[dlq]["visible"],
            "throttled": dict(faces.throttled),
            "calls": dict(faces.calls),
            "per_stage": per_stage,
            "denied": len(stats["access_denied"]),
        }
    finally:
        runtime.stop()


def report(result: dict[str, object]) -> None:
    images, rate = result["images"], result["rate"]
    assert isinstance(images, int) and isinstance(rate, float)
    fraction = float(result["registration_rate"]) / rate  # type: ignore[arg-type]
    print(
        f"\npipeline_throughput: {images} images, gateway limit T={rate:g}/s (burst {result['burst']:g}), "
        f"maxConcurrency C={result['concurrency']}, indexer env {result['extra_env'] or 'as deployed'}"
    )
    print(
        f"  registration rate {result['registration_rate']:.2f}/s = {fraction:.2f} x T  "
        f"(target >= 0.90); end to end {result['end_to_end_rate']:.2f}/s, {result['wall_s']:.1f} s"
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
    print("  (time compression: failed messages reappear after 1 s, indexer back-off base 1 s)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=150)
    parser.add_argument("--rate", type=float, default=10.0, help="gateway limit T, requests/s")
    parser.add_argument("--concurrency", type=int, default=2, help="mapping maximum concurrency C (>= 2)")
    parser.add_argument("--burst", type=float, default=1.0, help="gateway token bucket size (default 1)")
    parser.add_argument(
        "--indexer-env", action="append", default=[], metavar="NAME=VALUE", help="extra indexer environment"
    )
    parser.add_argument("--quick", action="store_true", help="60 images (make bench --quick)")
    args = parser.parse_args(argv)
    images = 60 if args.quick else args.images
    extra_env = dict(item.split("=", 1) for item in args.indexer_env)
    report(run(images, float(args.rate), args.concurrency, args.burst, extra_env))


if __name__ == "__main__":
    main()
