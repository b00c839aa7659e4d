"""A fake handler for the offline runtime tests: its behaviour is chosen by the event it receives."""

from __future__ import annotations

import json
import os
import time

import boto3


def handler(event, context):
    if isinstance(event, dict) and "Records" in event:
        return _records(event, context)
    if isinstance(event, dict) and "tasks" in event:
        return _batch(event, context)
    action = event.get("action") if isinstance(event, dict) else None
    if action == "sleep":
        time.sleep(float(event["seconds"]))
        return {"slept": event["seconds"]}
    if action == "fail":
        raise RuntimeError(event.get("message", "asked to fail"))
    if action == "crash":
        os._exit(3)
    if action == "env":
        return {k: v for k, v in os.environ.items() if not k.startswith("AWS_SECRET")}
    if action == "context":
        return {
            "function_name": context.function_name,
            "invoked_function_arn": context.invoked_function_arn,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "aws_request_id": context.aws_request_id,
            "memory_limit_in_mb": context.memory_limit_in_mb,
        }
    if action == "aws":
        client = boto3.client(event["service"])
        answer = getattr(client, event["method"])(**event.get("args", {}))
        # Still busy after the call for this long: a test that kills the environment right after the
        # answer then always finds it mid-invocation, whatever the machine's load.
        time.sleep(float(event.get("then_sleep", 0)))
        return answer
    return {"echo": event}


def _records(event, context):
    """SQS and SNS records: record each message in the table; bodies starting with 'fail' fail."""
    table = os.environ.get("SEEN_TABLE")
    failures = []
    for record in event["Records"]:
        if record.get("eventSource") == "aws:sqs":
            body = record["body"]
            ident = record["messageId"]
        elif record.get("eventSource") == "aws:s3":
            body = record["s3"]["object"]["key"]
            ident = record["s3"]["object"]["sequencer"]
        else:
            body = record["Sns"]["Message"]
            ident = record["Sns"]["MessageId"]
        if table:
            boto3.client("dynamodb").put_item(
                TableName=table,
                Item={
                    "pk": {
                        "S": f"{ident}#{record.get('attributes', {}).get('ApproximateReceiveCount', '1')}"
                    },
                    "body": {"S": body},
                    "record": {"S": json.dumps(record)},
                },
            )
        if body.startswith("fail"):
            failures.append({"itemIdentifier": ident})
        if body.startswith("raise"):
            raise RuntimeError("asked to fail the whole batch")
    return {"batchItemFailures": failures}


def _batch(event, context):
    """S3 Batch tasks: the key decides the result code."""
    results = []
    for task in event["tasks"]:
        key = task["s3Key"]
        if "temporary" in key:
            marker = os.path.join("/tmp", f"offline-echo-{event['job']['id']}-{task['taskId']}")
            if not os.path.exists(marker):
                open(marker, "w").close()
                results.append(
                    {"taskId": task["taskId"], "resultCode": "TemporaryFailure", "resultString": "later"}
                )
                continue
        if "permanent" in key:
            results.append(
                {"taskId": task["taskId"], "resultCode": "PermanentFailure", "resultString": "bad " + key}
            )
            continue
        results.append(
            {"taskId": task["taskId"], "resultCode": "Succeeded", "resultString": json.dumps(task)}
        )
    return {
        "invocationSchemaVersion": event["invocationSchemaVersion"],
        "treatMissingKeysAs": "PermanentFailure",
        "invocationId": event["invocationId"],
        "results": results,
    }
