"""An S3 Batch Operations job's state, as DescribeJob and the runtime's stats show it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

TERMINAL = ("Complete", "Failed", "Cancelled")


@dataclass
class Job:
    id: str
    account_id: str
    region: str
    request: dict[str, Any]
    token: str
    caller: str
    status: str = "New"
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    terminated: datetime | None = None
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    retries: int = 0
    throttled: int = 0
    active_started: float | None = None
    active_seconds: float = 0.0
    failure_reasons: list[dict[str, str]] = field(default_factory=list)
    status_reason: str = ""
    report_keys: list[str] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    confirmed: threading.Event = field(default_factory=threading.Event)

    @property
    def arn(self) -> str:
        return f"arn:aws:s3:{self.region}:{self.account_id}:job/{self.id}"

    @property
    def lambda_invoke(self) -> dict[str, Any]:
        return self.request["Operation"]["LambdaInvoke"]

    def describe(self) -> dict[str, Any]:
        elapsed = self.active_seconds + (
            time.monotonic() - self.active_started if self.active_started else 0.0
        )
        job: dict[str, Any] = {
            "JobId": self.id,
            "JobArn": self.arn,
            "ConfirmationRequired": bool(self.request.get("ConfirmationRequired", False)),
            "Status": self.status,
            "Operation": self.request["Operation"],
            "Priority": self.request.get("Priority", 0),
            "ProgressSummary": {
                "TotalNumberOfTasks": self.total,
                "NumberOfTasksSucceeded": self.succeeded,
                "NumberOfTasksFailed": self.failed,
                "Timers": {"ElapsedTimeInActiveSeconds": int(elapsed)},
            },
            "Report": self.request["Report"],
            "CreationTime": self.created,
            "RoleArn": self.request["RoleArn"],
        }
        for given in ("Manifest", "ManifestGenerator", "Description"):
            if self.request.get(given):
                job[given] = self.request[given]
        if self.failure_reasons:
            job["FailureReasons"] = self.failure_reasons
        if self.status_reason:
            job["StatusUpdateReason"] = self.status_reason
        if self.terminated:
            job["TerminationDate"] = self.terminated
        return job

    def summary(self) -> dict[str, Any]:
        report = self.request["Report"]
        return {
            "id": self.id,
            "status": self.status,
            "total": self.total,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "created_at": self.created.isoformat(),
            "terminated_at": self.terminated.isoformat() if self.terminated else None,
            "active_seconds": round(
                self.active_seconds
                + (time.monotonic() - self.active_started if self.active_started else 0.0),
                3,
            ),
            "temporary_failure_retries": self.retries,
            "throttled_invokes": self.throttled,
            "failure_reasons": list(self.failure_reasons),
            "report": (
                f"s3://{report['Bucket'].split(':::')[-1]}/{self.report_root()}manifest.json"
                if report.get("Enabled") and self.report_keys
                else None
            ),
            "report_files": list(self.report_keys),
        }

    def report_root(self) -> str:
        prefix = (self.request["Report"].get("Prefix") or "").rstrip("/")
        return f"{prefix}/job-{self.id}/" if prefix else f"job-{self.id}/"
