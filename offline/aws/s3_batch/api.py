"""Emulated S3 Batch Operations (moto has no jobs): the s3control job API (CreateJob, DescribeJob, ListJobs,
UpdateJobStatus) for the LambdaInvoke operation; the jobs run in runner.py.

Like AWS: the request is validated (manifest location + ETag, CSV fields, or S3's own manifest generator
(manifest_generator.py), the function ARN, the schema
version, user arguments only with schema 2.0, a role that trusts batchoperations.s3.amazonaws.com and that
the caller may pass), CreateJob is idempotent on ClientRequestToken, the job reads its manifest AS the job
role (IAM enforced), streams it, invokes the function once per row (as the job role, through the front door)
with the documented schema 1.0 / 2.0 event (`s3Key` passed through URL-encoded, as it stands in the
manifest), retries TemporaryFailure with back-off, and writes the completion report (Report_CSV_20180820)
and its manifest.json under `<report prefix>/job-<id>/` as the job role.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree

import botocore.session
from botocore.parsers import RestXMLParser
from botocore.serialize import RestXMLSerializer

from offline.aws.policy_eval import role_trusts_service
from offline.aws.requests import Caller, Request, Response
from offline.aws.s3_batch import manifest_generator
from offline.aws.s3_batch.jobs import TERMINAL, Job
from offline.aws.s3_batch.runner import JobRunner

_NAMESPACE = "http://awss3control.amazonaws.com/doc/2018-08-20/"
_MODEL = botocore.session.get_session().get_service_model("s3control")
_JOB_PATH = re.compile(r"^/v20180820/jobs(?:/([^/]+)(/status)?)?/?$")
_BATCH_SERVICE = "batchoperations.s3.amazonaws.com"
SUPPORTED_MANIFEST_FORMAT = "S3BatchOperations_CSV_20180820"


class _BadRequest(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


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
        self._authorize = authorize
        self.runner = JobRunner(region, endpoint, role_credentials, parallelism, retry_delays_s, progress)
        self.jobs: dict[str, Job] = {}
        self._tokens: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

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
        self.runner.emit("job_created", job)
        self.runner.start(job)
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
        if body.get("ManifestGenerator") and body.get("Manifest"):
            raise _BadRequest("InvalidRequest", "give Manifest or ManifestGenerator, not both")
        if body.get("ManifestGenerator"):
            try:
                manifest_generator.check(body["ManifestGenerator"], self.account_id)
            except manifest_generator.GeneratorError as exc:
                raise _BadRequest("InvalidRequest", str(exc)) from None
        else:
            self._validate_manifest(body.get("Manifest") or {})
        self._validate_report_and_role(body, caller)

    def _validate_manifest(self, manifest: dict[str, Any]) -> None:
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

    def _validate_report_and_role(self, body: dict[str, Any], caller: Caller) -> None:
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

    # -- state ------------------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return any(job.status not in TERMINAL and job.status != "Suspended" for job in self.jobs.values())

    def stats(self) -> list[dict[str, Any]]:
        return [job.summary() for job in self.jobs.values()]

    def stop(self) -> None:
        self.runner.stop(list(self.jobs.values()))


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
