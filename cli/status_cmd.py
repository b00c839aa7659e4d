"""`bulk-loader status [RUN] [--watch]`: one view of a run.

The run's S3 Batch jobs (tasks succeeded / failed / total), the input queue (depth, in flight, oldest message
age from CloudWatch), the DLQ, the run's history counts by status, the rate of finished records over the last
minutes and an ETA. A run is settled when every job is terminal, the queue holds nothing and no record of the
run is still queued or indexing. Exit 1 when a job failed or the DLQ holds messages.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .batch_jobs import JobProgress, account_of, jobs_of_run
from .errors import EXIT_FAILED, EXIT_OK, CommandFailed, UsageError
from .handler_code import HistoryStatus, HistoryStore
from .render import iso, key_values, progress_bar

if TYPE_CHECKING:
    from .main import Context

PENDING = (HistoryStatus.QUEUED.value, HistoryStatus.INDEXING.value)
FINISHED = tuple(s.value for s in HistoryStatus if s.value not in PENDING)
_CLEAR_SCREEN = "\x1b[H\x1b[2J"


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "status", parents=[common], help="progress of a run", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument(
        "run_id", nargs="?", metavar="RUN", help="run id or S3 Batch job id (default: newest)"
    )
    parser.add_argument("--watch", action="store_true", help="redraw until the run settles")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between redraws (default 10)")
    parser.add_argument(
        "--timeout", type=float, default=6 * 3600.0, help="--watch gives up after this many seconds (exit 1)"
    )
    parser.add_argument(
        "--rate-window", type=int, default=5, metavar="MINUTES", help="minutes the rate is measured over"
    )
    parser.set_defaults(run=run)


@dataclass
class Snapshot:
    run_id: str | None
    jobs: list[JobProgress] = field(default_factory=list)
    jobs_note: str | None = None
    queue: dict[str, int | None] = field(default_factory=dict)
    oldest_age_seconds: float | None = None
    dlq: int | None = None
    counts: Counter[str] = field(default_factory=Counter)
    rate_per_minute: float | None = None
    eta_seconds: float | None = None

    @property
    def settled(self) -> bool:
        jobs_done = all(j.terminal for j in self.jobs)
        queue_empty = not any(self.queue.values())
        return jobs_done and queue_empty and not any(self.counts[s] for s in PENDING)

    @property
    def problems(self) -> list[str]:
        found = [f"job {j.job_id} is {j.status}" for j in self.jobs if j.status in ("Failed", "Cancelled")]
        if self.dlq:
            found.append(f"{self.dlq} messages in the DLQ (`bulk-loader redrive --dry-run`)")
        return found

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "settled": self.settled,
            "jobs": [j.as_dict() for j in self.jobs],
            "jobs_note": self.jobs_note,
            "queue": {**self.queue, "oldest_message_age_seconds": self.oldest_age_seconds},
            "dlq_messages": self.dlq,
            "history": dict(self.counts),
            "rate_per_minute": self.rate_per_minute,
            "eta_seconds": self.eta_seconds,
            "problems": self.problems,
        }


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.interval <= 0 or args.timeout <= 0 or args.rate_window <= 0:
        raise UsageError("--interval, --timeout and --rate-window must be positive")
    started = ctx.clock()
    while True:
        snapshot = take(args.run_id, args.rate_window, ctx)
        if args.run_id is None:
            args.run_id = snapshot.run_id  # a watched run stays the same run
        show(snapshot, ctx, redraw=args.watch)
        if not args.watch or snapshot.settled:
            break
        if (ctx.clock() - started).total_seconds() >= args.timeout:
            raise CommandFailed(f"the run did not settle within --timeout {args.timeout:g} s")
        ctx.sleep(args.interval)
    return EXIT_FAILED if snapshot.problems else EXIT_OK


def take(run_id: str | None, rate_window: int, ctx: Context) -> Snapshot:
    jobs, jobs_note = [], None
    role_arn = ctx.stack.get("batch_role_arn")
    if role_arn:
        _, account_id = account_of(role_arn, "the stack output batch_role_arn")
        run_id, jobs = jobs_of_run(ctx.aws.client("s3control"), account_id, run_id)
    else:
        jobs_note = (
            "no S3 Batch jobs shown: the stack has no batch_role_arn (InventoryPipeline); --batch-role-arn"
        )
    snapshot = Snapshot(run_id=run_id, jobs=jobs, jobs_note=jobs_note)
    _queues(snapshot, ctx)
    if run_id is not None:
        table = ctx.stack.require("history_table_name", "status")
        _history(snapshot, HistoryStore(ctx.aws.table(table)), run_id, rate_window, ctx.clock())
        if not jobs and not sum(snapshot.counts.values()):
            raise UsageError(f"unknown run id {run_id!r}: no S3 Batch job and no history record has it")
    return snapshot


def _queues(snapshot: Snapshot, ctx: Context) -> None:
    sqs = ctx.aws.client("sqs")
    queue_url = ctx.stack.get("queue_url")
    if queue_url is None:  # a stack without ThrottledIndexer (its queue given by ARN elsewhere)
        snapshot.queue = {"visible": None, "in_flight": None, "delayed": None}
        return
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    snapshot.queue = {
        "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    }
    snapshot.oldest_age_seconds = _oldest_message_age(ctx, queue_url)
    dlq_url = ctx.stack.get("dlq_url")
    if dlq_url:
        dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
        snapshot.dlq = int(dlq["Attributes"].get("ApproximateNumberOfMessages", 0))


def _oldest_message_age(ctx: Context, queue_url: str) -> float | None:
    """SQS publishes ApproximateAgeOfOldestMessage to CloudWatch only (not in GetQueueAttributes), once a
    minute; None when no datapoint exists yet."""
    now = ctx.clock()
    answer = ctx.aws.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/SQS",
        MetricName="ApproximateAgeOfOldestMessage",
        Dimensions=[{"Name": "QueueName", "Value": queue_url.rstrip("/").rsplit("/", 1)[-1]}],
        StartTime=now - timedelta(minutes=10),
        EndTime=now,
        Period=60,
        Statistics=["Maximum"],
    )
    points = sorted(answer.get("Datapoints", []), key=lambda p: p["Timestamp"])
    return float(points[-1]["Maximum"]) if points else None


def _history(snapshot: Snapshot, store: HistoryStore, run_id: str, rate_window: int, now: datetime) -> None:
    window_start = now - timedelta(minutes=rate_window)
    recent = 0
    for record in store.by_run(run_id):
        snapshot.counts[record.status] += 1
        if record.status in FINISHED and record.updated_at and record.updated_at >= window_start:
            recent += 1
    snapshot.rate_per_minute = recent / rate_window
    remaining = sum(snapshot.counts[s] for s in PENDING) + sum(
        max(0, j.total - j.done) for j in snapshot.jobs if not j.terminal
    )
    if remaining and snapshot.rate_per_minute:
        snapshot.eta_seconds = 60 * remaining / snapshot.rate_per_minute
    elif not remaining:
        snapshot.eta_seconds = 0.0


def show(snapshot: Snapshot, ctx: Context, *, redraw: bool) -> None:
    printer = ctx.printer
    if printer.as_json:
        printer.json({"at": iso(ctx.clock()), **snapshot.as_dict()})
        return
    if redraw and printer.out.isatty():
        printer.out.write(_CLEAR_SCREEN)
    printer.line(f"run {snapshot.run_id or '(none found)'}   {iso(ctx.clock())}")
    for job in snapshot.jobs:
        printer.line(
            f"  job {job.job_id} {job.status:<10} {progress_bar(job.done, job.total)}  "
            f"{job.succeeded} succeeded, {job.failed} failed of {job.total} tasks"
        )
        for reason in job.failure_reasons:
            printer.line(f"      {reason}")
    if snapshot.jobs_note:
        printer.line(f"  {snapshot.jobs_note}")
    age = snapshot.oldest_age_seconds
    finished = sum(snapshot.counts[s] for s in FINISHED)
    total = sum(snapshot.counts.values())
    printer.line(
        key_values(
            [
                ("queue", _queue_text(snapshot.queue)),
                (
                    "oldest message",
                    f"{age:.0f} s" if age is not None else "not available (no CloudWatch datapoint)",
                ),
                ("dlq", snapshot.dlq if snapshot.dlq is not None else "not available (no dlq_url)"),
                (
                    "history",
                    ", ".join(f"{k} {v}" for k, v in sorted(snapshot.counts.items())) or "no records",
                ),
                ("finished", f"{progress_bar(finished, total)}  {finished} of {total} records"),
                (
                    "rate",
                    f"{snapshot.rate_per_minute:.1f} records/min"
                    if snapshot.rate_per_minute is not None
                    else "-",
                ),
                ("eta", _eta(snapshot.eta_seconds)),
                ("state", "settled" if snapshot.settled else "running"),
            ]
        )
    )
    for problem in snapshot.problems:
        printer.line(f"PROBLEM: {problem}")


def _queue_text(queue: dict[str, int | None]) -> str:
    if queue.get("visible") is None:
        return "not available (no queue_url: --queue-url)"
    return "{visible} visible, {in_flight} in flight, {delayed} delayed".format(**queue)


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "unknown (nothing finished in the rate window)"
    if seconds == 0:
        return "done"
    return str(timedelta(seconds=round(seconds)))
