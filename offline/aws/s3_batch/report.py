"""The completion report of an S3 Batch Operations job (Report_CSV_20180820): result files by task status and
their manifest.json under `<report prefix>/job-<id>/`, written as the job role."""

from __future__ import annotations

import csv
import hashlib
import json
import tempfile
from datetime import UTC, datetime
from typing import Any

from offline.aws.s3_batch.jobs import Job

# AWS report rows carry the HTTP status in the fifth column and the error code in the sixth (see the examples
# in "Examples: S3 Batch Operations completion reports"); the schema line names them the other way round.
REPORT_SCHEMA = "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"


class ReportWriter:
    """Streams report rows to temporary files (succeeded / failed), then uploads them with their manifest."""

    def __init__(self, job: Job) -> None:
        self.job = job
        report = job.request["Report"]
        self.enabled = bool(report.get("Enabled"))
        self.scope = report.get("ReportScope", "AllTasks")
        self._files: dict[str, Any] = {}
        self._writers: dict[str, Any] = {}
        self._counts: dict[str, int] = {}

    def add(self, row: list[str], status: str, http_status: str, code: str, message: str) -> None:
        if not self.enabled or (self.scope == "FailedTasksOnly" and status == "succeeded"):
            return
        if status not in self._files:
            # Closed in close(): the writer keeps it open across add() calls.
            self._files[status] = tempfile.TemporaryFile(mode="w+", newline="", encoding="utf-8")  # noqa: SIM115
            self._writers[status] = csv.writer(self._files[status], lineterminator="\n")
            self._counts[status] = 0
        version_id = row[2] if len(row) > 2 else ""
        self._writers[status].writerow([row[0], row[1], version_id, status, http_status, code, message])
        self._counts[status] += 1

    def upload(self, s3: Any) -> None:
        if not self.enabled:
            return
        report = self.job.request["Report"]
        bucket = report["Bucket"].split(":::", 1)[1]
        root = self.job.report_root()
        results = []
        for status, handle in self._files.items():
            handle.seek(0)
            data = handle.read().encode("utf-8")
            key = f"{root}results/{hashlib.sha1(f'{self.job.id}-{status}'.encode()).hexdigest()}.csv"  # noqa: S324 (a name, not security)
            s3.put_object(Bucket=bucket, Key=key, Body=data, ServerSideEncryption="AES256")
            results.append(
                {
                    "TaskExecutionStatus": status,
                    "Bucket": bucket,
                    "MD5Checksum": hashlib.md5(data).hexdigest(),  # noqa: S324 (the checksum S3 reports)
                    "Key": key,
                }
            )
            self.job.report_keys.append(key)
        manifest = {
            "Format": "Report_CSV_20180820",
            "ReportCreationDate": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "Results": results,
            "ReportSchema": REPORT_SCHEMA,
        }
        s3.put_object(
            Bucket=bucket,
            Key=f"{root}manifest.json",
            Body=json.dumps(manifest).encode(),
            ServerSideEncryption="AES256",
        )
        self.job.report_keys.append(f"{root}manifest.json")

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
