"""s3control:CreateJob for one converted data file: LambdaInvoke (schema 2.0) on the batch function."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from handlers.inventory_created.settings import Settings
from handlers.inventory_created.sink import WrittenManifest

MANIFEST_FORMAT = "S3BatchOperations_CSV_20180820"
REPORT_FORMAT = "Report_CSV_20180820"
_DESCRIPTION_MAX = 256
_USER_ARGUMENT_MAX = 1024


@dataclass(frozen=True)
class JobTarget:
    """What identifies the job: the run, the data file it comes from and where it runs."""

    account_id: str
    partition: str
    source_bucket: str
    inventory_id: str
    run_id: str
    mode: str
    data_file_key: str
    data_file_md5: str | None
    part: int
    parts: int


def client_request_token(manifest_key: str, data_file_key: str, data_file_md5: str | None) -> str:
    """Deterministic (64 hex characters): re-running the same inventory finds the job it already created."""
    text = "\n".join((manifest_key, data_file_key, data_file_md5 or ""))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def create_job_request(
    settings: Settings, target: JobTarget, manifest: WrittenManifest, with_version_ids: bool
) -> dict[str, Any]:
    fields = ["Bucket", "Key", "VersionId"] if with_version_ids else ["Bucket", "Key"]
    arn_prefix = f"arn:{target.partition}:s3:::"
    part = f"{target.part + 1}/{target.parts}"
    description = (
        f"bulk-loader {target.mode} of s3://{target.source_bucket} inventory {target.inventory_id} "
        f"(data file {part})"
    )[:_DESCRIPTION_MAX]
    return {
        "AccountId": target.account_id,
        "ConfirmationRequired": False,
        "Operation": {
            "LambdaInvoke": {
                "FunctionArn": settings.batch_function_arn,
                "InvocationSchemaVersion": "2.0",
                # Read by the batch qualifier from job.userArguments; all values are strings.
                "UserArguments": {
                    "runId": target.run_id,
                    "mode": target.mode,
                    "sourceBucket": target.source_bucket,
                    "inventoryId": target.inventory_id,
                    "part": part,
                    "dataFile": target.data_file_key[:_USER_ARGUMENT_MAX],
                },
            }
        },
        "Report": {
            "Bucket": f"{arn_prefix}{settings.manifest_bucket}",
            "Format": REPORT_FORMAT,
            "Enabled": True,
            "Prefix": f"{settings.report_prefix}{target.source_bucket}/{target.inventory_id}",
            "ReportScope": "AllTasks",
        },
        "ClientRequestToken": client_request_token(manifest.key, target.data_file_key, target.data_file_md5),
        "Manifest": {
            "Spec": {"Format": MANIFEST_FORMAT, "Fields": fields},
            "Location": {"ObjectArn": f"{arn_prefix}{manifest.bucket}/{manifest.key}", "ETag": manifest.etag},
        },
        "Description": description,
        "Priority": settings.job_priority,
        "RoleArn": settings.batch_role_arn,
        "Tags": [
            {"Key": "bulk-loader:source-bucket", "Value": target.source_bucket},
            {"Key": "bulk-loader:inventory", "Value": target.inventory_id},
            {"Key": "bulk-loader:mode", "Value": target.mode},
        ],
    }


def create_job(s3control: Any, request: dict[str, Any]) -> str | None:
    """Create the job; returns its id, or None when S3 already holds a job for this request token with
    different parameters (a re-run whose manifest changed: the first job stands, no second one is made)."""
    try:
        return s3control.create_job(**request)["JobId"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "IdempotencyException":
            return None
        raise
