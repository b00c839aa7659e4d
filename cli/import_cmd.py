"""`bulk-loader import-now`: start an import without waiting for the daily S3 Inventory.

- When the image bucket's inventory configuration has delivered a report, the newest complete one (its
  manifest.checksum is written last) is handed to the inventory function the way its direct invocation takes
  it (`{"bucket", "key", "mode", "selection"?}`, handlers/inventory_created/events.py), asynchronously: a
  failure lands in the function's failure queue (`bulk-loader redrive --inventory` replays it). `--full` asks
  it for every object (`"selection": "full"`), `--only-new` without a time for what changed since the last
  run (`"incremental"`); neither: the function's ONLY_NEW_OBJECTS decides.
- Otherwise (a fresh stack: the first report can take 48 hours), an S3 Batch Operations job whose manifest S3
  generates from the bucket itself (S3JobManifestGenerator), with the same LambdaInvoke operation, role and
  report location as the inventory function's jobs. The job settings are read from the deployed inventory
  function's environment with its own settings parser, so they are declared in one place.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from .batch_jobs import GeneratedImport, account_of, describe, generated_manifest_request, recent_job_ids
from .errors import EXIT_OK, CommandFailed, UsageError
from .handler_code import inventory_settings
from .render import iso, key_values, parse_time

if TYPE_CHECKING:
    from .handler_code import InventorySettings
    from .main import Context

_CHECKSUM = "manifest.checksum"
_SINCE_LAST_JOB = "since-last-job"
# What the inventory function's direct invocation takes as "selection" (handlers/inventory_created/events.py).
_FULL, _INCREMENTAL = "full", "incremental"


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "import-now",
        parents=[common],
        help="start an import now (newest inventory, or an S3-generated manifest)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "--only-new",
        nargs="?",
        const=_SINCE_LAST_JOB,
        metavar="SINCE",
        help="only new objects: without a value, the newest inventory's incremental selection (what changed "
        "since the last run), or with no inventory objects created after this stack's newest S3 Batch job "
        "less the inventory function's NEW_OBJECTS_OVERLAP_SECONDS; with SINCE (ISO 8601 or an age: 1d), "
        "objects created after it (an S3-generated manifest with CreatedAfter)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="re-scan every object: the newest inventory with selection full, whatever ONLY_NEW_OBJECTS says "
        "(with no inventory, an S3-generated manifest, which always lists every object)",
    )
    parser.add_argument("--prefix", help="only keys starting with this (S3-generated manifest)")
    parser.add_argument(
        "--source",
        choices=("auto", "inventory", "generate"),
        default="auto",
        help="auto (default): the newest inventory if one exists, else an S3-generated manifest",
    )
    parser.add_argument("--mode", choices=("import", "reindex"), default="import", help="queue message mode")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.full and (args.only_new or args.prefix):
        raise UsageError("--full re-scans every object; --only-new / --prefix select some of them: give one")
    created_after = None
    if args.only_new and args.only_new != _SINCE_LAST_JOB:
        created_after = parse_time(args.only_new, ctx.clock(), flag="--only-new")
    image_bucket = ctx.stack.require("image_bucket_name", "import-now")
    function_name = ctx.stack.require("inventory_function_name", "import-now")
    manifest = None
    if args.source != "generate" and not args.prefix and created_after is None:
        manifest = newest_inventory_manifest(ctx, image_bucket)
        if manifest is None and args.source == "inventory":
            raise CommandFailed(f"no complete S3 Inventory report of s3://{image_bucket} exists yet")
    elif args.source == "inventory":
        raise UsageError(
            "--prefix and --only-new SINCE select objects of an S3-generated manifest: drop --source"
        )
    if manifest is not None:
        selection = _FULL if args.full else _INCREMENTAL if args.only_new else None
        return _invoke_inventory(ctx, function_name, image_bucket, manifest, args.mode, selection)
    return _generated_job(ctx, function_name, image_bucket, args, created_after)


def newest_inventory_manifest(ctx: Context, image_bucket: str) -> tuple[str, str] | None:
    """(bucket, key) of the newest delivered manifest.checksum of the stack's inventory configuration."""
    config_id = ctx.stack.get("inventory_configuration_id")
    if config_id is None:
        return None
    s3 = ctx.aws.client("s3")
    try:
        answer = s3.get_bucket_inventory_configuration(Bucket=image_bucket, Id=config_id)
    except ClientError as exc:
        # 404 but for the bucket itself: no such configuration (inventory switched off, or not applied yet).
        error = exc.response.get("Error", {})
        if (
            exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404
            and error.get("Code") != "NoSuchBucket"
        ):
            return None
        raise
    config = answer["InventoryConfiguration"]
    destination = config["Destination"]["S3BucketDestination"]
    bucket = destination["Bucket"].rsplit(":", 1)[-1]
    prefix = destination.get("Prefix", "").strip("/")
    # S3 Inventory's layout: <prefix>/<source bucket>/<config id>/<YYYY-MM-DDTHH-MMZ>/manifest.checksum
    # (S3 User Guide, "Locating your inventory list"); the date folders sort in time order.
    base = "/".join(p for p in (prefix, image_bucket, config_id) if p) + "/"
    dates: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base, Delimiter="/"):
        dates += [
            p["Prefix"]
            for p in page.get("CommonPrefixes", [])
            if p["Prefix"][len(base) : len(base) + 2] == "20"
        ]
    for folder in sorted(dates, reverse=True):
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=folder + _CHECKSUM, MaxKeys=1)
        if listed.get("KeyCount", 0):
            return bucket, folder + _CHECKSUM
    return None


def _invoke_inventory(
    ctx: Context,
    function_name: str,
    image_bucket: str,
    manifest: tuple[str, str],
    mode: str,
    selection: str | None,
) -> int:
    bucket, key = manifest
    event = {"bucket": bucket, "key": key, "mode": mode}
    if selection is not None:
        event["selection"] = selection
    response = ctx.aws.client("lambda").invoke(
        FunctionName=function_name, InvocationType="Event", Payload=json.dumps(event).encode("utf-8")
    )
    if response.get("StatusCode") != 202:
        raise CommandFailed(
            f"Lambda did not accept the invocation of {function_name} ({response.get('StatusCode')})"
        )
    # The inventory function names its run `<source bucket>/<the report's date folder>`.
    run_id = f"{image_bucket}/{key.rsplit('/', 2)[-2]}"
    result = {
        "source": "inventory",
        "manifest": f"s3://{bucket}/{key}",
        "function": function_name,
        "mode": mode,
        # None: the function's ONLY_NEW_OBJECTS decides.
        "selection": selection,
        "run_id": run_id,
    }
    if ctx.printer.as_json:
        ctx.printer.json(result)
    else:
        ctx.printer.line(key_values(result.items()))
        ctx.printer.line(
            "The inventory function creates the run's S3 Batch jobs within a minute or two (asynchronously: "
            f"a failure lands in its failure queue); follow them with `bulk-loader status {run_id} --watch`"
        )
    return EXIT_OK


def _generated_job(
    ctx: Context,
    function_name: str,
    image_bucket: str,
    args: argparse.Namespace,
    created_after: datetime | None,
) -> int:
    configuration = ctx.aws.client("lambda").get_function_configuration(FunctionName=function_name)
    environment = (configuration.get("Environment") or {}).get("Variables") or {}
    try:
        settings = inventory_settings(environment)
    except ValueError as exc:
        raise CommandFailed(
            f"the inventory function {function_name}'s settings are unusable: {exc}"
        ) from None
    if args.only_new == _SINCE_LAST_JOB:
        created_after = _after_last_job(ctx, settings)
    now = ctx.clock()
    run_id = f"{image_bucket}/import-now-{now:%Y%m%dT%H%M%SZ}"
    job = GeneratedImport(
        image_bucket=image_bucket,
        run_id=run_id,
        mode=args.mode,
        key_prefix=args.prefix,
        suffixes=settings.image_suffixes,
        created_after=created_after,
        batch_function_arn=settings.batch_function_arn,
        batch_role_arn=settings.batch_role_arn,
        report_bucket=settings.manifest_bucket,
        report_prefix=settings.report_prefix,
        priority=settings.job_priority,
    )
    request = generated_manifest_request(job)
    job_id = ctx.aws.client("s3control").create_job(**request)["JobId"]
    result = {
        "source": "generated-manifest",
        "job_id": job_id,
        "run_id": run_id,
        "mode": args.mode,
        "bucket": image_bucket,
        "prefix": args.prefix,
        "created_after": iso(created_after),
        "suffixes": request["ManifestGenerator"]["S3JobManifestGenerator"]["Filter"]["KeyNameConstraint"][
            "MatchAnySuffix"
        ],
    }
    if ctx.printer.as_json:
        ctx.printer.json(result)
    else:
        ctx.printer.line(key_values(result.items()))
        ctx.printer.line(f"Follow it with `bulk-loader status {run_id} --watch`")
    return EXIT_OK


def _after_last_job(ctx: Context, settings: InventorySettings) -> datetime:
    """The newest job's creation less the inventory function's overlap (objects written just before it)."""
    s3control = ctx.aws.client("s3control")
    _, account_id = account_of(settings.batch_role_arn, "the S3 Batch role")
    for job_id in recent_job_ids(s3control, account_id, limit=1):
        created = describe(s3control, account_id, job_id).created
        if created is not None:
            return created - timedelta(seconds=settings.new_objects_overlap_seconds)
    raise UsageError(
        "--only-new without a time needs an earlier S3 Batch job of this stack, and there is none: give a "
        "time (--only-new 2026-12-01T00:00:00Z / 1d) or drop --only-new for a full import"
    )
