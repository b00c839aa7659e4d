"""`bulk-loader reindex (--user U | --prefix P)`: queue images again in `reindex` mode.

The images are the ones the import history knows (by user, or the objects under a prefix of the image bucket),
each queued as the queue-message contract's ImportMessage (handlers/common/contracts.py) with mode `reindex`,
the recorded user id, properties, version and ETag, under a new run id. Deleted images are not queued; objects
under the prefix that were never imported are listed, for `import-now --prefix`. Asks before queueing unless
`--yes` (no terminal and no --yes: refused).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from .errors import EXIT_FAILED, EXIT_OK, UsageError
from .handler_code import (
    SQS_MAX_MESSAGE_BYTES,
    HistoryRecord,
    HistoryStatus,
    HistoryStore,
    ImportMessage,
    ObjectRef,
    dump_message,
)

if TYPE_CHECKING:
    from .main import Context

SAMPLE = 5
_NEVER = datetime.min.replace(tzinfo=UTC)


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "reindex",
        parents=[common],
        help="queue images again in reindex mode",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--user", metavar="USER_ID", help="every image of this user id")
    which.add_argument("--prefix", metavar="PREFIX", help="every imported image under this key prefix")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.set_defaults(run=run)


@dataclass
class Selection:
    records: list[HistoryRecord] = field(default_factory=list)
    never_imported: list[str] = field(default_factory=list)


def run(args: argparse.Namespace, ctx: Context) -> int:
    store = HistoryStore(ctx.aws.table(ctx.stack.require("history_table_name", "reindex")))
    queue_url = ctx.stack.require("queue_url", "reindex")
    selection = _by_user(store, args.user) if args.user else _by_prefix(ctx, store, args.prefix)
    scope = f"user {args.user}" if args.user else f"prefix {args.prefix!r}"
    if not selection.records:
        raise UsageError(f"the import history has no image of {scope} to re-index")
    if not args.yes and not _confirmed(ctx, selection, scope):
        ctx.printer.line("nothing queued")
        return EXIT_OK
    run_id = f"reindex-{ctx.clock():%Y%m%dT%H%M%SZ}"
    sqs = ctx.aws.client("sqs")
    queued, failed = 0, []
    for record in selection.records:
        message = ImportMessage(
            object=ObjectRef(
                bucket=record.bucket, key=record.key, version_id=record.version_id, etag=record.etag
            ),
            user_id=record.user_id,
            properties=record.properties,
            run_id=run_id,
            mode="reindex",
        )
        body = dump_message(message)
        where = f"s3://{record.bucket}/{record.key}"
        if len(body.encode("utf-8")) > SQS_MAX_MESSAGE_BYTES:
            failed.append(
                f"{where}: its properties do not fit in one SQS message; use import-now --mode reindex"
            )
            continue
        try:
            sqs.send_message(QueueUrl=queue_url, MessageBody=body)
        except ClientError as exc:
            failed.append(f"{where}: SendMessage: {exc.response.get('Error', {}).get('Code')}")
            continue
        queued += 1
    result = {
        "run_id": run_id,
        "queued": queued,
        "failed": failed,
        "never_imported": selection.never_imported,
    }
    if ctx.printer.as_json:
        ctx.printer.json(result)
    else:
        ctx.printer.line(f"queued {queued} images for re-indexing as run {run_id}")
        for failure in failed:
            ctx.printer.line(f"FAILED: {failure}")
        if selection.never_imported:
            ctx.printer.line(
                f"{len(selection.never_imported)} objects under the prefix were never imported "
                f"(bulk-loader import-now --prefix {args.prefix}), e.g. {selection.never_imported[0]}"
            )
        ctx.printer.line(f"follow it with `bulk-loader status {run_id} --watch`")
    return EXIT_FAILED if failed else EXIT_OK


def _by_user(store: HistoryStore, user_id: str) -> Selection:
    newest: dict[tuple[str, str, str | None], HistoryRecord] = {}
    for record in store.by_user(user_id):
        newest[(record.bucket, record.key, record.version_id)] = record
    return Selection([r for r in newest.values() if _reindexable(r)])


def _by_prefix(ctx: Context, store: HistoryStore, prefix: str) -> Selection:
    bucket = ctx.stack.require("image_bucket_name", "reindex --prefix")
    selection = Selection()
    pages = ctx.aws.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for obj in page.get("Contents", []):
            versions = [r for r in store.by_object(bucket, obj["Key"]) if _reindexable(r)]
            current = [r for r in versions if r.etag and r.etag == obj.get("ETag", "").strip('"')]
            chosen = current or versions
            if chosen:
                selection.records.append(max(chosen, key=lambda r: r.updated_at or _NEVER))
            else:
                selection.never_imported.append(f"s3://{bucket}/{obj['Key']}")
    return selection


def _reindexable(record: HistoryRecord) -> bool:
    return record.status != HistoryStatus.DELETED and bool(record.user_id)


def _confirmed(ctx: Context, selection: Selection, scope: str) -> bool:
    if not ctx.stdin.isatty():
        raise UsageError("reindex asks for confirmation and there is no terminal: give --yes")
    ctx.printer.line(f"{len(selection.records)} images of {scope} will be queued in reindex mode, e.g.:")
    for record in selection.records[:SAMPLE]:
        ctx.printer.line(f"  s3://{record.bucket}/{record.key} (user {record.user_id}, {record.status})")
    ctx.printer.out.write("Queue them? [y/N] ")
    ctx.printer.out.flush()
    return ctx.stdin.readline().strip().lower() in ("y", "yes")
