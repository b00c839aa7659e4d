"""Lambda entry point: S3 Batch Operations `LambdaInvoke`, one invocation per manifest row."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import (
    S3BatchOperationResponseRecord,
)

from handlers.batch_qualifier.bootstrap import build_qualifier
from handlers.batch_qualifier.events import BadTask, build_response, parse_invocation
from handlers.batch_qualifier.outcomes import clip_result_string
from handlers.batch_qualifier.qualifier import TaskResult
from handlers.batch_qualifier.settings import Settings
from handlers.common.aws import client, dynamodb_table

logger = Logger()
metrics = Metrics()
tracer = Tracer()

OUTCOME_METRICS = {
    "queued": "Queued",
    "skipped": "Skipped",
    "invalid": "Invalid",
    "missing": "Missing",
    "temporary": "TemporaryFailure",
    "denied": "AccessDenied",
    "error": "Error",
}


# Built at cold start: a wrong REGISTRATION_PROVIDER or malformed setting fails the init, not every task.
qualifier = build_qualifier(Settings.from_env(), client, dynamodb_table)


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    invocation = parse_invocation(event)
    logger.append_keys(
        job_id=invocation.job_id, run_id=invocation.run_id, invocation_id=invocation.invocation_id
    )
    records = []
    for task in invocation.tasks:
        if isinstance(task, BadTask):
            logger.remove_keys(["bucket", "key", "version_id"])
            logger.append_keys(task_id=task.task_id)
            result = TaskResult("PermanentFailure", task.reason, "error")
        else:
            logger.append_keys(
                task_id=task.task_id, bucket=task.bucket, key=task.key, version_id=task.version_id
            )
            result = qualifier.qualify(task)
        metrics.add_metric(name=OUTCOME_METRICS[result.outcome], unit=MetricUnit.Count, value=1)
        logger.info("task result", extra={"result_code": result.result_code, "result": result.result_string})
        records.append(
            S3BatchOperationResponseRecord(
                task.task_id, result.result_code, clip_result_string(result.result_string)
            )
        )
    return build_response(invocation, records)
