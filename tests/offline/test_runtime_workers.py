"""Functions as worker processes: environment, context, timeouts, crashes, concurrency, async failures."""

from __future__ import annotations

import json
import threading

from offline.runtime import OfflineRuntime
from tests.offline.conftest import wait_for


def _invoke(runtime: OfflineRuntime, event: dict, **kwargs) -> dict:
    lam = runtime.client("lambda", max_attempts=1)
    response = lam.invoke(
        FunctionName=runtime.deployment.outputs["function_name"], Payload=json.dumps(event), **kwargs
    )
    return {
        "status": response["StatusCode"],
        "error": response.get("FunctionError"),
        "payload": json.loads(response["Payload"].read() or b"null"),
    }


def test_the_handler_gets_a_lambda_context(tiny: OfflineRuntime):
    result = _invoke(tiny, {"action": "context"})
    assert result["status"] == 200 and result["error"] is None
    context = result["payload"]
    assert context["function_name"] == tiny.deployment.outputs["function_name"]
    assert context["invoked_function_arn"] == tiny.deployment.outputs["function_arn"]
    assert context["memory_limit_in_mb"] == 256
    assert 0 < context["remaining_ms"] <= 5000
    assert context["aws_request_id"]


def test_the_worker_sees_exactly_its_deployed_environment_and_its_own_role(tiny: OfflineRuntime):
    spec = tiny.deployment.functions[tiny.deployment.outputs["function_name"]]
    env = _invoke(tiny, {"action": "env"})["payload"]
    for name, value in spec.environment.items():
        assert env[name] == value
    lambda_set = {
        "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT", "_HANDLER", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_EC2_METADATA_DISABLED",
        "POWERTOOLS_TRACE_DISABLED", "PATH", "LANG", "TZ",
    }  # fmt: skip
    # Nothing of the test process leaks in (its fake credentials, its Powertools settings, ...).
    assert set(env) == set(spec.environment) | lambda_set
    assert env["AWS_ENDPOINT_URL"] == tiny.endpoint
    assert env["AWS_ACCESS_KEY_ID"] == tiny.role_credentials(spec.role_arn)["AccessKeyId"]
    identity = _invoke(tiny, {"action": "aws", "service": "sts", "method": "get_caller_identity"})["payload"]
    assert ":assumed-role/" in identity["Arn"] and spec.role_arn.rsplit("/", 1)[-1] in identity["Arn"]


def test_a_handler_error_is_a_function_error(tiny: OfflineRuntime):
    result = _invoke(tiny, {"action": "fail", "message": "boom"})
    assert result["status"] == 200 and result["error"] == "Unhandled"
    assert result["payload"]["errorType"] == "RuntimeError" and result["payload"]["errorMessage"] == "boom"


def test_a_crashing_worker_is_replaced(tiny: OfflineRuntime):
    result = _invoke(tiny, {"action": "crash"})
    assert result["error"] == "Unhandled" and result["payload"]["errorType"] == "Runtime.ExitError"
    assert _invoke(tiny, {"action": "echo"})["payload"] == {"echo": {"action": "echo"}}


def test_the_timeout_kills_the_invocation(tiny: OfflineRuntime):
    result = _invoke(tiny, {"action": "sleep", "seconds": 30})
    assert result["error"] == "Unhandled"
    assert result["payload"]["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 5.00 seconds" in result["payload"]["errorMessage"]
    assert _invoke(tiny, {"action": "echo"})["error"] is None
    assert tiny.stats()["invocations"][tiny.deployment.outputs["function_name"]]["timeouts"] >= 1


def test_reserved_concurrency_throttles_sync_invocations(tiny: OfflineRuntime):
    # Reserved concurrency 3: a fourth concurrent invocation is throttled, as Lambda does.
    results: list[dict] = []
    lock = threading.Lock()

    def call():
        lam = tiny.client("lambda", max_attempts=1)
        try:
            response = lam.invoke(
                FunctionName=tiny.deployment.outputs["function_name"],
                Payload=json.dumps({"action": "sleep", "seconds": 2}),
            )
            outcome = {"status": response["StatusCode"]}
        except lam.exceptions.TooManyRequestsException as exc:
            outcome = {"status": 429, "reason": exc.response.get("Reason")}
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(r["status"] for r in results) == [200, 200, 200, 429]


def test_async_failure_goes_to_the_on_failure_destination(tiny: OfflineRuntime):
    lam = tiny.client("lambda")
    response = lam.invoke(
        FunctionName=tiny.deployment.outputs["function_name"],
        InvocationType="Event",
        Payload=json.dumps({"action": "fail", "message": "async boom"}),
    )
    assert response["StatusCode"] == 202
    sqs = tiny.client("sqs")
    url = tiny.deployment.outputs["failures_url"]

    def record():
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
        return json.loads(messages[0]["Body"]) if messages else None

    body = wait_for(record, what="the on-failure record")
    assert body["requestContext"]["condition"] == "RetriesExhausted"
    assert body["requestContext"]["approximateInvokeCount"] == 1  # MaximumRetryAttempts 0
    assert body["requestPayload"] == {"action": "fail", "message": "async boom"}
    assert body["responsePayload"]["errorMessage"] == "async boom"
    assert body["responseContext"]["functionError"] == "Unhandled"


def test_dry_run_and_unknown_functions(tiny: OfflineRuntime):
    lam = tiny.client("lambda", max_attempts=1)
    latest = lam.invoke(
        FunctionName=tiny.deployment.outputs["function_arn"], Qualifier="$LATEST", Payload=b"{}"
    )
    assert latest["StatusCode"] == 200 and latest.get("FunctionError") is None
    response = lam.invoke(FunctionName=tiny.deployment.outputs["function_name"], InvocationType="DryRun")
    assert response["StatusCode"] == 204
    try:
        lam.invoke(FunctionName="no-such-function", Payload=b"{}")
    except lam.exceptions.ResourceNotFoundException as exc:
        assert "no-such-function" in str(exc)
    else:
        raise AssertionError("invoking an unknown function must fail")


def test_a_worker_killed_mid_invocation_fails_that_invocation(tiny: OfflineRuntime):
    """The fault-injection hook: a listener kills the caller right after one of its API calls is answered."""
    name = tiny.deployment.outputs["function_name"]
    killed: list[int] = []

    def crash_after_get_caller_identity(request, status):
        if request.service == "sts" and status == 200 and not killed:
            killed.append(tiny.workers.pool(name).kill_busy_workers())

    tiny.on_api_call(crash_after_get_caller_identity)
    result = _invoke(
        tiny, {"action": "aws", "service": "sts", "method": "get_caller_identity", "then_sleep": 10}
    )
    assert killed == [1]
    assert result["error"] == "Unhandled" and result["payload"]["errorType"] == "Runtime.ExitError"
    assert _invoke(tiny, {"action": "echo"})["error"] is None  # a fresh environment takes over


def test_function_output_lands_in_its_cloudwatch_log_group(tiny: OfflineRuntime):
    name = tiny.deployment.outputs["function_name"]
    _invoke(tiny, {"action": "fail", "message": "visible in the logs"})
    logs = tiny.client("logs")
    group = f"/aws/lambda/{name}"
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert streams
    messages = [
        e["message"]
        for stream in streams
        for e in logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])["events"]
    ]
    assert any("visible in the logs" in m for m in messages)
