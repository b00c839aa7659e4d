"""Emulated S3 Batch Operations (moto has no jobs): CreateJob, DescribeJob, ListJobs, UpdateJobStatus, and the
jobs themselves, for the LambdaInvoke operation.

Like AWS: the request is validated (manifest location + ETag, CSV fields, the function ARN, the schema
version, user arguments only with schema 2.0, a role that trusts batchoperations.s3.amazonaws.com and that
the caller may pass), CreateJob is idempotent on ClientRequestToken, the job reads its manifest AS the job
role (IAM enforced), streams it, invokes the function once per row (as the job role, through the front door)
with the documented schema 1.0 / 2.0 event (`s3Key` passed through URL-encoded, as it stands in the
manifest), retries TemporaryFailure with back-off, and writes the completion report (Report_CSV_20180820)
and its manifest.json under `<report prefix>/job-<id>/` as the job role.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import RestXMLParser
from botocore.serialize import RestXMLSerializer

from offline.aws.front_door import AccessDenied, Caller, Request, Response
from offline.aws.policy_eval import role_trusts_service

_NAMESPACE = "http://awss3control.amazonaws.com/doc/2018-08-20/"
_MODEL = botocore.session.get_session().get_service_model("s3control")
_JOB_PATH = re.compile(r"^/v20180820/jobs(?:/([^/]+)(/status)?)?/?$")
_BATCH_SERVICE = "batchoperations.s3.amazonaws.com"
SUPPORTED_MANIFEST_FORMAT = "S3BatchOperations_CSV_20180820"
TERMINAL = ("Complete", "Failed", "Cancelled")
# How long one task keeps retrying a throttled invoke (Lambda's 429) before it counts as TemporaryFailure.
_THROTTLE_PATIENCE_S = 300.0
_THROTTLED = "Throttled"
# AWS report rows carry the HTTP status in the fifth column and the error code in the sixth (see the examples
# in "Examples: S3 Batch Operations completion reports"); the schema line names them the other way round.
REPORT_SCHEMA = "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"


class _BadRequest(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


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
            "Manifest": self.request["Manifest"],
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
        if self.request.get("Description"):
            job["Description"] = self.request["Description"]
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
                f"s3://{report['Bucket'].split(':::')[-1]}/{self._report_root()}manifest.json"
                if report.get("Enabled") and self.report_keys
                else None
            ),
            "report_files": list(self.report_keys),
        }

    def _report_root(self) -> str:
        prefix = (self.request["Report"].get("Prefix") or "").rstrip("/")
        return f"{prefix}/job-{self.id}/" if prefix else f"job-{self.id}/"


class S3BatchEmulator:
    def __init__(
        self,
        account_id: str,
        region: str,
        endpoint: Callable[[], str],
        role_credentials: Callable[[str], dict[str, str]],
        authorize: Callable[[Caller, str, str, dict[str, Any] | None], None],
        parallelism: int = 4,
        retry_delays_s: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0),
        progress: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.account_id = account_id
        self.region = region
        self._endpoint = endpoint
        self._role_credentials = role_credentials
        self._authorize = authorize
        self.parallelism = parallelism
        self.retry_delays_s = retry_delays_s
        self.progress = progress
        self.jobs: dict[str, Job] = {}
        self._tokens: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # -- API --------------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response | None:
        match = _JOB_PATH.match(request.path)
        if not match:
            return None  # other s3control APIs (access points, public access block): moto
        job_id, status_suffix = match.group(1), match.group(2)
        try:
            if request.method == "POST" and job_id is None:
                return self._create_job(request)
            if request.method == "GET" and job_id is None:
                return self._list_jobs(request)
            if request.method == "GET" and status_suffix is None:
                return self._describe_job(request, job_id)
            if request.method == "POST" and status_suffix:
                return self._update_status(request, job_id)
            raise _BadRequest("InvalidRequest", f"{request.method} {request.path} is not emulated offline")
        except _BadRequest as exc:
            return _error(exc.status, exc.code, str(exc))

    def _account(self, request: Request) -> str:
        account = request.headers.get("x-amz-account-id") or request.headers.get("X-Amz-Account-Id")
        if not account:
            raise _BadRequest("InvalidRequest", "missing x-amz-account-id header (AccountId)")
        if account != self.account_id:
            raise _BadRequest(
                "AccessDenied", f"account {account} is not this account ({self.account_id})", 403
            )
        return account

    def _create_job(self, request: Request) -> Response:
        account = self._account(request)
        body = _parse("CreateJob", request.body)
        # The condition keys S3 offers for CreateJob (Service Authorization Reference).
        context = {
            "s3:RequestJobOperation": next(iter(body.get("Operation") or {}), ""),
            "s3:RequestJobPriority": str(body.get("Priority", "")),
        }
        self._authorize(request.caller, "s3:CreateJob", f"arn:aws:s3:{self.region}:{account}:job/*", context)
        token = body.get("ClientRequestToken")
        if not token:
            raise _BadRequest("InvalidRequest", "ClientRequestToken is required")
        fingerprint = json.dumps(
            {k: v for k, v in body.items() if k != "ClientRequestToken"}, sort_keys=True, default=str
        )
        with self._lock:
            existing = self._tokens.get((account, token))
            if existing is not None:
                job = self.jobs[existing]
                if job.token != fingerprint:
                    raise _BadRequest(
                        "IdempotencyException",
                        f"ClientRequestToken {token} was used with different parameters",
                        409,
                    )
                return _xml_response("CreateJob", {"JobId": existing})
        self._validate(body, request.caller)
        job = Job(
            id=str(uuid.uuid4()),
            account_id=account,
            region=self.region,
            request=body,
            token=fingerprint,
            caller=request.caller.label,
        )
        with self._lock:
            # A concurrent CreateJob with the same token may have won the race.
            existing = self._tokens.get((account, token))
            if existing is not None:
                return _xml_response("CreateJob", {"JobId": existing})
            self._tokens[(account, token)] = job.id
            self.jobs[job.id] = job
        if not body.get("ConfirmationRequired"):
            job.confirmed.set()
        self._emit("job_created", job)
        thread = threading.Thread(target=self._run, args=(job,), name=f"s3-batch-{job.id[:8]}", daemon=True)
        self._threads.append(thread)
        thread.start()
        return _xml_response("CreateJob", {"JobId": job.id})

    def _validate(self, body: dict[str, Any], caller: Caller) -> None:
        operation = body.get("Operation") or {}
        if set(operation) != {"LambdaInvoke"}:
            raise _BadRequest(
                "InvalidRequest",
                f"operation {sorted(operation) or 'none'} is not emulated offline (only LambdaInvoke)",
            )
        invoke = operation["LambdaInvoke"]
        function_arn = invoke.get("FunctionArn") or ""
        if not re.match(r"^arn:aws[\w-]*:lambda:[\w-]+:\d{12}:function:[\w-]+(:[\w$-]+)?$", function_arn):
            raise _BadRequest(
                "InvalidRequest", f"Operation.LambdaInvoke.FunctionArn {function_arn!r} is not a function ARN"
            )
        version = invoke.get("InvocationSchemaVersion", "1.0")
        if version not in ("1.0", "2.0"):
            raise _BadRequest("InvalidRequest", f"InvocationSchemaVersion {version!r}: allowed 1.0, 2.0")
        if invoke.get("UserArguments") and version != "2.0":
            raise _BadRequest("InvalidRequest", "UserArguments require InvocationSchemaVersion 2.0")
        manifest = body.get("Manifest") or {}
        spec = manifest.get("Spec") or {}
        if spec.get("Format") != SUPPORTED_MANIFEST_FORMAT:
            raise _BadRequest(
                "InvalidRequest",
                f"Manifest.Spec.Format {spec.get('Format')!r}: the emulator reads "
                f"{SUPPORTED_MANIFEST_FORMAT}",
            )
        fields = spec.get("Fields") or []
        if fields not in (["Bucket", "Key"], ["Bucket", "Key", "VersionId"]):
            raise _BadRequest(
                "InvalidRequest",
                f"Manifest.Spec.Fields {fields}: allowed [Bucket, Key] or [Bucket, Key, VersionId]",
            )
        location = manifest.get("Location") or {}
        if not re.match(r"^arn:aws[\w-]*:s3:::[^/]+/.+$", location.get("ObjectArn") or ""):
            raise _BadRequest(
                "InvalidRequest",
                f"Manifest.Location.ObjectArn {location.get('ObjectArn')!r} is not an S3 object ARN",
            )
        if not location.get("ETag"):
            raise _BadRequest("InvalidRequest", "Manifest.Location.ETag is required")
        report = body.get("Report") or {}
        if report.get("Enabled"):
            if not (report.get("Bucket") or "").startswith("arn:aws:s3:::"):
                raise _BadRequest(
                    "InvalidRequest", f"Report.Bucket {report.get('Bucket')!r} must be a bucket ARN"
                )
            if report.get("Format") != "Report_CSV_20180820":
                raise _BadRequest("InvalidRequest", "Report.Format must be Report_CSV_20180820")
            if report.get("ReportScope") not in ("AllTasks", "FailedTasksOnly"):
                raise _BadRequest("InvalidRequest", "Report.ReportScope must be AllTasks or FailedTasksOnly")
        elif "Enabled" not in report:
            raise _BadRequest("InvalidRequest", "Report is required (Enabled false to have none)")
        if body.get("Priority") is None or int(body["Priority"]) < 0:
            raise _BadRequest("InvalidRequest", "Priority is required and must be >= 0")
        role_arn = body.get("RoleArn") or ""
        match = re.match(r"^arn:aws[\w-]*:iam::(\d{12}):role/(?:.*/)?([\w+=,.@-]+)$", role_arn)
        if not match:
            raise _BadRequest("InvalidRequest", f"RoleArn {role_arn!r} is not a role ARN")
        self._authorize(caller, "iam:PassRole", role_arn, {"iam:PassedToService": _BATCH_SERVICE})
        try:
            trusted = role_trusts_service(self.account_id, match.group(2), _BATCH_SERVICE)
        except Exception as exc:
            raise _BadRequest(
                "InvalidRequest", f"RoleArn {role_arn}: the role does not exist ({exc})"
            ) from exc
        if not trusted:
            raise _BadRequest(
                "InvalidRequest",
                f"RoleArn {role_arn}: its trust policy does not let {_BATCH_SERVICE} assume it",
            )

    def _describe_job(self, request: Request, job_id: str) -> Response:
        account = self._account(request)
        self._authorize(
            request.caller, "s3:DescribeJob", f"arn:aws:s3:{self.region}:{account}:job/{job_id}", None
        )
        job = self.jobs.get(job_id)
        if job is None:
            raise _BadRequest("NotFoundException", f"job {job_id} not found", 404)
        return _xml_response("DescribeJob", {"Job": job.describe()})

    def _list_jobs(self, request: Request) -> Response:
        account = self._account(request)
        self._authorize(request.caller, "s3:ListJobs", "*", None)
        statuses = request.query.get("jobStatuses") or []
        jobs = [
            {
                "JobId": job.id,
                "Operation": "LambdaInvoke",
                "Priority": job.request.get("Priority", 0),
                "Status": job.status,
                "CreationTime": job.created,
                "ProgressSummary": job.describe()["ProgressSummary"],
                **({"Description": job.request["Description"]} if job.request.get("Description") else {}),
                **({"TerminationDate": job.terminated} if job.terminated else {}),
            }
            for job in self.jobs.values()
            if job.account_id == account and (not statuses or job.status in statuses)
        ]
        return _xml_response("ListJobs", {"Jobs": jobs})

    def _update_status(self, request: Request, job_id: str) -> Response:
        account = self._account(request)
        self._authorize(
            request.caller, "s3:UpdateJobStatus", f"arn:aws:s3:{self.region}:{account}:job/{job_id}", None
        )
        job = self.jobs.get(job_id)
        if job is None:
            raise _BadRequest("NotFoundException", f"job {job_id} not found", 404)
        requested = (request.query.get("requestedJobStatus") or [""])[0]
        if requested == "Ready" and job.status == "Suspended":
            job.confirmed.set()
        elif requested == "Cancelled" and job.status not in TERMINAL:
            job.cancel.set()
            job.confirmed.set()
        else:
            raise _BadRequest(
                "JobStatusException", f"job {job_id} is {job.status}: cannot move to {requested!r}", 409
            )
        job.status_reason = (request.query.get("statusUpdateReason") or [""])[0]
        return _xml_response("UpdateJobStatus", {"JobId": job.id, "Status": job.status})

    # -- running a job ----------------------------------------------------------------------------------
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
        except _JobFailed as exc:
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
        """The manifest's rows, streamed, read as the job role; the ETag must match."""
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
                raise _JobFailed(
                    "ManifestETagMismatch", f"manifest s3://{bucket}/{key}: ETag is not {location['ETag']}"
                ) from exc
            raise _JobFailed(
                "ManifestNotReadable",
                f"reading manifest s3://{bucket}/{key} as {job.request['RoleArn']}: {code}: {exc}",
            ) from exc
        width = len(job.request["Manifest"]["Spec"]["Fields"])
        lines = (line.decode("utf-8") for line in body.iter_lines() if line.strip())
        for number, row in enumerate(csv.reader(lines), start=1):
            if len(row) != width:
                raise _JobFailed(
                    "InvalidManifest", f"manifest row {number}: {len(row)} fields, expected {width}: {row}"
                )
            yield row

    def _execute(self, job: Job, s3: Any) -> None:
        report = _ReportWriter(job)
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
        self._emit("task_done", job)
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
        self._emit("job_status", job)

    def _emit(self, kind: str, job: Job) -> None:
        if self.progress is not None:
            try:
                self.progress(kind, job.summary())
            except Exception as exc:  # a broken progress display must not fail the job
                print(f"offline s3 batch: progress callback failed: {exc}")

    # -- state ------------------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return any(job.status not in TERMINAL and job.status != "Suspended" for job in self.jobs.values())

    def stats(self) -> list[dict[str, Any]]:
        return [job.summary() for job in self.jobs.values()]

    def stop(self) -> None:
        self._stopping.set()
        for job in self.jobs.values():
            job.cancel.set()
            job.confirmed.set()
        for thread in self._threads:
            thread.join(timeout=10)


class _JobFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _ReportWriter:
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
        root = self.job._report_root()
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


def _invocation_id() -> str:
    return base64.b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode()


# ---------------------------------------------------------------------------------------------- XML
def _parse(operation: str, body: bytes) -> dict[str, Any]:
    """Parse a request body with botocore's own REST-XML parser and the operation's input shape."""
    if not body:
        raise _BadRequest("MalformedXML", f"{operation}: empty request body")
    shape = _MODEL.operation_model(operation).input_shape
    parser = RestXMLParser()
    try:
        root = parser._parse_xml_string_to_dom(body)
    except Exception as exc:
        raise _BadRequest("MalformedXML", f"{operation}: {exc}") from exc
    return parser._handle_structure(shape, root)


def _xml_response(operation: str, result: dict[str, Any]) -> Response:
    """Serialize a result with botocore's REST-XML serializer and the operation's output shape."""
    shape = _MODEL.operation_model(operation).output_shape
    serializer = RestXMLSerializer()
    pseudo_root = ElementTree.Element("")
    serializer._serialize(shape, result, pseudo_root, f"{operation}Result")
    root = next(iter(pseudo_root))
    root.attrib["xmlns"] = _NAMESPACE
    body = b'<?xml version="1.0" encoding="UTF-8"?>' + ElementTree.tostring(root)
    return Response(200, body, {"Content-Type": "application/xml", "x-amz-request-id": uuid.uuid4().hex})


def _error(status: int, code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><ErrorResponse><Error>'
        f"<Code>{code}</Code><Message>{_escape(message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4().hex}</RequestId></ErrorResponse>"
    ).encode()
    return Response(status, body, {"Content-Type": "application/xml"})


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


__all__ = ["AccessDenied", "Job", "S3BatchEmulator"]
