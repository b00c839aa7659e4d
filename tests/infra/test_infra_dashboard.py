"""The operations dashboard: its body against the CloudWatch dashboard body structure (pure builder), and the
component under Pulumi mocks (one aws.cloudwatch.Dashboard, the resolved names in its body, its URL)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pulumi
import pytest

from components.dashboard import (
    GRID_COLUMNS,
    DashboardInputs,
    DashboardSources,
    console_url,
    dashboard_body,
    dashboard_name,
    operations_dashboard,
    stack_dashboard,
)
from tests.infra.infra_harness import REGION, run_pulumi

FULL = DashboardSources(
    region="eu-west-1",
    namespace="BulkLoader",
    queue_name="input-q",
    dlq_name="input-dlq",
    failure_queue_name="inventory-failures",
    tag_events_dlq_name="tag-events-dlq",
    functions={"throttled_indexer": "idx-fn", "batch_qualifier": "bq-fn", "inventory_created": "inv-fn"},
    alarm_arns=["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:dlq"],
)


def _metrics(body: dict[str, Any]) -> list[list[Any]]:
    return [m for w in body["widgets"] if w["type"] == "metric" for m in w["properties"]["metrics"]]


def _titles(body: dict[str, Any]) -> list[str]:
    return [w["properties"].get("title", "") for w in body["widgets"]]


def test_every_source_has_its_widget() -> None:
    body = dashboard_body(FULL)
    metrics = _metrics(body)
    queue = {(m[1], m[3]) for m in metrics if m[0] == "AWS/SQS"}
    assert ("ApproximateAgeOfOldestMessage", "input-q") in queue
    assert ("ApproximateNumberOfMessagesVisible", "input-dlq") in queue
    assert ("ApproximateNumberOfMessagesVisible", "inventory-failures") in queue
    assert ("ApproximateNumberOfMessagesVisible", "tag-events-dlq") in queue
    lambda_metrics = {(m[1], m[3]) for m in metrics if m[0] == "AWS/Lambda"}
    for function in ("idx-fn", "bq-fn", "inv-fn"):
        assert {("Errors", function), ("Throttles", function), ("Duration", function)} <= lambda_metrics
    searches = [m[0]["expression"] for m in metrics if isinstance(m[0], dict)]
    assert "SEARCH('{BulkLoader,service} service=\"throttled_indexer\"', 'Sum', 60)" in searches
    assert len(searches) == 3
    alarm = next(w for w in body["widgets"] if w["type"] == "alarm")
    assert alarm["properties"]["alarms"] == list(FULL.alarm_arns)


def test_widgets_fit_the_grid_without_overlap() -> None:
    taken: set[tuple[int, int]] = set()
    for widget in dashboard_body(FULL)["widgets"]:
        assert widget["x"] >= 0 and widget["x"] + widget["width"] <= GRID_COLUMNS
        cells = {
            (x, y)
            for x in range(widget["x"], widget["x"] + widget["width"])
            for y in range(widget["y"], widget["y"] + widget["height"])
        }
        assert not cells & taken, f"{widget['properties'].get('title')} overlaps another widget"
        taken |= cells


def test_metric_widgets_name_their_region_and_period() -> None:
    for widget in dashboard_body(FULL)["widgets"]:
        if widget["type"] == "metric":
            assert widget["properties"]["region"] == "eu-west-1"
            assert widget["properties"]["period"] == 60


def test_absent_resources_have_no_widgets() -> None:
    body = dashboard_body(
        DashboardSources(region="eu-west-1", namespace="NS", functions={"batch_qualifier": "bq"})
    )
    titles = _titles(body)
    assert not any("queue" in t.lower() or "DLQ" in t for t in titles)
    assert any("batch_qualifier" in t for t in titles)
    assert not any("throttled_indexer" in t for t in titles)
    assert all(w["type"] != "alarm" for w in body["widgets"])


def test_console_url_and_name() -> None:
    assert console_url("eu-west-1", "bulk-loader-dev") == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/bulk-loader-dev"
    )
    assert console_url("cn-north-1", "d", "aws-cn").startswith("https://cn-north-1.console.amazonaws.cn/")
    long = dashboard_name("p" * 200, "s.t/a" * 30)
    assert len(long) <= 255
    assert set(long) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def test_the_builder_resolves_outputs_into_the_body() -> None:
    def program() -> None:
        dashboard = operations_dashboard(
            "ops",
            DashboardInputs(
                namespace="BulkLoader",
                queue_name=pulumi.Output.from_input("q-resolved"),
                functions={"throttled_indexer": pulumi.Output.from_input("idx-resolved")},
            ),
        )
        pulumi.export("dashboard_url", dashboard.url)

    run = run_pulumi(program, stack="dev")
    recorded = run.one("aws:cloudwatch/dashboard:Dashboard")
    assert recorded.inputs["dashboardName"] == "bulk-loader-dev"
    body = json.loads(recorded.inputs["dashboardBody"])
    assert ("ApproximateAgeOfOldestMessage", "q-resolved") in {
        (m[1], m[3]) for m in _metrics(body) if m[0] == "AWS/SQS"
    }
    assert {m[3] for m in _metrics(body) if m[0] == "AWS/Lambda"} == {"idx-resolved"}
    assert run.exports["dashboard_url"] == console_url(REGION, "bulk-loader-dev")
    assert run.parents["ops-dashboard"] is None  # the composer's: no parent given


def test_an_unknown_service_is_refused() -> None:
    # Checked before anything is registered: no Pulumi runtime is needed to see the error.
    with pytest.raises(ValueError, match="unknown services \\['indexer'\\]"):
        operations_dashboard("ops", DashboardInputs(namespace="N", functions={"indexer": "x"}))


class _Component(pulumi.ComponentResource):
    """A stand-in for a composed component: the attributes stack_dashboard reads, as Outputs."""

    def __init__(self, name: str, **attributes: Any) -> None:
        super().__init__("bulkloader:test:Component", name)
        for key, value in attributes.items():
            setattr(self, key, value)
        self.register_outputs({})


def _queue(name: str) -> Any:
    return SimpleNamespace(name=pulumi.Output.from_input(name))


def test_the_stack_dashboard_shows_each_composed_component_and_belongs_to_the_indexer() -> None:
    def program() -> None:
        alarm = SimpleNamespace(arn=pulumi.Output.from_input("arn:alarm:dlq"))
        indexer = _Component(
            "indexer",
            function_name=pulumi.Output.from_input("idx"),
            queue=SimpleNamespace(queue=_queue("in-q"), dead_letter_queue=_queue("in-dlq")),
            alarms={"dlq-not-empty": alarm},
        )
        qualifier = _Component(
            "qualifier", function_name=pulumi.Output.from_input("bq"), tag_events_queue=None, alarms={}
        )
        pulumi.export("url", stack_dashboard("NS", qualifier=qualifier, indexer=indexer).url)

    run = run_pulumi(program, stack="dev")
    recorded = run.one("aws:cloudwatch/dashboard:Dashboard")
    assert recorded.name == "indexer-operations-dashboard"
    assert run.parents[recorded.name] == "indexer"
    body = json.loads(recorded.inputs["dashboardBody"])
    assert {m[3] for m in _metrics(body) if m[0] == "AWS/SQS"} == {"in-q", "in-dlq"}
    assert {m[3] for m in _metrics(body) if m[0] == "AWS/Lambda"} == {"idx", "bq"}
    assert next(w for w in body["widgets"] if w["type"] == "alarm")["properties"]["alarms"] == [
        "arn:alarm:dlq"
    ]
    searches = sorted(m[0]["expression"] for m in _metrics(body) if isinstance(m[0], dict))
    assert searches == [
        "SEARCH('{NS,service} service=\"batch_qualifier\"', 'Sum', 60)",
        "SEARCH('{NS,service} service=\"throttled_indexer\"', 'Sum', 60)",
    ]
    assert run.exports["url"] == console_url(REGION, "bulk-loader-dev")


def test_a_qualifier_only_stack_dashboard_belongs_to_the_qualifier() -> None:
    def program() -> None:
        qualifier = _Component(
            "qualifier", function_name=pulumi.Output.from_input("bq"), tag_events_queue=None, alarms={}
        )
        stack_dashboard("NS", qualifier=qualifier)

    run = run_pulumi(program)
    recorded = run.one("aws:cloudwatch/dashboard:Dashboard")
    assert (recorded.name, run.parents[recorded.name]) == ("qualifier-operations-dashboard", "qualifier")
    body = json.loads(recorded.inputs["dashboardBody"])
    assert not [m for m in _metrics(body) if m[0] == "AWS/SQS"]
    assert all(w["type"] != "alarm" for w in body["widgets"])


def test_the_qualifiers_tag_events_dlq_sits_with_the_other_given_up_queues_and_its_alarm_is_shown() -> None:
    def program() -> None:
        qualifier = _Component(
            "qualifier",
            function_name=pulumi.Output.from_input("bq"),
            tag_events_queue=SimpleNamespace(queue=_queue("tags-q"), dead_letter_queue=_queue("tags-dlq")),
            alarms={
                "tag-events-dlq-not-empty": SimpleNamespace(arn=pulumi.Output.from_input("arn:alarm:tags"))
            },
        )
        stack_dashboard("NS", qualifier=qualifier)

    run = run_pulumi(program)
    body = json.loads(run.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])
    given_up = next(w for w in body["widgets"] if w["properties"].get("title", "").startswith("Given up"))
    assert [(m[1], m[3], m[4]["label"]) for m in given_up["properties"]["metrics"]] == [
        ("ApproximateNumberOfMessagesVisible", "tags-dlq", "tag-events DLQ")
    ]
    assert next(w for w in body["widgets"] if w["type"] == "alarm")["properties"]["alarms"] == [
        "arn:alarm:tags"
    ]
