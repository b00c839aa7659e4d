"""`bulk-loader status`: the run's S3 Batch jobs (ListJobs / DescribeJob through a Stubber: moto has no S3
Batch jobs), the queues and the history counts from moto, the rate, the ETA, and --watch until settled."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from handlers.common.contracts import HistoryStatus
from tests.cli.conftest import ACCOUNT, BATCH_FUNCTION_ARN, NOW, Stack, read_json
from tests.cli.history_seed import seed

RUN = "images-bucket/inv-1"


def job(
    job_id: str, status: str, total: int, succeeded: int, failed: int, run_id: str = RUN
) -> dict[str, Any]:
    return {
        "JobId": job_id,
        "Status": status,
        "Description": f"bulk-loader import of s3://images-bucket inventory {run_id.split('/')[-1]}",
        "CreationTime": NOW - timedelta(minutes=20),
        "Priority": 10,
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/batch-role",
        "Operation": {
            "LambdaInvoke": {
                "FunctionArn": BATCH_FUNCTION_ARN,
                "InvocationSchemaVersion": "2.0",
                "UserArguments": {"runId": run_id, "mode": "import"},
            }
        },
        "ProgressSummary": {
            "TotalNumberOfTasks": total,
            "NumberOfTasksSucceeded": succeeded,
            "NumberOfTasksFailed": failed,
        },
    }


def expect_jobs(stack: Stack, *jobs: dict[str, Any], foreign: bool = True) -> None:
    """One ListJobs answer (plus a job of someone else, which is never described), then a DescribeJob each."""
    listed = [
        {"JobId": j["JobId"], "Description": j["Description"], "CreationTime": j["CreationTime"]}
        for j in jobs
    ]
    if foreign:
        listed.append({"JobId": "other-team", "Description": "copy of logs", "CreationTime": NOW})
    stub = stack.stubs["s3control"]
    stub.add_response("list_jobs", {"Jobs": listed}, {"AccountId": ACCOUNT, "MaxResults": 100})
    for one in jobs:
        stub.add_response("describe_job", {"Job": one}, {"AccountId": ACCOUNT, "JobId": one["JobId"]})


def test_status_of_a_running_run(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(6):
        seed(stack.history, f"k{i}.jpg", HistoryStatus.INDEXED, at=NOW - timedelta(minutes=2))
    seed(stack.history, "old.jpg", HistoryStatus.INDEXED, at=NOW - timedelta(minutes=30))
    for i in range(3):
        seed(stack.history, f"q{i}.jpg", HistoryStatus.QUEUED, at=NOW - timedelta(minutes=1))
    stack.sqs.send_message(QueueUrl=stack.outputs["queue_url"], MessageBody="{}")
    expect_jobs(stack, job("job-1", "Active", total=20, succeeded=10, failed=0))
    assert stack.cli("status", RUN, "--json") == 0
    answer = read_json(capsys)
    assert answer["run_id"] == RUN
    assert answer["jobs"][0]["tasks_total"] == 20
    assert answer["jobs"][0]["tasks_succeeded"] == 10
    assert answer["history"] == {"indexed": 7, "queued": 3}
    assert answer["queue"]["visible"] == 1
    assert answer["queue"]["oldest_message_age_seconds"] is None  # no CloudWatch datapoint in moto
    assert answer["dlq_messages"] == 0
    # 6 finished in the 5-minute window: 1.2/min; remaining 3 queued + 10 tasks not done: 13 / 1.2 min.
    assert answer["rate_per_minute"] == pytest.approx(1.2)
    assert answer["eta_seconds"] == pytest.approx(60 * 13 / 1.2)
    assert answer["settled"] is False
    stack.stubs["s3control"].assert_no_pending_responses()


def test_status_table_and_failed_job_exit_1(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    seed(stack.history, "k.jpg", HistoryStatus.INDEXED, at=NOW - timedelta(minutes=1))
    failed = job("job-2", "Failed", total=5, succeeded=1, failed=4)
    failed["FailureReasons"] = [{"FailureCode": "AccessDenied", "FailureReason": "cannot read the manifest"}]
    expect_jobs(stack, failed)
    assert stack.cli("status") == 1  # no RUN: the newest job's run
    out = capsys.readouterr().out
    assert f"run {RUN}" in out
    assert "AccessDenied: cannot read the manifest" in out
    assert "PROBLEM: job job-2 is Failed" in out


def test_dlq_messages_are_a_problem(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    seed(stack.history, "k.jpg", HistoryStatus.FAILED, at=NOW - timedelta(minutes=1))
    stack.sqs.send_message(QueueUrl=stack.outputs["dlq_url"], MessageBody="{}")
    expect_jobs(stack, job("job-3", "Complete", total=1, succeeded=1, failed=0))
    assert stack.cli("status", RUN, "--json") == 1
    assert read_json(capsys)["problems"] == ["1 messages in the DLQ (`bulk-loader redrive --dry-run`)"]


def test_a_job_id_names_its_run(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    seed(stack.history, "k.jpg", HistoryStatus.INDEXED, at=NOW - timedelta(minutes=1))
    expect_jobs(stack, job("job-4", "Complete", 1, 1, 0), job("job-5", "Complete", 2, 2, 0))
    assert stack.cli("status", "job-4", "--json") == 0
    answer = read_json(capsys)
    assert answer["run_id"] == RUN
    assert sorted(j["job_id"] for j in answer["jobs"]) == ["job-4", "job-5"]
    assert answer["settled"] is True


def test_unknown_run_is_bad_usage(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    expect_jobs(stack, job("job-6", "Complete", 1, 1, 0))
    assert stack.cli("status", "images-bucket/nothing-like-it") == 2
    assert "unknown run id 'images-bucket/nothing-like-it'" in capsys.readouterr().err


def test_watch_redraws_until_settled(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    obj = seed(stack.history, "k.jpg", HistoryStatus.QUEUED, at=NOW - timedelta(minutes=1))
    expect_jobs(stack, job("job-7", "Active", 1, 0, 0))
    expect_jobs(stack, job("job-7", "Complete", 1, 1, 0))
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:  # between the two polls the record is indexed
        sleeps.append(seconds)
        seed(stack.history, obj.key, HistoryStatus.INDEXED, at=NOW)

    assert stack.cli("status", RUN, "--watch", "--interval", "3", "--json", sleep=sleep) == 0
    frames = _json_frames(capsys.readouterr().out)
    assert [f["settled"] for f in frames] == [False, True]
    assert sleeps == [3.0]


def test_watch_gives_up_after_timeout(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    seed(stack.history, "k.jpg", HistoryStatus.QUEUED, at=NOW - timedelta(minutes=1))
    ticks = iter(NOW + timedelta(seconds=s) for s in range(0, 1000, 5))
    for _ in range(3):
        expect_jobs(stack, job("job-8", "Active", 1, 0, 0))
    code = stack.cli(
        "status", RUN, "--watch", "--interval", "5", "--timeout", "12", clock=lambda: next(ticks)
    )
    assert code == 1
    assert "did not settle within --timeout 12 s" in capsys.readouterr().err


def _json_frames(text: str) -> list[Any]:
    """The consecutive JSON documents --watch --json printed, one per poll."""
    decoder, frames, at = json.JSONDecoder(), [], 0
    while text[at:].strip():
        at += len(text[at:]) - len(text[at:].lstrip())
        frame, at = decoder.raw_decode(text, at)
        frames.append(frame)
    return frames


def test_a_stack_without_the_indexer_shows_jobs_and_history(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = {k: v for k, v in stack.outputs.items() if k not in ("queue_url", "dlq_url")}
    stack.outputs_file.write_text(json.dumps(outputs))
    seed(stack.history, "k.jpg", HistoryStatus.INDEXED, at=NOW - timedelta(minutes=1))
    expect_jobs(stack, job("job-9", "Complete", 1, 1, 0))
    assert stack.cli("status", RUN) == 0
    out = capsys.readouterr().out
    assert "queue           not available (no queue_url: --queue-url)" in out
    assert "history         indexed 1" in out
