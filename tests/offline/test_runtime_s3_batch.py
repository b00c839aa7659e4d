"""The S3 Batch Operations emulator: validation, idempotency, events, retries, the completion report, IAM."""

from __future__ import annotations

import csv
import io
import json
import uuid
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from offline.runtime import OfflineRuntime
from tests.offline.conftest import wait_for

ACCOUNT = "123456789012"
KEYS = ["ok one.jpg", "plus+sign.jpg", 'unicodé/ü, "q".png', "temporary-x.jpg", "permanent-y.jpg"]


def _put_manifest(runtime: OfflineRuntime, key: str, object_keys: list[str]) -> dict:
    bucket = runtime.deployment.outputs["image_bucket"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for object_key in object_keys:
        writer.writerow([bucket, quote(object_key, safe="/")])
    inventory = runtime.deployment.outputs["inventory_bucket"]
    etag = runtime.client("s3").put_object(Bucket=inventory, Key=key, Body=buffer.getvalue().encode())["ETag"]
    return {
        "Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]},
        "Location": {"ObjectArn": f"arn:aws:s3:::{inventory}/{key}", "ETag": etag.strip('"')},
    }


def _job_request(runtime: OfflineRuntime, manifest: dict, **overrides) -> dict:
    request = {
        "AccountId": ACCOUNT,
        "ConfirmationRequired": False,
        "Operation": {
            "LambdaInvoke": {
                "FunctionArn": runtime.deployment.outputs["function_arn"],
                "InvocationSchemaVersion": "2.0",
                "UserArguments": {"runId": "run-1"},
            }
        },
        "Manifest": manifest,
        "Report": {
            "Bucket": f"arn:aws:s3:::{runtime.deployment.outputs['inventory_bucket']}",
            "Format": "Report_CSV_20180820",
            "Enabled": True,
            "Prefix": "reports",
            "ReportScope": "AllTasks",
        },
        "Priority": 10,
        "RoleArn": runtime.deployment.outputs["batch_role_arn"],
        "ClientRequestToken": str(uuid.uuid4()),
    }
    request.update(overrides)
    return request


def _wait_done(runtime: OfflineRuntime, job_id: str) -> dict:
    s3control = runtime.client("s3control")

    def done():
        job = s3control.describe_job(AccountId=ACCOUNT, JobId=job_id)["Job"]
        return job if job["Status"] in ("Complete", "Failed", "Cancelled") else None

    return wait_for(done, timeout_s=60, what=f"job {job_id} to finish")


def test_a_job_invokes_once_per_row_retries_and_reports(tiny: OfflineRuntime):
    manifest = _put_manifest(tiny, "manifests/run-1.csv", KEYS)
    s3control = tiny.client("s3control")
    job_id = s3control.create_job(**_job_request(tiny, manifest))["JobId"]
    job = _wait_done(tiny, job_id)
    assert job["Status"] == "Complete"
    assert job["ProgressSummary"]["TotalNumberOfTasks"] == 5
    assert job["ProgressSummary"]["NumberOfTasksSucceeded"] == 4
    assert job["ProgressSummary"]["NumberOfTasksFailed"] == 1
    [summary] = [j for j in tiny.stats()["jobs"] if j["id"] == job_id]
    assert summary["temporary_failure_retries"] == 1
    assert summary["created_at"] <= summary["terminated_at"] and summary["active_seconds"] > 0
    inventory = tiny.deployment.outputs["inventory_bucket"]
    assert summary["report"] == f"s3://{inventory}/reports/job-{job_id}/manifest.json"

    s3 = tiny.client("s3")
    report_manifest = json.loads(
        s3.get_object(Bucket=inventory, Key=f"reports/job-{job_id}/manifest.json")["Body"].read()
    )
    assert report_manifest["Format"] == "Report_CSV_20180820"
    assert (
        report_manifest["ReportSchema"]
        == "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"
    )
    rows = []
    for result in report_manifest["Results"]:
        assert result["Key"].startswith(f"reports/job-{job_id}/results/")
        text = s3.get_object(Bucket=inventory, Key=result["Key"])["Body"].read().decode()
        rows.extend(csv.reader(io.StringIO(text)))
    by_key = {row[1]: row for row in rows}
    image_bucket = tiny.deployment.outputs["image_bucket"]
    assert set(by_key) == {quote(k, safe="/") for k in KEYS}  # keys stay as the manifest has them (encoded)
    ok = by_key[quote("plus+sign.jpg")]
    assert ok[0] == image_bucket and ok[3] == "succeeded" and ok[4] == "200"
    task = json.loads(ok[6])
    # Schema 2.0: s3Bucket, and the manifest's URL-encoded key passed through as it is.
    assert (
        task["s3Bucket"] == image_bucket
        and task["s3Key"] == "plus%2Bsign.jpg"
        and task["s3VersionId"] is None
    )
    assert by_key[quote("temporary-x.jpg")][3] == "succeeded"
    failed = by_key[quote("permanent-y.jpg")]
    assert failed[3:6] == ["failed", "200", "PermanentFailure"] and failed[6] == "bad permanent-y.jpg"


def test_schema_1_events_carry_the_bucket_arn(tiny: OfflineRuntime):
    manifest = _put_manifest(tiny, "manifests/schema-1.csv", ["a b.jpg"])
    request = _job_request(tiny, manifest)
    request["Operation"] = {
        "LambdaInvoke": {
            "FunctionArn": tiny.deployment.outputs["function_arn"],
            "InvocationSchemaVersion": "1.0",
        }
    }
    request["Report"] = {**request["Report"], "ReportScope": "AllTasks"}
    job_id = tiny.client("s3control").create_job(**request)["JobId"]
    assert _wait_done(tiny, job_id)["Status"] == "Complete"
    inventory = tiny.deployment.outputs["inventory_bucket"]
    s3 = tiny.client("s3")
    report = json.loads(
        s3.get_object(Bucket=inventory, Key=f"reports/job-{job_id}/manifest.json")["Body"].read()
    )
    [row] = csv.reader(
        io.StringIO(s3.get_object(Bucket=inventory, Key=report["Results"][0]["Key"])["Body"].read().decode())
    )
    task = json.loads(row[6])
    assert (
        task["s3BucketArn"]
        == f"arn:aws:s3:{tiny.region}:{tiny.account_id}:{tiny.deployment.outputs['image_bucket']}"
        and "s3Bucket" not in task
    )
    assert task["s3Key"] == "a%20b.jpg"


def test_create_job_is_idempotent_on_the_client_request_token(tiny: OfflineRuntime):
    manifest = _put_manifest(tiny, "manifests/idempotent.csv", ["x.jpg"])
    request = _job_request(tiny, manifest, ClientRequestToken="same-token")
    s3control = tiny.client("s3control")
    first = s3control.create_job(**request)["JobId"]
    assert s3control.create_job(**request)["JobId"] == first
    with pytest.raises(ClientError) as error:
        s3control.create_job(**{**request, "Priority": 11})
    assert error.value.response["Error"]["Code"] == "IdempotencyException"
    _wait_done(tiny, first)
    listed = s3control.list_jobs(AccountId=ACCOUNT)["Jobs"]
    assert sum(1 for j in listed if j["JobId"] == first) == 1
    calls = tiny.stats()["api_calls"]
    assert (
        calls["s3control:CreateJob"] >= 3
        and calls["s3control:ListJobs"] >= 1
        and calls["s3control:DescribeJob"] >= 1
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda r, t: r.update(
                RoleArn=t.deployment.functions[t.deployment.outputs["function_name"]].role_arn
            ),
            "trust policy",
        ),
        (
            lambda r, t: r["Operation"]["LambdaInvoke"].update(InvocationSchemaVersion="1.0"),
            "UserArguments require",
        ),
        (
            lambda r, t: r["Operation"]["LambdaInvoke"].update(FunctionArn="not-an-arn"),
            "is not a function ARN",
        ),
        (lambda r, t: r["Manifest"]["Spec"].update(Fields=["Key", "Bucket"]), "Manifest.Spec.Fields"),
        (lambda r, t: r["Report"].update(Format="Report_JSON"), "Report.Format"),
    ],
)
def test_invalid_requests_are_rejected_like_aws(tiny: OfflineRuntime, change, message):
    request = _job_request(tiny, _put_manifest(tiny, "manifests/invalid.csv", ["x.jpg"]))
    change(request, tiny)
    with pytest.raises(ClientError) as error:
        tiny.client("s3control").create_job(**request)
    assert error.value.response["Error"]["Code"] == "InvalidRequest"
    assert message in error.value.response["Error"]["Message"]


def test_a_manifest_with_another_etag_fails_the_job(tiny: OfflineRuntime):
    manifest = _put_manifest(tiny, "manifests/etag.csv", ["x.jpg"])
    manifest["Location"]["ETag"] = "0" * 32
    job_id = tiny.client("s3control").create_job(**_job_request(tiny, manifest))["JobId"]
    job = _wait_done(tiny, job_id)
    assert job["Status"] == "Failed"
    assert job["FailureReasons"][0]["FailureCode"] == "ManifestETagMismatch"


def test_a_job_that_needs_confirmation_waits_suspended(tiny: OfflineRuntime):
    s3control = tiny.client("s3control")
    manifest = _put_manifest(tiny, "manifests/confirm.csv", ["c.jpg"])
    waiting = s3control.create_job(**_job_request(tiny, manifest, ConfirmationRequired=True))["JobId"]
    cancelled = s3control.create_job(**_job_request(tiny, manifest, ConfirmationRequired=True))["JobId"]
    for job_id in (waiting, cancelled):
        wait_for(
            lambda job_id=job_id: (
                s3control.describe_job(AccountId=ACCOUNT, JobId=job_id)["Job"]["Status"] == "Suspended"
            ),
            what="the job to wait for confirmation",
        )
    assert (
        s3control.describe_job(AccountId=ACCOUNT, JobId=waiting)["Job"]["ProgressSummary"][
            "TotalNumberOfTasks"
        ]
        == 1
    )
    s3control.update_job_status(AccountId=ACCOUNT, JobId=waiting, RequestedJobStatus="Ready")
    s3control.update_job_status(AccountId=ACCOUNT, JobId=cancelled, RequestedJobStatus="Cancelled")
    assert _wait_done(tiny, waiting)["Status"] == "Complete"
    assert _wait_done(tiny, cancelled)["Status"] == "Cancelled"
    with pytest.raises(ClientError) as error:
        s3control.update_job_status(AccountId=ACCOUNT, JobId=waiting, RequestedJobStatus="Ready")
    assert error.value.response["Error"]["Code"] == "JobStatusException"


def test_progress_reports_jobs_tasks_and_ticks(tiny: OfflineRuntime):
    events: list[tuple[str, dict]] = []
    tiny.progress = lambda kind, data: events.append((kind, data))
    try:
        manifest = _put_manifest(tiny, "manifests/progress.csv", ["p1.jpg", "p2.jpg"])
        job_id = tiny.client("s3control").create_job(**_job_request(tiny, manifest))["JobId"]
        _wait_done(tiny, job_id)
        tiny.run_until_idle(20)
    finally:
        tiny.progress = None
    kinds = [kind for kind, data in events if kind == "tick" or data.get("id") == job_id]
    assert kinds[0] == "job_created" and kinds.count("task_done") == 2
    statuses = [data["status"] for kind, data in events if kind == "job_status" and data["id"] == job_id]
    assert statuses == ["Preparing", "Ready", "Active", "Complete"]
    assert any(kind == "tick" and "queues" in data for kind, data in events)


def test_with_iam_enforced_the_job_reads_as_its_role(tiny: OfflineRuntime):
    """Runs last in this module: IAM enforcement cannot be switched off again."""
    allowed = _put_manifest(tiny, "manifests/enforced.csv", ["x.jpg"])
    outside = _put_manifest(tiny, "elsewhere/enforced.csv", ["x.jpg"])
    tiny.enforce_iam()
    s3control = tiny.client("s3control")
    assert (
        _wait_done(tiny, s3control.create_job(**_job_request(tiny, allowed))["JobId"])["Status"] == "Complete"
    )
    job = _wait_done(tiny, s3control.create_job(**_job_request(tiny, outside))["JobId"])
    assert job["Status"] == "Failed"
    assert job["FailureReasons"][0]["FailureCode"] == "ManifestNotReadable"
    assert "AccessDenied" in job["FailureReasons"][0]["FailureReason"]
    # A role without s3:CreateJob (the echo function's) is denied, naming the action.
    echo_role = tiny.deployment.functions[tiny.deployment.outputs["function_name"]].role_arn
    with pytest.raises(ClientError) as error:
        tiny.role_client("s3control", echo_role).create_job(**_job_request(tiny, allowed))
    assert error.value.response["Error"]["Code"] == "AccessDenied"
    assert "s3:CreateJob" in error.value.response["Error"]["Message"]
    assert any(d["action"] == "s3:CreateJob" for d in tiny.stats()["access_denied"])
