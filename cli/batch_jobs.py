"""S3 Batch Operations jobs of a run: find them (ListJobs + DescribeJob), read their progress, and build the
CreateJob request of an import whose manifest S3 generates itself (S3JobManifestGenerator).

Request shapes: S3 Control API Reference, CreateJob / JobManifestGenerator / S3JobManifestGenerator /
JobManifestGeneratorFilter / KeyNameConstraint (botocore's `s3control` service model has the same shapes).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import UsageError
from .handler_code import REPORT_FORMAT

# The inventory function's jobs say "bulk-loader <mode> of s3://..." (handlers/inventory_created/jobs.py),
# and so do the ones import-now creates: the prefix tells our jobs from other S3 Batch jobs of the account.
JOB_DESCRIPTION_PREFIX = "bulk-loader "
TERMINAL_STATUSES = ("Complete", "Failed", "Cancelled")
# ListJobs answers the account's jobs, newest included; the run's jobs are looked for among this many.
RECENT_JOBS = 100
_DESCRIPTION_MAX = 256


@dataclass(frozen=True)
class JobProgress:
    job_id: str
    status: str
    run_id: str | None
    mode: str | None
    description: str
    created: datetime | None
    total: int
    succeeded: int
    failed: int
    failure_reasons: tuple[str, ...] = ()

    @property
    def done(self) -> int:
        return self.succeeded + self.failed

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "status": self.status,
            "run_id": self.run_id,
            "mode": self.mode,
            "created": self.created,
            "tasks_total": self.total,
            "tasks_succeeded": self.succeeded,
            "tasks_failed": self.failed,
            "failure_reasons": list(self.failure_reasons),
        }


def account_of(arn: str, what: str) -> tuple[str, str]:
    """(partition, account id) of an ARN, e.g. the S3 Batch role's."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or not parts[4].isdigit():
        raise UsageError(f"{what} {arn!r} is not an ARN with an account id")
    return parts[1], parts[4]


def describe(s3control: Any, account_id: str, job_id: str) -> JobProgress:
    job = s3control.describe_job(AccountId=account_id, JobId=job_id)["Job"]
    arguments = job.get("Operation", {}).get("LambdaInvoke", {}).get("UserArguments") or {}
    progress = job.get("ProgressSummary") or {}
    return JobProgress(
        job_id=job["JobId"],
        status=job.get("Status", "?"),
        run_id=arguments.get("runId"),
        mode=arguments.get("mode"),
        description=job.get("Description", ""),
        created=job.get("CreationTime"),
        total=int(progress.get("TotalNumberOfTasks", 0)),
        succeeded=int(progress.get("NumberOfTasksSucceeded", 0)),
        failed=int(progress.get("NumberOfTasksFailed", 0)),
        failure_reasons=tuple(
            f"{r.get('FailureCode', '?')}: {r.get('FailureReason', '')}"
            for r in job.get("FailureReasons", [])
        ),
    )


def recent_job_ids(s3control: Any, account_id: str, limit: int = RECENT_JOBS) -> list[str]:
    """This stack's jobs (by description) among the account's newest `limit`, newest first."""
    found: list[dict[str, Any]] = []
    request: dict[str, Any] = {"AccountId": account_id, "MaxResults": min(limit, 1000)}
    while len(found) < limit:
        page = s3control.list_jobs(**request)
        found.extend(page.get("Jobs", []))
        if not page.get("NextToken"):
            break
        request["NextToken"] = page["NextToken"]
    ours = [j for j in found if str(j.get("Description", "")).startswith(JOB_DESCRIPTION_PREFIX)]
    ours.sort(key=lambda j: j.get("CreationTime") or datetime.min, reverse=True)
    return [j["JobId"] for j in ours[:limit]]


def jobs_of_run(s3control: Any, account_id: str, run_id: str | None) -> tuple[str | None, list[JobProgress]]:
    """The run's jobs (`run_id` may be a job id), or with no run id the newest job's run: (run id, jobs)."""
    jobs = [describe(s3control, account_id, job_id) for job_id in recent_job_ids(s3control, account_id)]
    if run_id is None:
        if not jobs:
            return None, []
        run_id = jobs[0].run_id or jobs[0].job_id
    matching = [j for j in jobs if run_id in (j.run_id, j.job_id)]
    if matching and matching[0].run_id and run_id == matching[0].job_id:
        run_id = matching[0].run_id  # a job id was given: report its whole run
        matching = [j for j in jobs if j.run_id == run_id]
    return run_id, matching


@dataclass(frozen=True)
class GeneratedImport:
    """An import-now job over the image bucket itself (no inventory yet)."""

    image_bucket: str
    run_id: str
    mode: str
    key_prefix: str | None
    suffixes: tuple[str, ...]
    created_after: datetime | None
    batch_function_arn: str
    batch_role_arn: str
    report_bucket: str
    report_prefix: str
    priority: int


def generated_manifest_request(job: GeneratedImport) -> dict[str, Any]:
    partition, account_id = account_of(job.batch_role_arn, "the S3 Batch role")
    arn_prefix = f"arn:{partition}:s3:::"
    name_filter: dict[str, Any] = {"MatchAnySuffix": list(suffix_variants(job.suffixes))}
    if job.key_prefix:
        name_filter["MatchAnyPrefix"] = [job.key_prefix]
    object_filter: dict[str, Any] = {"KeyNameConstraint": name_filter}
    if job.created_after is not None:
        object_filter["CreatedAfter"] = job.created_after
    scope = f" under {job.key_prefix}" if job.key_prefix else ""
    return {
        "AccountId": account_id,
        "ConfirmationRequired": False,
        "Operation": {
            "LambdaInvoke": {
                "FunctionArn": job.batch_function_arn,
                "InvocationSchemaVersion": "2.0",
                # What the batch qualifier reads from job.userArguments (the inventory function's keys).
                "UserArguments": {"runId": job.run_id, "mode": job.mode, "sourceBucket": job.image_bucket},
            }
        },
        "Report": {
            "Bucket": f"{arn_prefix}{job.report_bucket}",
            "Format": REPORT_FORMAT,
            "Enabled": True,
            "Prefix": f"{job.report_prefix}{job.run_id}",
            "ReportScope": "AllTasks",
        },
        # One job per run id: a retried command finds the job it already created.
        "ClientRequestToken": hashlib.sha256(job.run_id.encode("utf-8")).hexdigest(),
        # No manifest file is written (EnableManifestOutput false): the role needs no write access for it.
        "ManifestGenerator": {
            "S3JobManifestGenerator": {
                "ExpectedBucketOwner": account_id,
                "SourceBucket": f"{arn_prefix}{job.image_bucket}",
                "EnableManifestOutput": False,
                "Filter": object_filter,
            }
        },
        "Description": f"bulk-loader {job.mode} of s3://{job.image_bucket}{scope} (import-now)"[
            :_DESCRIPTION_MAX
        ],
        "Priority": job.priority,
        "RoleArn": job.batch_role_arn,
        "Tags": [
            {"Key": "bulk-loader:source-bucket", "Value": job.image_bucket},
            {"Key": "bulk-loader:mode", "Value": job.mode},
        ],
    }


def suffix_variants(suffixes: tuple[str, ...]) -> tuple[str, ...]:
    """Each suffix as configured, lower- and upper-case: KeyNameConstraint matches case-sensitively, while
    the qualifier compares suffixes case-insensitively (`photo.JPG` qualifies)."""
    seen: dict[str, None] = {}
    for suffix in suffixes:
        for variant in (suffix, suffix.lower(), suffix.upper()):
            seen.setdefault(variant, None)
    return tuple(seen)
