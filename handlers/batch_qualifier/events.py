"""S3 Batch Operations `LambdaInvoke` events (schemas 1.0 and 2.0) in, S3 Batch responses out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from aws_lambda_powertools.utilities.data_classes import S3BatchOperationEvent, S3BatchOperationResponse
from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import (
    S3BatchOperationResponseRecord,
    S3BatchOperationTask,
)

from handlers.batch_qualifier.registration import BatchTask
from handlers.common.contracts import decode_batch_key
from handlers.common.s3_names import bucket_from_arn, bucket_name_problem

# A task S3 Batch sent for a key that does not answer is a failure the report must show, never a success.
TREAT_MISSING_KEYS_AS: Final = "PermanentFailure"
MODES = ("import", "reindex")


class EventError(ValueError):
    """The event is not an S3 Batch invocation we can answer at all."""


@dataclass(frozen=True)
class BadTask:
    """A task we cannot even read; it fails permanently with `reason`."""

    task_id: str
    reason: str


@dataclass(frozen=True)
class Invocation:
    schema_version: str
    invocation_id: str
    job_id: str
    run_id: str
    tasks: tuple[BatchTask | BadTask, ...]


def parse_invocation(raw: dict[str, Any]) -> Invocation:
    event = S3BatchOperationEvent(raw)
    try:
        schema_version = event.invocation_schema_version
        invocation_id = event.invocation_id
        raw_tasks = raw["tasks"]
    except (KeyError, TypeError) as exc:
        raise EventError(f"not an S3 Batch Operations invocation: missing {exc}") from exc
    if schema_version not in ("1.0", "2.0") or not isinstance(raw_tasks, list):
        raise EventError(
            f"unsupported S3 Batch invocation (schema {schema_version!r}, tasks {type(raw_tasks)})"
        )
    job = raw.get("job") or {}
    if not isinstance(job, dict):
        raise EventError(f"S3 Batch invocation field 'job' is a JSON {type(job).__name__}, not an object")
    job_id = str(job.get("id") or invocation_id)
    arguments = (job.get("userArguments") or {}) if schema_version == "2.0" else {}
    if not isinstance(arguments, dict):
        raise EventError(
            f"S3 Batch invocation field 'job.userArguments' is a JSON {type(arguments).__name__}, "
            "not an object"
        )
    run_id = str(arguments.get("runId") or job_id)
    mode = arguments.get("mode") or "import"
    job_problem = (
        None if mode in MODES else f"error:job-arguments: mode must be import or reindex, not {mode!r}"
    )
    tasks = tuple(
        _task(S3BatchOperationTask(task), job_id=job_id, run_id=run_id, mode=mode, job_problem=job_problem)
        if isinstance(task, dict)
        else BadTask("", f"error:event: a task is a JSON {type(task).__name__}, not an object")
        for task in raw_tasks
    )
    return Invocation(schema_version, invocation_id, job_id, run_id, tasks)


def _task(
    task: S3BatchOperationTask, *, job_id: str, run_id: str, mode: str, job_problem: str | None
) -> BatchTask | BadTask:
    task_id = str(task.get("taskId") or "")
    if job_problem:
        return BadTask(task_id, job_problem)
    bucket, problem = _bucket(task)
    if bucket is None:  # _bucket gives a problem exactly when it gives no bucket
        return BadTask(task_id, f"error:event: {problem}")
    try:
        raw_key = task["s3Key"]
    except (KeyError, TypeError) as exc:
        return BadTask(task_id, f"error:event: task lacks {exc}")
    if not isinstance(raw_key, str) or not raw_key:
        return BadTask(task_id, "error:event: task has an empty key (s3Key)")
    version_id = task.s3_version_id
    # S3 reports the version of objects in unversioned buckets as the literal 'null'.
    if version_id in ("", "null"):
        version_id = None
    return BatchTask(
        task_id=task_id,
        bucket=bucket,
        key=decode_batch_key(raw_key),
        version_id=version_id,
        run_id=run_id,
        job_id=job_id,
        mode="reindex" if mode == "reindex" else "import",
    )


def _bucket(task: S3BatchOperationTask) -> tuple[str, None] | tuple[None, str]:
    """The task's bucket name: schema 2.0 `s3Bucket`, or from schema 1.0's `s3BucketArn`.

    Not Powertools' `task.s3_bucket`: it splits the ARN on ':::' only, so AWS's own 1.0 example
    (`arn:aws:s3:us-east-1:0123456788:awsexamplebucket1`) would give the whole ARN as the bucket name."""
    if "s3BucketArn" in task:
        bucket, problem = bucket_from_arn(task["s3BucketArn"])
        return (bucket, None) if bucket else (None, f"s3BucketArn {problem}")
    if "s3Bucket" not in task:
        return None, "task lacks 's3Bucket' (schema 2.0) or 's3BucketArn' (schema 1.0)"
    problem = bucket_name_problem(task["s3Bucket"])
    return (None, f"s3Bucket {problem}") if problem else (task["s3Bucket"], None)


def build_response(invocation: Invocation, records: list[S3BatchOperationResponseRecord]) -> dict[str, Any]:
    response = S3BatchOperationResponse(
        invocation.schema_version, invocation.invocation_id, TREAT_MISSING_KEYS_AS, records
    )
    if len(records) == 1:
        return response.asdict()
    # Powertools insists on exactly one result; S3 Batch sends one task per invocation today, but the
    # schema is a list, so any other count is answered in the same format, one result per task.
    return {
        "invocationSchemaVersion": invocation.schema_version,
        "treatMissingKeysAs": TREAT_MISSING_KEYS_AS,
        "invocationId": invocation.invocation_id,
        "results": [record.asdict() for record in records],
    }
