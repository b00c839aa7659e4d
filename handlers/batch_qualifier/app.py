"""Lambda entry point: S3 Batch Operations `LambdaInvoke` (one invocation per manifest row), and the
tag-events queue (SQS batches of S3 "Object Tags Added" / "Object Tags Deleted" events; partial failures)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import (
    S3BatchOperationResponseRecord,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from handlers.batch_qualifier.bootstrap import build_qualifier
from handlers.batch_qualifier.events import BadTask, build_response, parse_invocation
from handlers.batch_qualifier.outcomes import clip_result_string
from handlers.batch_qualifier.qualifier import TaskResult
from handlers.batch_qualifier.settings import Settings
from handlers.batch_qualifier.tag_events import (
    RETRIED_OUTCOMES,
    RetryTagEvent,
    TagEventQualifier,
    parse_tag_event,
)
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
tag_events = TagEventQualifier(qualifier, client("s3"))
processor = BatchProcessor(event_type=EventType.SQS)


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event.get("Records") if isinstance(event, dict) else None
    first = records[0] if isinstance(records, list) and records else None
    if isinstance(first, dict) and first.get("eventSource") == "aws:sqs":
        return dict(process_partial_response(event, _tag_event, processor, context))
    return _batch_invocation(event)


def _tag_event(record: SQSRecord) -> None:
    """One tag event: re-qualified like an inventory row; a failure a retry may fix fails this message only.
    A message that is no tag event raises TagEventError: retried, then kept by the queue's DLQ."""
    event = parse_tag_event(record.body)
    logger.append_keys(
        event_id=event.event_id, bucket=event.bucket, key=event.keys[0], version_id=event.version_id
    )
    result = tag_events.requalify(event)
    metrics.add_metric(name=f"TagEvent{OUTCOME_METRICS[result.outcome]}", unit=MetricUnit.Count, value=1)
    logger.info(
        "tag event re-qualified",
        extra={
            "detail_type": event.detail_type,
            "result_code": result.result_code,
            "result": result.result_string,
        },
    )
    if result.outcome in RETRIED_OUTCOMES:
        raise RetryTagEvent(result.result_string)


def _batch_invocation(event: dict[str, Any]) -> dict[str, Any]:
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
