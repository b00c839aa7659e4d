"""Lambda entry point: parse the event, run the importer, shape the response. Logic lives in pipeline.py."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from handlers.common.aws import client
from handlers.inventory_created.convert import OUTCOMES
from handlers.inventory_created.errors import InventoryError
from handlers.inventory_created.events import (
    ConvertTask,
    DispatchTask,
    Ignored,
    ManifestLocation,
    parse_event,
)
from handlers.inventory_created.pipeline import FunctionIdentity, InventoryImporter, merge_counts
from handlers.inventory_created.reader import configure_arrow_memory
from handlers.inventory_created.settings import Settings

logger = Logger()
metrics = Metrics()
tracer = Tracer()
ARROW_MEMORY_POOL = configure_arrow_memory()


@functools.cache
def _importer(function_arn: str) -> InventoryImporter:
    return InventoryImporter(
        Settings.from_env(),
        s3=client("s3"),
        s3control=client("s3control"),
        lambda_client=client("lambda"),
        function=FunctionIdentity.from_arn(function_arn),
        logger=logger,
    )


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        requests = parse_event(event)
        importer = _importer(context.invoked_function_arn)
        results: list[dict[str, Any]] = []
        for request in requests:
            if isinstance(request, Ignored):
                logger.info("event ignored", extra={"reason": request.reason})
                metrics.add_metric(name="EventsIgnored", unit=MetricUnit.Count, value=1)
                results.append({"ignored": request.reason})
            elif isinstance(request, ConvertTask):
                results.append(importer.convert_task(request))
            elif isinstance(request, DispatchTask):
                results.append(importer.continue_dispatch(request))
            elif isinstance(request, ManifestLocation):
                results.append(importer.import_location(request))
            else:
                results.append(importer.import_payload(request))
    except InventoryError as exc:
        # Bad input: one clear line (the async failure destination keeps the event for a person to see).
        logger.error("inventory rejected", extra={"error": str(exc), "errorType": type(exc).__name__})
        metrics.add_metric(name="InventoriesRejected", unit=MetricUnit.Count, value=1)
        raise
    counts = merge_counts(results)
    for outcome in OUTCOMES:
        if counts.get(outcome):
            metrics.add_metric(name=f"Rows_{outcome}", unit=MetricUnit.Count, value=counts[outcome])
    jobs = [job for result in results for job in result.get("jobs", [])]
    if jobs:
        metrics.add_metric(name="JobsCreated", unit=MetricUnit.Count, value=len(jobs))
    return {"results": results, "jobs": [j["jobId"] for j in jobs if j["jobId"]], "counts": counts}
