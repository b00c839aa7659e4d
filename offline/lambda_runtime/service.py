"""The Lambda service around the worker pools: the Invoke API behind the front door, function output shipped
to CloudWatch Logs, and the on-failure destinations of asynchronous invocations."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from moto.logs.models import logs_backends

from offline.aws.requests import Caller, Request, Response, json_response
from offline.deployment.deployed import FunctionSpec
from offline.lambda_runtime.workers import Workers

_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations/?$")
_CONFIGURATION_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/configuration/?$")
Authorize = Callable[[Caller, str, str, dict[str, Any] | None], None]
InvokeAsync = Callable[[str, bytes, str], str]
"""(function name or ARN, payload, source) -> request id."""


def invoke_route(workers: Workers, authorize: Authorize) -> Callable[[Request], Response | None]:
    """The front door's route for `lambda`: Invoke (RequestResponse / Event / DryRun) on the worker pools,
    authorized as the caller; GetFunctionConfiguration from the deployment (moto 5.2.5 answers every Lambda
    GET with SignatureDoesNotMatch once IAM is enforced: GetFunction, GetFunctionConfiguration and
    ListFunctions were seen); the other management APIs go on to moto."""

    def route(request: Request) -> Response | None:
        configuration = _CONFIGURATION_PATH.match(request.path)
        if configuration and request.method == "GET":
            return _function_configuration(workers, authorize, request, unquote(configuration.group(1)))
        match = _INVOKE_PATH.match(request.path)
        if not match or request.method != "POST":
            return None  # management APIs (CreateFunction, ...) are moto's
        name = unquote(match.group(1))
        qualifier = (request.query.get("Qualifier") or [None])[0]
        try:
            if qualifier not in (None, "$LATEST"):
                raise KeyError(f"function {name}:{qualifier}: only $LATEST runs offline")
            pool = workers.pool(name)
        except KeyError as exc:
            return json_response(404, {"Type": "User", "Message": str(exc)}, "ResourceNotFoundException")
        authorize(request.caller, "lambda:InvokeFunction", pool.spec.arn, None)
        invocation_type = (
            request.headers.get("X-Amz-Invocation-Type")
            or request.headers.get("x-amz-invocation-type")
            or "RequestResponse"
        )
        source = f"invoke:{request.caller.label}"
        if invocation_type == "DryRun":
            return Response(204, b"", {})
        if invocation_type == "Event":
            request_id = pool.invoke_async(request.body, source)
            return Response(202, b"", {"x-amzn-RequestId": request_id})
        result = pool.invoke_sync(request.body, source)
        if result.status == 429:
            return Response(
                429,
                result.payload,
                {"Content-Type": "application/json", "x-amzn-ErrorType": "TooManyRequestsException"},
            )
        headers = {
            "Content-Type": "application/json",
            "X-Amz-Executed-Version": "$LATEST",
            "x-amzn-RequestId": result.request_id,
        }
        if result.function_error:
            headers["X-Amz-Function-Error"] = result.function_error
        return Response(result.status, result.payload, headers)

    return route


def _function_configuration(workers: Workers, authorize: Authorize, request: Request, name: str) -> Response:
    """GetFunctionConfiguration of a deployed function (its $LATEST), authorized as the caller."""
    try:
        spec = workers.pool(name).spec
    except KeyError as exc:
        return json_response(404, {"Type": "User", "Message": str(exc)}, "ResourceNotFoundException")
    authorize(request.caller, "lambda:GetFunctionConfiguration", spec.arn, None)
    return json_response(
        200,
        {
            "FunctionName": spec.name,
            "FunctionArn": spec.arn,
            "Runtime": spec.runtime,
            "Role": spec.role_arn,
            "Handler": spec.handler,
            "Timeout": spec.timeout_s,
            "MemorySize": spec.memory_mb,
            "Environment": {"Variables": dict(spec.environment)},
            "Version": "$LATEST",
            "State": "Active",
        },
    )


class LogShipper:
    """Function output into its CloudWatch Logs group, as Lambda does (in moto's backend, not counted)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __call__(self, spec: FunctionSpec, lines: list[str]) -> None:
        # The function's own account and region (its ARN's): the stack's region is known only once deployed.
        region, account_id = spec.arn.split(":")[3:5]
        backend = logs_backends[account_id][region]
        group = spec.log_group or f"/aws/lambda/{spec.name}"
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]offline"
        with self._lock:
            if group not in backend.groups:
                backend.create_log_group(group, {})
            if stream not in backend.groups[group].streams:
                backend.create_log_stream(group, stream)
            now = int(time.time() * 1000)
            backend.put_log_events(group, stream, [{"timestamp": now, "message": line} for line in lines])


def destination_sender(
    role_client: Callable[[str], Any], queue_url: Callable[[str], str], invoke_async: InvokeAsync
) -> Callable[[str, dict[str, Any]], None]:
    """Lambda sends an async invocation's record to its on-failure destination with the function's role
    (`role_client(service)`); `queue_url(name)` is a queue's URL at the endpoint the function uses."""
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = role_client(service)
        return clients[service]

    def send(destination: str, record: dict[str, Any]) -> None:
        service = destination.split(":")[2]
        body = json.dumps(record)
        if service == "sqs":
            name = destination.split(":")[-1]
            client("sqs").send_message(QueueUrl=queue_url(name), MessageBody=body)
        elif service == "sns":
            client("sns").publish(TopicArn=destination, Message=body)
        elif service == "lambda":
            invoke_async(destination, body.encode(), "destination")
        else:
            raise ValueError(f"destination {destination}: only SQS, SNS and Lambda destinations run offline")

    return send
