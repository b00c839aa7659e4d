"""Lambda entry point: SQS batches from the indexer's input queue (ReportBatchItemFailures)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from handlers.common.aws import client, dynamodb_table
from handlers.throttled_indexer.bootstrap import build_runner
from handlers.throttled_indexer.outcome import metric_name
from handlers.throttled_indexer.settings import Settings

logger = Logger()
metrics = Metrics()
tracer = Tracer()


def _count(label: str) -> None:
    metrics.add_metric(name=metric_name(label), unit=MetricUnit.Count, value=1)


# Built at cold start: a missing HISTORY_TABLE or a malformed setting fails the init, not every message.
runner = build_runner(Settings.from_env(), client, dynamodb_table, _count, logger)


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = runner.run(event.get("Records", []), remaining_ms=context.get_remaining_time_in_millis)
    return result.response()
