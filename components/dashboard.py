"""The operations dashboard: one CloudWatch dashboard per stack for the people who operate an import, and its
console URL (`operations_dashboard`, a builder that whoever composes the stack calls).

Widgets (body: CloudWatch API Reference, "Dashboard Body Structure and Syntax"; metrics: AWS/SQS and
AWS/Lambda as the services publish them, plus the handlers' Powertools EMF counters):
- the input queue: visible / in flight (ApproximateNumberOfMessages*), age of the oldest message;
- the DLQ, the tag-events DLQ and the inventory function's failure queue (messages given up on);
- registrations per minute by outcome: the indexer's counters (`Indexed`, `SkippedDuplicate`, `RetryBusy`,
  ... one per outcome label, handlers/throttled_indexer/outcome.py `metric_name`);
- S3 Batch tasks per minute by outcome: the batch qualifier's counters, one per task it answers
  (`Queued`, `Skipped`, `Invalid`, ...; S3 Batch Operations itself publishes no CloudWatch metric);
- the inventory function's counters (rows by outcome, jobs created, rejected inventories);
- Lambda errors, throttles and duration (p99, maximum) per function;
- the stack's alarms.
EMF counters are read with a SEARCH over the stack's metrics namespace and the function's `service`
dimension (Powertools' default dimension, POWERTOOLS_SERVICE_NAME): outcomes that have not happened yet have
no metric, and a search shows whichever exist. Stacks that share a namespace in one account and region share
these counters: give each stack its own `metrics_namespace` to tell them apart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from .names import physical_name

PERIOD_SECONDS = 60
# Widgets are laid out on CloudWatch's 24-column grid.
GRID_COLUMNS = 24
WIDGET_WIDTH = 12
WIDGET_HEIGHT = 6
# Dashboard names: up to 255 characters of A-Z, a-z, 0-9, "-" and "_" (PutDashboard API Reference).
DASHBOARD_NAME_LIMIT = 255
# The powertools service name of each function (components' powertools_env) and the metrics it counts.
SERVICES = {
    "throttled_indexer": "Registrations per minute by outcome (throttled_indexer)",
    "batch_qualifier": "S3 Batch tasks per minute by outcome (batch_qualifier)",
    "inventory_created": "Inventory rows and jobs (inventory_created)",
}
_CONSOLE_HOSTS = {"aws": "console.aws.amazon.com", "aws-cn": "console.amazonaws.cn"}


@dataclass(frozen=True)
class DashboardSources:
    """What the dashboard shows, as plain names (the component resolves its Outputs into one of these)."""

    region: str
    namespace: str
    queue_name: str | None = None
    dlq_name: str | None = None
    failure_queue_name: str | None = None
    tag_events_dlq_name: str | None = None
    functions: Mapping[str, str] = field(default_factory=dict)
    """Powertools service name (`throttled_indexer`, ...) -> physical function name, for the enabled ones."""
    alarm_arns: Sequence[str] = ()
    title: str = "bulk-loader"


def dashboard_body(sources: DashboardSources) -> dict[str, Any]:
    """The dashboard body (a JSON object) for these sources; widgets of absent resources are left out."""
    widgets: list[dict[str, Any]] = [_header(sources)]
    if sources.queue_name:
        widgets.append(_queue_widget(sources))
    given_up = [
        (n, label)
        for n, label in (
            (sources.dlq_name, "DLQ"),
            (sources.tag_events_dlq_name, "tag-events DLQ"),
            (sources.failure_queue_name, "inventory failures"),
        )
        if n
    ]
    if given_up:
        widgets.append(
            _metric_widget(
                sources,
                "Given up: DLQs and failed inventory invocations (messages)",
                [
                    [
                        "AWS/SQS",
                        "ApproximateNumberOfMessagesVisible",
                        "QueueName",
                        name,
                        {"label": label, "stat": "Maximum"},
                    ]
                    for name, label in given_up
                ],
            )
        )
    for service, title in SERVICES.items():
        if service in sources.functions:
            widgets.append(_emf_widget(sources, service, title))
    if sources.functions:
        widgets += _lambda_widgets(sources)
    if sources.alarm_arns:
        widgets.append(
            {
                "type": "alarm",
                "properties": {
                    "title": "Alarms",
                    "alarms": sorted(sources.alarm_arns),
                    "sortBy": "stateUpdatedTimestamp",
                },
            }
        )
    return {"start": "-PT6H", "periodOverride": "inherit", "widgets": _laid_out(widgets)}


def console_url(region: str, dashboard_name: str, partition: str = "aws") -> str:
    host = _CONSOLE_HOSTS.get(partition, _CONSOLE_HOSTS["aws"])
    return f"https://{region}.{host}/cloudwatch/home?region={region}#dashboards/dashboard/{dashboard_name}"


def dashboard_name(project: str, stack: str) -> str:
    return physical_name(f"{project}-{stack}", limit=DASHBOARD_NAME_LIMIT)


def _header(sources: DashboardSources) -> dict[str, Any]:
    markdown = (
        f"# {sources.title}\n"
        "Progress of a run: `bulk-loader status --watch` · what happened to an image: "
        "`bulk-loader history object s3://BUCKET/KEY` · failures: "
        "`bulk-loader history failures --since 1d` · DLQs: `bulk-loader redrive --dry-run` · "
        "runbook: README, *Operating*."
    )
    return {"type": "text", "width": GRID_COLUMNS, "height": 2, "properties": {"markdown": markdown}}


def _queue_widget(sources: DashboardSources) -> dict[str, Any]:
    queue = sources.queue_name
    return _metric_widget(
        sources,
        "Input queue: depth and age of the oldest message",
        [
            [
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                "QueueName",
                queue,
                {"label": "waiting", "stat": "Maximum"},
            ],
            [
                "AWS/SQS",
                "ApproximateNumberOfMessagesNotVisible",
                "QueueName",
                queue,
                {"label": "in flight", "stat": "Maximum"},
            ],
            [
                "AWS/SQS",
                "ApproximateAgeOfOldestMessage",
                "QueueName",
                queue,
                {"label": "oldest message (s)", "stat": "Maximum", "yAxis": "right"},
            ],
        ],
    )


def _emf_widget(sources: DashboardSources, service: str, title: str) -> dict[str, Any]:
    search = f"SEARCH('{{{sources.namespace},service}} service=\"{service}\"', 'Sum', {PERIOD_SECONDS})"
    return _metric_widget(
        sources, title, [[{"expression": search, "id": f"e_{service}", "label": ""}]], stacked=True
    )


def _lambda_widgets(sources: DashboardSources) -> list[dict[str, Any]]:
    functions = sorted(sources.functions.items())
    errors = [
        ["AWS/Lambda", metric, "FunctionName", name, {"label": f"{service} {metric.lower()}", "stat": "Sum"}]
        for service, name in functions
        for metric in ("Errors", "Throttles")
    ]
    duration = [
        ["AWS/Lambda", "Duration", "FunctionName", name, {"label": f"{service} {stat}", "stat": stat}]
        for service, name in functions
        for stat in ("p99", "Maximum")
    ]
    return [
        _metric_widget(sources, "Lambda errors and throttles", errors),
        _metric_widget(sources, "Lambda duration (ms)", duration),
    ]


def _metric_widget(
    sources: DashboardSources, title: str, metrics: list[list[Any]], *, stacked: bool = False
) -> dict[str, Any]:
    return {
        "type": "metric",
        "properties": {
            "title": title,
            "view": "timeSeries",
            "stacked": stacked,
            "region": sources.region,
            "period": PERIOD_SECONDS,
            "metrics": metrics,
        },
    }


def _laid_out(widgets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Left to right, top to bottom on the 24-column grid."""
    x = y = row_height = 0
    placed = []
    for widget in widgets:
        width, height = widget.get("width", WIDGET_WIDTH), widget.get("height", WIDGET_HEIGHT)
        if x + width > GRID_COLUMNS:
            x, y, row_height = 0, y + row_height, 0
        placed.append({**widget, "x": x, "y": y, "width": width, "height": height})
        x, row_height = x + width, max(row_height, height)
    return placed


# --------------------------------------------------------------------------------------------- resource
@dataclass
class DashboardInputs:
    """What the stack's dashboard shows (Outputs allowed); absent parts have no widget."""

    namespace: str
    """The handlers' EMF namespace (LambdaSettings.metrics_namespace)."""
    queue_name: pulumi.Input[str] | None = None
    """The indexer's input queue (None: a stack without ThrottledIndexer)."""
    dlq_name: pulumi.Input[str] | None = None
    """The indexer's dead-letter queue."""
    failure_queue_name: pulumi.Input[str] | None = None
    """The inventory function's async failure queue (None: a stack without InventoryPipeline)."""
    tag_events_dlq_name: pulumi.Input[str] | None = None
    """The qualifier's tag-events dead-letter queue (None: no tag-events route)."""
    functions: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Powertools service name (a key of SERVICES) -> function name, for the functions this stack deploys."""
    alarm_arns: Sequence[pulumi.Input[str]] = ()
    """The stack's alarms, for the alarm status widget."""
    dashboard_name: str | None = None
    """Physical name; default `<project>-<stack>`."""


@dataclass(frozen=True)
class OperationsDashboard:
    dashboard: aws.cloudwatch.Dashboard
    url: pulumi.Output[str]
    """The dashboard's address in the CloudWatch console (the stack output `dashboard_url`)."""


def operations_dashboard(
    name: str, inputs: DashboardInputs, parent: pulumi.Resource | None = None
) -> OperationsDashboard:
    """The stack's CloudWatch dashboard (one `aws.cloudwatch.Dashboard` named `<name>-dashboard`) and its URL.
    A builder, like alarms.py's, so whoever composes the stack (or a component) owns the resource."""
    unknown = sorted(set(inputs.functions) - set(SERVICES))
    if unknown:
        raise ValueError(f"DashboardInputs.functions: unknown services {unknown}; known: {sorted(SERVICES)}")
    physical = inputs.dashboard_name or dashboard_name(pulumi.get_project(), pulumi.get_stack())
    invoke = pulumi.InvokeOutputOptions(parent=parent) if parent else None
    region = aws.get_region_output(opts=invoke).region
    partition = aws.get_partition_output(opts=invoke).partition
    services = sorted(inputs.functions)
    resolved = pulumi.Output.all(
        region,
        inputs.queue_name,
        inputs.dlq_name,
        inputs.failure_queue_name,
        inputs.tag_events_dlq_name,
        *[inputs.functions[s] for s in services],
        *inputs.alarm_arns,
    )

    def body(values: list[Any]) -> str:
        region_, queue, dlq, failures, tag_events_dlq = values[:5]
        names = values[5 : 5 + len(services)]
        sources = DashboardSources(
            region=region_,
            namespace=inputs.namespace,
            queue_name=queue,
            dlq_name=dlq,
            failure_queue_name=failures,
            tag_events_dlq_name=tag_events_dlq,
            functions=dict(zip(services, names, strict=True)),
            alarm_arns=values[5 + len(services) :],
            title=f"bulk-loader {pulumi.get_stack()}",
        )
        return json.dumps(dashboard_body(sources), separators=(",", ":"))

    dashboard = aws.cloudwatch.Dashboard(
        f"{name}-dashboard",
        dashboard_name=physical,
        dashboard_body=resolved.apply(body),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    url = pulumi.Output.all(region, partition).apply(lambda rp: console_url(rp[0], physical, rp[1]))
    return OperationsDashboard(dashboard, url)


def stack_dashboard(
    namespace: str, *, inventory: Any = None, qualifier: Any = None, indexer: Any = None
) -> OperationsDashboard:
    """The dashboard of a stack composed as `__main__.py` composes it: each keyword is the component of that
    resource name (None: left out), its queues, functions and alarms shown. The dashboard is a child of the
    indexer (else the pipeline, else the qualifier) and named after it: every resource has a component
    parent and its name."""
    functions: dict[str, pulumi.Input[str]] = {}
    alarms: list[pulumi.Input[str]] = []
    inputs = DashboardInputs(namespace=namespace, functions=functions, alarm_arns=alarms)
    if inventory is not None:
        functions["inventory_created"] = inventory.function_name
        inputs.failure_queue_name = inventory.failure_queue.queue.name
        alarms += [alarm.arn for alarm in inventory.alarms.values()]
    if qualifier is not None:
        functions["batch_qualifier"] = qualifier.function_name
        if qualifier.tag_events_queue is not None:
            inputs.tag_events_dlq_name = qualifier.tag_events_queue.dead_letter_queue.name
        alarms += [alarm.arn for alarm in qualifier.alarms.values()]
    if indexer is not None:
        functions["throttled_indexer"] = indexer.function_name
        inputs.queue_name = indexer.queue.queue.name
        inputs.dlq_name = indexer.queue.dead_letter_queue.name
        alarms += [alarm.arn for alarm in indexer.alarms.values()]
    owners = [
        (n, c) for n, c in (("indexer", indexer), ("inventory", inventory), ("qualifier", qualifier)) if c
    ]
    if not owners:
        raise ValueError("stack_dashboard: no component given; a stack composes at least one")
    owner_name, owner = owners[0]
    return operations_dashboard(f"{owner_name}-operations", inputs, parent=owner)
