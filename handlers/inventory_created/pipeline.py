"""Inventory -> S3 Batch jobs: validate the manifest, fan out per data file, convert, create the job.

One invocation handles one inventory: it validates the manifest and, when there is more than one data
file, invokes this function asynchronously once per data file, so each conversion (and its job) runs in
an invocation of its own, bounded by the size of one data file, however large the bucket. The fan-out
itself is bounded too: one invocation sends at most `dispatch_batch` tasks (in parallel), then hands the
rest of the list to another invocation.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from handlers.inventory_created.convert import RowFilter, convert
from handlers.inventory_created.errors import InventoryError
from handlers.inventory_created.events import (
    ConvertTask,
    DispatchTask,
    ManifestLocation,
    ManifestPayload,
    Mode,
    Selection,
)
from handlers.inventory_created.jobs import JobTarget, create_job, create_job_request
from handlers.inventory_created.manifest import (
    UNKNOWN_SOURCE,
    InventoryManifest,
    inventory_id,
    load_manifest,
    parse_manifest,
    source_bucket,
)
from handlers.inventory_created.reader import DataFileReader
from handlers.inventory_created.settings import Settings
from handlers.inventory_created.sink import S3MultipartSink
from handlers.inventory_created.state import ImportState

# Manifest fields a fan-out task carries (the files list is replaced by the one file it converts).
_TASK_MANIFEST_FIELDS = ("sourceBucket", "destinationBucket", "fileFormat", "fileSchema", "creationTimestamp")
# Tasks one invocation sends before handing the rest on, and how many invocations it sends at once.
DISPATCH_BATCH = 1000
DISPATCH_THREADS = 16


@dataclass(frozen=True)
class FunctionIdentity:
    """Where this function runs, from the Lambda context's invoked_function_arn (no STS call)."""

    arn: str
    partition: str
    account_id: str

    @classmethod
    def from_arn(cls, arn: str) -> FunctionIdentity:
        parts = arn.split(":")
        if len(parts) < 7 or parts[0] != "arn" or parts[2] != "lambda":
            raise InventoryError(f"invoked_function_arn {arn!r} is not a Lambda function ARN")
        return cls(arn=arn, partition=parts[1], account_id=parts[4])


class InventoryImporter:
    def __init__(
        self,
        settings: Settings,
        *,
        s3: Any,
        s3control: Any,
        lambda_client: Any,
        function: FunctionIdentity,
        logger: logging.Logger | Any | None = None,
        tmp_dir: str | None = None,
        dispatch_batch: int = DISPATCH_BATCH,
    ) -> None:
        self.settings = settings
        self._s3 = s3
        self._s3control = s3control
        self._lambda = lambda_client
        self._function = function
        self._log = logger or logging.getLogger(__name__)
        self._tmp_dir = tmp_dir
        self._dispatch_batch = dispatch_batch
        self._state = ImportState(s3, settings.manifest_bucket, settings.state_prefix)

    # ------------------------------------------------------------------------------------- inventories
    def import_location(self, request: ManifestLocation) -> dict[str, Any]:
        manifest, md5 = load_manifest(self._s3, request.bucket, request.manifest_key, request.checksum_key)
        return self.import_manifest(
            manifest,
            md5,
            request.manifest_key,
            request.mode,
            bucket=request.bucket,
            selection=request.selection,
        )

    def continue_dispatch(self, request: DispatchTask) -> dict[str, Any]:
        manifest, md5 = load_manifest(self._s3, request.bucket, request.manifest_key)
        return self.import_manifest(
            manifest,
            md5,
            request.manifest_key,
            request.mode,
            bucket=request.bucket,
            start=request.start,
            since_ms=request.since_ms,
            selection="full" if request.full else None,
        )

    def import_payload(self, request: ManifestPayload) -> dict[str, Any]:
        canonical = json.dumps(request.manifest, sort_keys=True, separators=(",", ":"), default=str)
        md5 = hashlib.md5(canonical.encode(), usedforsecurity=False).hexdigest()
        manifest = parse_manifest(request.manifest, "payload")
        return self.import_manifest(manifest, md5, None, request.mode, selection=request.selection)

    def import_manifest(
        self,
        manifest: InventoryManifest,
        manifest_md5: str,
        manifest_key: str | None,
        mode: Mode,
        *,
        bucket: str | None = None,
        start: int = 0,
        since_ms: int | None = None,
        selection: Selection | None = None,
    ) -> dict[str, Any]:
        """Convert (one data file) or fan out (several) from `start` on; `since_ms` is given by a
        continuation (`start` > 0), computed here otherwise. `selection` overrides ONLY_NEW_OBJECTS."""
        inv_id = inventory_id(manifest, manifest_key, manifest_md5)
        source = source_bucket(manifest, manifest_key)
        if source == UNKNOWN_SOURCE:
            self._log.warning(
                "the manifest has no sourceBucket and no S3 Inventory key layout: the run is labelled "
                f"{UNKNOWN_SOURCE}"
            )
        full = selection == "full"
        incremental = selection == "incremental" or (selection is None and self.settings.only_new_objects)
        # A reindex means every image again: "only new objects" applies to imports. The first run of a
        # stack has no state, so cutoff() is None: it imports every object.
        if start == 0 and incremental and mode == "import":
            overlap = self.settings.new_objects_overlap_seconds * 1000
            since_ms = self._state.cutoff(source, inv_id, manifest.creation_timestamp, overlap)
        summary: dict[str, Any] = {
            "runId": f"{source}/{inv_id}",
            "sourceBucket": source,
            "inventoryId": inv_id,
            "dataFiles": len(manifest.files),
            "sinceMs": since_ms,
            "selection": "incremental" if since_ms is not None else "full",
        }
        self._log.info("inventory manifest accepted", extra={**summary, "start": start})
        if not manifest.files:
            self._state.finish_if_complete(source, inv_id, 0, manifest.creation_timestamp, since_ms)
            return {**summary, "jobs": [], "counts": {}}
        if len(manifest.files) == 1:
            # One data file is exactly one fan-out task's work: do it here rather than pay an invocation.
            task = self._task(manifest, manifest_key, inv_id, source, 0, since_ms, mode, full)
            result = self.convert_task(task)
            return {**summary, "jobs": result["jobs"], "counts": result["counts"]}
        end = len(manifest.files)
        if bucket is not None and manifest_key is not None:
            end = min(end, start + self._dispatch_batch)
        tasks = [
            self._task(manifest, manifest_key, inv_id, source, i, since_ms, mode, full)
            for i in range(start, end)
        ]
        with ThreadPoolExecutor(max_workers=DISPATCH_THREADS) as pool:
            list(pool.map(self._invoke_self, tasks))  # list(): re-raises the first failure
        if end < len(manifest.files):
            assert bucket is not None and manifest_key is not None
            rest = DispatchTask(
                bucket=bucket, manifestKey=manifest_key, start=end, sinceMs=since_ms, mode=mode, full=full
            )
            self._invoke_self(rest)
        self._log.info(
            "fanned out one invocation per data file",
            extra={
                "invocations": len(tasks),
                "from": start,
                "handedOnFrom": end if end < len(manifest.files) else None,
            },
        )
        return {**summary, "dispatched": len(tasks), "jobs": [], "counts": {}}

    def _task(
        self,
        manifest: InventoryManifest,
        manifest_key: str | None,
        inv_id: str,
        source: str,
        part: int,
        since_ms: int | None,
        mode: Mode,
        full: bool,
    ) -> ConvertTask:
        fields = manifest.model_dump(by_alias=True, exclude_none=True)
        task_manifest = {k: fields[k] for k in _TASK_MANIFEST_FIELDS if k in fields}
        task_manifest["files"] = [manifest.files[part].model_dump(by_alias=True, exclude_none=True)]
        return ConvertTask(
            manifest=task_manifest,
            manifestKey=manifest_key,
            inventoryId=inv_id,
            sourceBucket=source,
            part=part,
            parts=len(manifest.files),
            sinceMs=since_ms,
            mode=mode,
            full=full,
        )

    def _invoke_self(self, task: ConvertTask | DispatchTask) -> None:
        payload = task.model_dump_json(by_alias=True).encode()
        response = self._lambda.invoke(
            FunctionName=self._function.arn, InvocationType="Event", Payload=payload
        )
        if response.get("StatusCode") != 202:
            what = (
                f"data file {task.part}" if isinstance(task, ConvertTask) else f"the rest from {task.start}"
            )
            raise InventoryError(f"async self-invocation for {what} returned {response.get('StatusCode')}")

    # ------------------------------------------------------------------------------------- one data file
    def convert_task(self, task: ConvertTask) -> dict[str, Any]:
        manifest = parse_manifest(task.manifest, f"of fan-out task {task.part + 1}/{task.parts}")
        if len(manifest.files) != 1:
            raise InventoryError(f"fan-out task {task.part + 1}/{task.parts} must list exactly one data file")
        data_file = manifest.files[0]
        run_prefix = f"{self.settings.manifest_prefix}{task.source_bucket}/{task.inventory_id}"
        # The mode is part of the key, and so of the job's request token: a reindex of an inventory
        # that was imported is another job; re-running either one is not. So is an asked-for full re-scan
        # of an inventory that was imported incrementally.
        selection = f"{task.mode}-full" if task.full else task.mode
        manifest_key = f"{run_prefix}/{selection}/part-{task.part:05d}.csv"
        sink = S3MultipartSink(
            self._s3, self.settings.manifest_bucket, manifest_key, self.settings.manifest_part_bytes
        )
        row_filter = RowFilter(self.settings.image_suffixes, self.settings.max_image_bytes, task.since_ms)
        try:
            with DataFileReader(
                self._s3,
                manifest,
                data_file,
                need_last_modified=task.since_ms is not None,
                tmp_dir=self._tmp_dir,
            ) as reader:
                result = convert(
                    reader.batches(),
                    sink,
                    row_filter,
                    key_is_url_encoded=reader.key_is_url_encoded,
                    source=f"data file {reader.where}",
                )
                reader.verify()
                if task.since_ms is not None and "last_modified" not in reader.columns:
                    self._log.warning(
                        "ONLY_NEW_OBJECTS is on but the inventory has no LastModifiedDate: every object kept",
                        extra={"dataFile": data_file.key},
                    )
            written = sink.commit()
        except BaseException:
            sink.abort()
            raise
        counts = {outcome: n for outcome, n in sorted(result.counts.items()) if n}
        log_extra = {"dataFile": data_file.key, "rows": result.rows, "counts": counts, "part": task.part}
        jobs = []
        if written is None:
            self._log.info("data file has no image to import: no job", extra=log_extra)
        else:
            target = JobTarget(
                account_id=self._function.account_id,
                partition=self._function.partition,
                source_bucket=task.source_bucket,
                inventory_id=task.inventory_id,
                run_id=f"{task.source_bucket}/{task.inventory_id}",
                mode=task.mode,
                data_file_key=data_file.key,
                data_file_md5=data_file.md5,
                part=task.part,
                parts=task.parts,
            )
            request = create_job_request(self.settings, target, written, result.with_version_ids)
            job_id = create_job(self._s3control, request)
            if job_id is None:
                self._log.warning(
                    "a job for this data file already exists with other parameters; not creating another",
                    extra={**log_extra, "clientRequestToken": request["ClientRequestToken"]},
                )
            jobs.append(
                {"jobId": job_id, "manifest": f"s3://{written.bucket}/{written.key}", "rows": result.selected}
            )
            self._log.info("batch job created", extra={**log_extra, "jobId": job_id, "manifest": written.key})
        self._state.mark_done(
            task.source_bucket,
            task.inventory_id,
            task.part,
            {"dataFile": data_file.key, "jobs": jobs, "counts": counts},
        )
        self._state.finish_if_complete(
            task.source_bucket, task.inventory_id, task.parts, manifest.creation_timestamp, task.since_ms
        )
        return {"runId": f"{task.source_bucket}/{task.inventory_id}", "jobs": jobs, "counts": counts}


def merge_counts(results: list[dict[str, Any]]) -> dict[str, int]:
    total: Counter = Counter()
    for result in results:
        total.update(result.get("counts", {}))
    return dict(total)
