"""`make demo`: the whole bulk loader on this machine, no AWS account.

Starts the offline runtime (moto behind the front door), deploys a stack from `__main__.py`, enforces IAM,
writes sample images into the image bucket, delivers an S3 Inventory report and lets the deployed wiring do
the rest (SNS -> inventory_created -> S3 Batch -> batch_qualifier -> SQS -> throttled_indexer -> gateway ->
import history), deletes a few images and waits for their deregistration, then reports and checks the result.

    python -m offline.demo [--stack dev] [--images 200] [--gateway rekognition|http] [--seed 7]
                           [--rekognition-mode faces|users] [--rate N] [--pace R] [--concurrency C]
                           [--keep-running] [--timeout 600]

`--rate N` limits the emulated gateway to N requests/s; `--pace R` sets the stack's
throttledIndexer.gatewayRatePerSecond to R (the indexer's workers together call at R/s), `--concurrency C` its
maxConcurrency (the dev stack's 2 workers made about 1.9 registrations/s here against a 2/s limit). The
progress line shows the registration rate (overall since the first registration, and over the last 10 s) and
the calls the gateway refused for its rate, so pacing (or its absence) shows while the import runs; the
report gives the rate from the first to the last registration against N, and the throttled calls.

`--rekognition-mode users` sets throttledIndexer.rekognitionMode: the sample data adds a user with several
images and another person's face tagged with that user, the demo also deletes one of that user's images, and
the checks compare the collection's users with the history (one user per UserId, several images in one user,
a user whose last image is deleted is gone).

Any stack file runs (`Pulumi.<stack>.yaml`): what it says already exists (an image bucket by name, a
collection, alarm topics) is created in the emulator first, what it leaves to the bucket's owner (EventBridge
delivery) is done as the owner would, one line each (offline.deployment.stack_prereqs).

Exit status 0 when every check passes, 1 otherwise (or when the run did not settle in time), 2 when the
stack cannot run offline (the one-line reason is printed).
"""

from __future__ import annotations

import argparse
import json
import signal
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from handlers.common.history import HistoryStore
from offline.aws.s3_inventory import deliver_inventory
from offline.demo.report import (
    DemoReport,
    Stages,
    final_states,
    inventory_filter_counts,
    pace_line,
    read_completion_report,
    run_checks,
    user_checks,
)
from offline.demo.sample_data import SEVERAL_IMAGES_CASE, build_sample_set, upload_sample_set
from offline.deployment.program import REPO_ROOT
from offline.deployment.resources import CreatorError
from offline.deployment.stack_prereqs import StackNotRunnable, plan_stack, stack_settings
from offline.gateways.limits import Registry
from offline.gateways.registration_api import RegistrationApi
from offline.gateways.rekognition import EmulatedRekognition
from offline.runtime import OfflineRuntime

DELETED_IMAGES = 3
PROGRESS_EVERY_S = 3.0
RECENT_WINDOW_S = 10.0
NOT_RUNNABLE = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m offline.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="dev", help="stack file Pulumi.<stack>.yaml (default dev)")
    parser.add_argument("--images", type=int, default=200, help="face images, one user each (default 200)")
    parser.add_argument(
        "--gateway",
        choices=("rekognition", "http"),
        default=None,
        help="emulated Rekognition collection or a local HTTP registration API (default: the stack's)",
    )
    parser.add_argument("--seed", type=int, default=7, help="sample data seed (default 7)")
    parser.add_argument(
        "--rekognition-mode",
        choices=("faces", "users"),
        default=None,
        help="throttledIndexer.rekognitionMode: faces, or a user per UserId too (default: the stack's)",
    )
    parser.add_argument(
        "--rate", type=float, default=None, help="gateway requests per second (default: unlimited)"
    )
    parser.add_argument(
        "--pace",
        type=float,
        default=None,
        metavar="R",
        help="throttledIndexer.gatewayRatePerSecond: pace the indexer to R calls/s (default: the stack's)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        metavar="C",
        help="throttledIndexer.maxConcurrency: indexer workers at once (default: the stack's)",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for each stage")
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="leave the emulator up after the report, print how to look around, wait for Ctrl-C",
    )
    args = parser.parse_args(argv)
    if args.images < DELETED_IMAGES:
        parser.error(f"--images must be at least {DELETED_IMAGES} (the demo deletes that many)")
    if args.rekognition_mode == "users" and args.gateway == "http":
        parser.error("--rekognition-mode users needs --gateway rekognition")
    return args


class Progress:
    """Prints one line every few seconds while the pipeline runs: stages, queue, registrations, their rate
    and the gateway's refusals for its rate (`throttled()`: the emulated gateway's count of 429s /
    ThrottlingExceptions so far)."""

    def __init__(
        self,
        inventory_rows: int,
        registry: Registry,
        queue_name: str | None,
        throttled: Callable[[], int] = lambda: 0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.inventory_rows = inventory_rows
        self.registry = registry
        self.queue_name = queue_name
        self.throttled = throttled
        self._clock = clock
        self._wall = wall
        self.started = clock()
        self._last = float("-inf")
        self._recent: deque[tuple[float, int]] = deque()

    def rates(self) -> tuple[float, float]:
        """(registrations/s from the first registration to now, registrations/s over the last 10 s)."""
        now = self._clock()
        times = [r.created_at for r in self.registry.all()]
        count = len(times)
        self._recent.append((now, count))
        while self._recent and now - self._recent[0][0] > RECENT_WINDOW_S:
            self._recent.popleft()
        span = self._wall() - min(times) if times else 0.0
        overall = count / span if span > 0 else 0.0
        first_time, first_count = self._recent[0]
        recent = (count - first_count) / (now - first_time) if now > first_time else 0.0
        return overall, recent

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        if kind != "tick" or self._clock() - self._last < PROGRESS_EVERY_S:
            return
        self._last = self._clock()
        overall, recent = self.rates()
        jobs = data.get("jobs") or []
        done = sum(j["succeeded"] + j["failed"] for j in jobs)
        total = sum(j["total"] for j in jobs)
        depth = (data.get("queues") or {}).get(self.queue_name or "", {})
        print(
            f"  [{self._clock() - self.started:6.1f}s] inventory rows {self.inventory_rows}"
            f" | batch tasks {done}/{total}"
            f" | queue {depth.get('visible', 0)} visible, {depth.get('in_flight', 0)} in flight"
            f" | indexed {len(self.registry.active())}"
            f" | {overall:.1f}/s ({recent:.1f}/s last {RECENT_WINDOW_S:g} s)"
            f" | throttled {self.throttled()}",
            flush=True,
        )


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except StackNotRunnable as exc:
        print(f"DEMO CANNOT RUN stack {args.stack}: {exc}")
        return NOT_RUNNABLE


def _run(args: argparse.Namespace) -> int:
    try:
        settings = stack_settings(REPO_ROOT, args.stack)
    except (FileNotFoundError, ValueError) as exc:  # no such stack file, an encrypted secret
        raise StackNotRunnable(str(exc)) from None
    args.gateway = args.gateway or settings.throttled_indexer.gateway
    if args.gateway == "rekognition":
        args.rekognition_mode = args.rekognition_mode or settings.throttled_indexer.rekognition_mode
    elif args.rekognition_mode == "users":
        raise StackNotRunnable("rekognitionMode users needs gateway rekognition (the stack's is http)")
    users_mode = args.rekognition_mode == "users"
    prereqs = plan_stack(settings)
    stages = Stages()
    registry = Registry()
    progress: Progress | None = None

    def on_progress(kind: str, data: dict[str, Any]) -> None:
        if progress is not None:
            progress(kind, data)

    # Failed SQS messages reappear after 2 s instead of the queue's visibility timeout: demo speed only.
    runtime = OfflineRuntime(failed_visibility_timeout_s=2, progress=on_progress)
    api: RegistrationApi | None = None
    try:
        with stages.timed("start emulator"):
            runtime.start()
            moto_s3 = boto3.client(  # the emulated Rekognition reads images straight from moto, uncounted
                "s3",
                region_name=runtime.region,
                endpoint_url=runtime.moto.endpoint,
                aws_access_key_id=runtime.admin_credentials["AccessKeyId"],
                aws_secret_access_key=runtime.admin_credentials["SecretAccessKey"],
                config=Config(retries={"mode": "standard", "total_max_attempts": 3}),
            )
            rekognition = EmulatedRekognition(
                moto_s3,
                authorize=runtime.authorize,
                account_id=runtime.account_id,
                rate_per_s=args.rate,
                registry=registry,
            )
            runtime.set_rekognition_handler(rekognition)
            overrides: dict[str, Any] = {}
            if args.gateway == "http":
                api = RegistrationApi(rate_per_s=args.rate, registry=registry)
                # The local API stands in for the stack's; a collection only belongs to gateway rekognition.
                overrides = {
                    "throttledIndexer": {"gateway": "http", "gatewayUrl": api.start(), "collectionId": None}
                }
                print(f"HTTP registration API on {api.url}")
            elif settings.throttled_indexer.gateway == "http":
                overrides = {"throttledIndexer": {"gateway": "rekognition", "gatewayUrl": None}}
            if args.gateway == "rekognition" and args.rekognition_mode:
                overrides.setdefault("throttledIndexer", {})["rekognitionMode"] = args.rekognition_mode
                print(f"rekognitionMode {args.rekognition_mode}")
            if args.pace is not None:
                overrides.setdefault("throttledIndexer", {})["gatewayRatePerSecond"] = args.pace
                print(f"indexer paced to {args.pace:g} calls/s (throttledIndexer.gatewayRatePerSecond)")
            if args.concurrency is not None:
                overrides.setdefault("throttledIndexer", {})["maxConcurrency"] = args.concurrency
                print(f"indexer workers: {args.concurrency} (throttledIndexer.maxConcurrency)")

        def prepare(ctx: Any) -> None:
            for line in prereqs.create(ctx):
                print(line)

        with stages.timed("deploy stack"):
            try:
                deployment = runtime.deploy(args.stack, overrides or None, prepare=prepare)
            except CreatorError as exc:
                raise StackNotRunnable(str(exc).splitlines()[0]) from None
            rekognition.region = runtime.region
            runtime.enforce_iam()
        outputs = deployment.outputs
        for needed in ("image_bucket_name", "inventory_bucket_name", "history_table_name", "queue_url"):
            if needed not in outputs:
                raise StackNotRunnable(
                    f"the stack does not export {needed}: the demo needs the full pipeline"
                )
        bucket = outputs["image_bucket_name"]
        s3 = runtime.client("s3")
        for line in prereqs.owner_steps(s3, bucket):
            print(line)
        with stages.timed("generate + upload sample data"):
            sample = build_sample_set(bucket, args.images, args.seed, users_mode=users_mode)
            versions = upload_sample_set(s3, sample)
        print(
            f"sample data: {len(sample.objects)} objects in s3://{bucket}, expected {dict(sample.expected())}"
        )
        with stages.timed("deliver inventory"):
            delivery = deliver_inventory(s3, source_bucket=bucket)
        print(
            f"inventory: {delivery.rows} rows ({delivery.fmt}),"
            f" s3://{delivery.destination_bucket}/{delivery.manifest_key} (+ manifest.checksum)"
        )
        queue_name = outputs["queue_url"].rsplit("/", 1)[-1]
        refused = throttled_counter(api, rekognition)
        progress = Progress(delivery.rows, registry, queue_name, refused)
        with stages.timed("import (inventory -> history)"):
            runtime.run_until_idle(args.timeout)
        history = HistoryStore(_table(runtime, outputs["history_table_name"]))

        # Delete a few indexed images; EventBridge carries the deletions to the indexer.
        to_delete = [obj.key for obj in sample.images() if obj.case == "face"][:DELETED_IMAGES]
        if users_mode:  # one image of the user with several: its user keeps the others
            to_delete += [obj.key for obj in sample.images() if obj.case == SEVERAL_IMAGES_CASE][:1]
        before = final_states(sample, versions, history, {}, ())
        registered = {
            o.obj.key: [i for i in (*(o.record.face_ids or ()), o.record.image_id) if i]
            for o in before
            if o.obj.key in to_delete and o.record is not None and o.state == "indexed"
        }
        with stages.timed("delete images + deregister"):
            for key in to_delete:
                s3.delete_object(Bucket=bucket, Key=key)
            print(f"deleted {len(to_delete)} images: {', '.join(to_delete)}")
            runtime.run_until_idle(args.timeout)

        with stages.timed("report"):
            stats = runtime.stats()
            job = stats["jobs"][-1] if stats["jobs"] else None
            if len(stats["jobs"]) > 1:
                print(f"note: {len(stats['jobs'])} S3 Batch jobs were created (expected one)")
            report_rows = read_completion_report(s3, job)
            outcomes = final_states(sample, versions, history, report_rows, to_delete, args.gateway)
            dlq_url = outputs.get("dlq_url")
            dlq_depth = None
            if dlq_url:
                dlq_name = dlq_url.rsplit("/", 1)[-1]
                depth = stats["queues"].get(dlq_name, {})
                dlq_depth = sum(depth.values())
            inventory_counts = None
            if outputs.get("inventory_function_name"):
                inventory_counts = inventory_filter_counts(
                    runtime.client("logs"), outputs["inventory_function_name"]
                )
            checks = run_checks(
                outcomes,
                registry,
                access_denied=stats["access_denied"],
                deregistered_ids=registered,
                dlq_depth=dlq_depth,
                job=job,
                inventory_counts=inventory_counts,
            )
            if users_mode:
                collection = outputs.get("collection_id") or settings.throttled_indexer.collection_id
                checks += user_checks(outcomes, history, rekognition.user_faces(str(collection)))
            if args.gateway == "rekognition":
                gateway_calls = dict(rekognition.calls)
                gateway_calls.update({f"{a} throttled": n for a, n in rekognition.throttled.items()})
            else:
                assert api is not None
                gateway_calls = dict(api.responses)
        pace = pace_line(len(registry.all()), registry.rate(), args.rate, refused())
        report = DemoReport(
            outcomes, checks, stages, job, args.gateway, gateway_calls, dict(inventory_counts or {}), pace
        )
        print(report.render())
        if args.keep_running:
            print(f"worker logs: {stats['logs']}")
            _keep_running(runtime, outputs)
        return 0 if report.passed else 1
    except TimeoutError as exc:
        print(f"DEMO FAILED: the pipeline did not settle: {exc}")
        return 1
    finally:
        if api is not None:
            api.stop()
        runtime.stop()


def throttled_counter(api: RegistrationApi | None, rekognition: EmulatedRekognition) -> Callable[[], int]:
    """Calls the gateway refused for its rate so far: the HTTP API's 429s, or Rekognition's throttling."""
    if api is not None:
        return lambda: sum(n for key, n in api.responses.items() if key.endswith(" 429"))
    return lambda: sum(rekognition.throttled.values())


def _table(runtime: OfflineRuntime, name: str) -> Any:
    credentials = runtime.admin_credentials
    resource = boto3.resource(
        "dynamodb",
        region_name=runtime.region,
        endpoint_url=runtime.endpoint,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
    )
    return resource.Table(name)


def _keep_running(runtime: OfflineRuntime, outputs: dict[str, Any]) -> None:
    credentials = runtime.admin_credentials
    outputs_file = runtime.workdir / "stack-outputs.json"
    outputs_file.write_text(json.dumps(outputs, indent=2, default=str))
    print(
        f"""
The emulator keeps running at {runtime.endpoint} (Ctrl-C to stop). In another shell:

  export AWS_ENDPOINT_URL={runtime.endpoint} AWS_DEFAULT_REGION={runtime.region} \\
         AWS_ACCESS_KEY_ID={credentials["AccessKeyId"]} AWS_SECRET_ACCESS_KEY={credentials["SecretAccessKey"]}
  aws s3 ls s3://{outputs["image_bucket_name"]} --recursive | head
  aws dynamodb scan --table-name {outputs["history_table_name"]} --max-items 5
  aws sqs get-queue-attributes --queue-url {outputs["queue_url"]} --attribute-names All
  aws logs tail /aws/lambda/{outputs.get("indexer_function_name", "<indexer>")}

  python -c 'import boto3; print(boto3.client("s3").list_buckets()["Buckets"])'
  (boto3 reads the same AWS_* variables.)

The run it just did, with the operator's command (README "Operating"), from the repo root in that shell:

  BL=".venv/bin/python -m cli"; STACK="--outputs {outputs_file} --endpoint-url {runtime.endpoint}"
  $BL status $STACK                                   # jobs, queue, DLQ, history counts of the newest run
  $BL history failures --since 1h $STACK              # what was invalid or failed
  $BL history run RUN --count $STACK                  # RUN: the run id status printed
  $BL redrive --dry-run $STACK                        # what the DLQ and the inventory failure queue hold
  $BL import-now $STACK && $BL status --watch --interval 2 $STACK
""",
        flush=True,
    )

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # `kill <pid>` stops it as Ctrl-C does: the runtime then removes its workers and work directory.
    signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping")


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))
