"""Running an S3 Batch Operations LambdaInvoke job as AWS does: the manifest streamed AS the job role (IAM
enforced, its ETag checked), the function invoked once per row (as the job role, through the front door) with
the documented schema 1.0 / 2.0 event (`s3Key` passed through URL-encoded, as it stands in the manifest),
TemporaryFailure and throttling retried with back-off, then the completion report (report.py)."""

from __future__ import annotations

import base64
import csv
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from offline.aws.s3_batch import manifest_generator
from offline.aws.s3_batch.jobs import Job
from offline.aws.s3_batch.report import ReportWriter

# How long one task keeps retrying a throttled invoke (Lambda's 429) before it counts as TemporaryFailure.
_THROTTLE_PATIENCE_S = 300.0
_THROTTLED = "Throttled"


class JobRunner:
    """Runs jobs, each on its own thread: reads the manifest as the job role, invokes per row, reports."""

    def __init__(
        self,
        region: str,
        endpoint: Callable[[], str],
        role_credentials: Callable[[str], dict[str, str]],
        parallelism: int,
        retry_delays_s: tuple[float, ...],
        progress: Callable[[str, dict[str, Any]], None] | None,
    ) -> None:
        self.region = region
        self._endpoint = endpoint
        self._role_credentials = role_credentials
        self.parallelism = parallelism
        self.retry_delays_s = retry_delays_s
        self.progress = progress
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def start(self, job: Job) -> None:
        thread = threading.Thread(target=self._run, args=(job,), name=f"s3-batch-{job.id[:8]}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def stop(self, jobs: list[Job]) -> None:
        self._stopping.set()
        for job in jobs:
            job.cancel.set()
            job.confirmed.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _client(self, service: str, role_arn: str) -> Any:
        credentials = self._role_credentials(role_arn)
        return boto3.client(  # s3 and lambda only: no account-id host prefix to strip
            service,
            region_name=self.region,
            endpoint_url=self._endpoint(),
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            # Invoke retries (throttling, TemporaryFailure) are the emulator's own; an invoke waits as long as
            # the function may run.
            config=Config(
                retries={"mode": "standard", "total_max_attempts": 1 if service == "lambda" else 3},
                read_timeout=960,
                inject_host_prefix=False,
            ),
        )

    def _run(self, job: Job) -> None:
        try:
            self._set_status(job, "Preparing")
            role_arn = job.request["RoleArn"]
            s3 = self._client("s3", role_arn)
            job.total = sum(1 for _ in self._rows(job, s3))
            if job.request.get("ConfirmationRequired"):
                self._set_status(job, "Suspended")
            while not job.confirmed.wait(0.5):
                if self._stopping.is_set():
                    return
            if job.cancel.is_set():
                self._finish(job, s3, "Cancelled")
                return
            self._set_status(job, "Ready")
            self._set_status(job, "Active")
            job.active_started = time.monotonic()
            self._execute(job, s3)
            job.active_seconds += time.monotonic() - job.active_started
            job.active_started = None
            self._finish(job, s3, "Cancelled" if job.cancel.is_set() else "Complete")
        except JobFailed as exc:
            job.failure_reasons.append({"FailureCode": exc.code, "FailureReason": str(exc)})
            job.terminated = datetime.now(UTC)
            self._set_status(job, "Failed")
        except Exception as exc:  # the job fails, with the reason where DescribeJob shows it
            job.failure_reasons.append(
                {"FailureCode": "InternalError", "FailureReason": f"{type(exc).__name__}: {exc}"}
            )
            job.terminated = datetime.now(UTC)
            self._set_status(job, "Failed")

    def _rows(self, job: Job, s3: Any) -> Iterator[list[str]]:
        """The manifest's rows, streamed, read as the job role; the ETag must match. A generated manifest:
        the source bucket's matching objects, listed as the job role."""
        if job.request.get("ManifestGenerator"):
            generator = job.request["ManifestGenerator"]
            try:
                yield from manifest_generator.generated_rows(s3, generator)
            except ClientError as exc:
                bucket = generator["S3JobManifestGenerator"]["SourceBucket"].split(":::", 1)[1]
                reason = manifest_generator.listing_failed(exc, bucket, job.request["RoleArn"])
                raise JobFailed("ManifestNotReadable", reason) from exc
            return
        location = job.request["Manifest"]["Location"]
        bucket, key = location["ObjectArn"].split(":::", 1)[1].split("/", 1)
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "IfMatch": location["ETag"]}
        if location.get("ObjectVersionId"):
            kwargs["VersionId"] = location["ObjectVersionId"]
        try:
            body = s3.get_object(**kwargs)["Body"]
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code in ("PreconditionFailed", "412"):
                raise JobFailed(
                    "ManifestETagMismatch", f"manifest s3://{bucket}/{key}: ETag is not {location['ETag']}"
                ) from exc
            raise JobFailed(
                "ManifestNotReadable",
                f"reading manifest s3://{bucket}/{key} as {job.request['RoleArn']}: {code}: {exc}",
            ) from exc
        width = len(job.request["Manifest"]["Spec"]["Fields"])
        lines = (line.decode("utf-8") for line in body.iter_lines() if line.strip())
        for number, row in enumerate(csv.reader(lines), start=1):
            if len(row) != width:
                raise JobFailed(
                    "InvalidManifest", f"manifest row {number}: {len(row)} fields, expected {width}: {row}"
                )
            yield row

    def _execute(self, job: Job, s3: Any) -> None:
        report = ReportWriter(job)
        lam = self._client("lambda", job.request["RoleArn"])
        try:
            with ThreadPoolExecutor(
                max_workers=self.parallelism, thread_name_prefix=f"s3-batch-task-{job.id[:8]}"
            ) as pool:
                pending: set[Future] = set()
                for row in self._rows(job, s3):
                    if job.cancel.is_set() or self._stopping.is_set():
                        break
                    # Bounded: never more than a few rows in flight, whatever the manifest's size.
                    while len(pending) >= self.parallelism * 2:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for future in done:
                            report.add(*future.result())
                    pending.add(pool.submit(self._task, job, lam, row))
                for future in pending:
                    report.add(*future.result())
            report.upload(self._client("s3", job.request["RoleArn"]))
        finally:
            report.close()

    def _task(self, job: Job, lam: Any, row: list[str]) -> tuple[list[str], str, str, str, str]:
        """Run one task; (row, status, http status, error code, message)."""
        bucket, encoded_key = row[0], row[1]
        version_id = row[2] if len(row) > 2 and row[2] else None
        invoke = job.lambda_invoke
        schema = invoke.get("InvocationSchemaVersion", "1.0")
        task_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        task: dict[str, Any] = {"taskId": task_id, "s3Key": encoded_key, "s3VersionId": version_id}
        event: dict[str, Any] = {
            "invocationSchemaVersion": schema,
            "invocationId": _invocation_id(),
            "job": {"id": job.id},
        }
        if schema == "2.0":
            task["s3Bucket"] = bucket
            event["job"]["userArguments"] = dict(invoke.get("UserArguments") or {})
        else:
            # AWS's own schema 1.0 example request fills in region and account
            # (https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-invoke-lambda.html), unlike the
            # `arn:aws:s3:::bucket` form; the emulator sends that documented form so consumers meet it here.
            task["s3BucketArn"] = f"arn:aws:s3:{job.region}:{job.account_id}:{bucket}"
        event["tasks"] = [task]
        attempt = 0
        throttled_until = time.monotonic() + _THROTTLE_PATIENCE_S
        throttle_delay = 0.05
        while True:
            status, http_status, code, message = self._invoke_once(job, lam, event, task_id)
            if code == _THROTTLED and time.monotonic() < throttled_until and not self._stopping.is_set():
                # Lambda throttled the invoke (reserved concurrency): S3 Batch backs off and tries again,
                # without spending the task's TemporaryFailure retries.
                with self._lock:
                    job.throttled += 1
                time.sleep(throttle_delay)
                throttle_delay = min(throttle_delay * 2, 1.0)
                continue
            if code == _THROTTLED:
                code = "TemporaryFailure"
            if code != "TemporaryFailure" or attempt >= len(self.retry_delays_s) or job.cancel.is_set():
                break
            with self._lock:
                job.retries += 1
            time.sleep(self.retry_delays_s[attempt])
            attempt += 1
            event["invocationId"] = _invocation_id()
        with self._lock:
            if status == "succeeded":
                job.succeeded += 1
            else:
                job.failed += 1
        self.emit("task_done", job)
        return row, status, http_status, code, message

    def _invoke_once(
        self, job: Job, lam: Any, event: dict[str, Any], task_id: str
    ) -> tuple[str, str, str, str]:
        function_arn = job.lambda_invoke["FunctionArn"]
        try:
            response = lam.invoke(FunctionName=function_arn, Payload=json.dumps(event).encode())
        except ClientError as exc:
            error = exc.response["Error"]
            status = str(exc.response["ResponseMetadata"].get("HTTPStatusCode", 500))
            if error["Code"] in ("TooManyRequestsException", "ServiceException", "ThrottlingException"):
                return (
                    "failed",
                    status,
                    _THROTTLED,
                    f"Lambda throttled or unavailable: {error['Code']}",
                )
            return (
                "failed",
                status,
                "PermanentFailure",
                f"Lambda invoke failed: {error['Code']}: {error.get('Message')}",
            )
        payload = response["Payload"].read().decode()
        if response.get("FunctionError"):
            return "failed", "200", "PermanentFailure", f"Lambda returned function error: {payload}"
        try:
            results = json.loads(payload)["results"]
            result = next(r for r in results if r.get("taskId") == task_id)
        except (ValueError, KeyError, TypeError, StopIteration):
            return (
                "failed",
                "200",
                "PermanentFailure",
                f"Lambda response is missing the task's result: {payload[:500]}",
            )
        code = result.get("resultCode")
        message = result.get("resultString") or ""
        if code == "Succeeded":
            return "succeeded", "200", "", message
        if code in ("TemporaryFailure", "PermanentFailure"):
            return "failed", "200", code, message
        return "failed", "200", "PermanentFailure", f"unknown resultCode {code!r}: {message}"

    def _finish(self, job: Job, s3: Any, status: str) -> None:
        job.terminated = datetime.now(UTC)
        self._set_status(job, status)

    def _set_status(self, job: Job, status: str) -> None:
        job.status = status
        self.emit("job_status", job)

    def emit(self, kind: str, job: Job) -> None:
        if self.progress is not None:
            try:
                self.progress(kind, job.summary())
            except Exception as exc:  # a broken progress display must not fail the job
                print(f"offline s3 batch: progress callback failed: {exc}")


class JobFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _invocation_id() -> str:
    return base64.b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode()
