"""`bulk-loader history`: the import history by object, user, run (+ time range), or failures since a time.

Records stream from the table page by page (HistoryStore's queries); `--limit` caps what is printed (0: all),
`--count` prints counts by status (or reason) instead, reading every matching record.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .errors import EXIT_OK, UsageError
from .handler_code import HistoryRecord, HistoryStore
from .render import iso, parse_time

if TYPE_CHECKING:
    from .main import Context

DEFAULT_LIMIT = 100
TABLE_COLUMNS = ("updated_at", "status", "reason", "object", "version_id", "user_id", "run_id", "attempts")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "history",
        help="query the import history",
        description="Query the import history: by object, by user, by run, or failures since a time.",
    )
    queries = parser.add_subparsers(dest="query", metavar="QUERY", required=True)
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument(
        "--limit", type=_non_negative, default=DEFAULT_LIMIT, help="records to print (0: all)"
    )
    shared.add_argument(
        "--count",
        nargs="?",
        const="status",
        choices=("status", "reason"),
        help="print counts by status (default) or by reason instead of records",
    )
    since = argparse.ArgumentParser(add_help=False)
    since.add_argument("--since", help="from this time (ISO 8601, or an age: 30m, 6h, 2d)")
    since.add_argument("--until", help="up to this time (ISO 8601, or an age)")

    by_object = queries.add_parser(
        "object", parents=[common, shared], help="every recorded version of one object"
    )
    by_object.add_argument("url", metavar="s3://BUCKET/KEY")
    by_object.add_argument("--version", help="only this version id ('null' for an unversioned object)")
    by_user = queries.add_parser("user", parents=[common, shared, since], help="records of one user id")
    by_user.add_argument("user_id", metavar="USER_ID")
    by_run = queries.add_parser("run", parents=[common, shared, since], help="records of one run")
    by_run.add_argument("run_id", metavar="RUN_ID", help="e.g. <image bucket>/<inventory id> (see `status`)")
    failures = queries.add_parser(
        "failures", parents=[common, shared], help="invalid and failed records since a time"
    )
    failures.add_argument("--since", required=True, help="from this time (ISO 8601, or an age: 30m, 6h, 2d)")
    failures.add_argument("--until", help="up to this time (ISO 8601, or an age)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    records = query(args, ctx)
    shown: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    truncated = False
    for record in records:
        if args.count:
            counts[(record.status if args.count == "status" else record.reason) or "-"] += 1
            continue
        if args.limit and len(shown) >= args.limit:
            truncated = True
            break
        shown.append(record_dict(record))
    found = sum(counts.values()) if args.count else len(shown)
    if not found and args.query == "run":
        raise UsageError(
            f"no history records for run {args.run_id!r}{_range_text(args)}: unknown run id "
            "(`bulk-loader status` names the newest run)"
        )
    printer = ctx.printer
    if args.count:
        if printer.as_json:
            printer.json({"query": _query_text(args), "by": args.count, "counts": dict(counts.most_common())})
        else:
            printer.table(
                [{args.count: k, "count": v} for k, v in counts.most_common()], (args.count, "count")
            )
            printer.line(f"{found} records ({_query_text(args)})")
        return EXIT_OK
    if printer.as_json:
        printer.json({"query": _query_text(args), "records": shown, "truncated": truncated})
        return EXIT_OK
    if not shown:
        printer.line(f"no history records ({_query_text(args)})")
        return EXIT_OK
    printer.table([{**r, "object": f"s3://{r['bucket']}/{r['key']}"} for r in shown], TABLE_COLUMNS)
    if truncated:
        printer.line(f"(first {args.limit} records; --limit 0 prints all, --count counts them)")
    return EXIT_OK


def query(args: argparse.Namespace, ctx: Context) -> Iterator[HistoryRecord]:
    now = ctx.clock()
    since = parse_time(args.since, now, flag="--since") if getattr(args, "since", None) else None
    until = parse_time(args.until, now, flag="--until") if getattr(args, "until", None) else None
    if since and until and since > until:
        raise UsageError(f"--since ({iso(since)}) is after --until ({iso(until)})")
    table_name = ctx.stack.require("history_table_name", "history")
    store = HistoryStore(ctx.aws.table(table_name))
    if args.query == "object":
        bucket, key = parse_s3_url(args.url)
        records = store.by_object(bucket, key)
        if args.version is not None:
            wanted = None if args.version == "null" else args.version
            return (r for r in records if r.version_id == wanted)
        return records
    if args.query == "user":
        return store.by_user(args.user_id, since, until)
    if args.query == "run":
        return store.by_run(args.run_id, since, until)
    assert since is not None  # --since is required for failures
    return store.failures_since(since, until)


def parse_s3_url(url: str) -> tuple[str, str]:
    if not url.startswith("s3://"):
        raise UsageError(f"{url!r} is not an s3://BUCKET/KEY URL")
    bucket, _, key = url[len("s3://") :].partition("/")
    if not bucket or not key:
        raise UsageError(f"{url!r} names no object: expected s3://BUCKET/KEY")
    return bucket, key


def record_dict(record: HistoryRecord) -> dict[str, Any]:
    return {
        "bucket": record.bucket,
        "key": record.key,
        "version_id": record.version_id,
        "status": record.status,
        "reason": record.reason,
        "user_id": record.user_id,
        "run_id": record.run_id,
        "updated_at": iso(record.updated_at),
        "attempts": record.attempts,
        "fingerprint": record.fingerprint,
        "face_ids": list(record.face_ids),
        "image_id": record.image_id,
        "details": record.details,
    }


def _query_text(args: argparse.Namespace) -> str:
    if args.query == "object":
        return f"object {args.url}" + (f" version {args.version}" if args.version else "")
    if args.query == "user":
        return f"user {args.user_id}{_range_text(args)}"
    if args.query == "run":
        return f"run {args.run_id}{_range_text(args)}"
    return f"failures{_range_text(args)}"


def _range_text(args: argparse.Namespace) -> str:
    since, until = getattr(args, "since", None), getattr(args, "until", None)
    return (f" since {since}" if since else "") + (f" until {until}" if until else "")


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value
