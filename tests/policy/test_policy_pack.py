"""The policy pack as the Pulumi CLI runs it: `python -m pulumi.policy <engine> policy/` serves CrossGuard's
analyzer over gRPC on 127.0.0.1; these tests talk to it the way the engine does (GetAnalyzerInfo, Analyze per
resource, AnalyzeStack with property dependencies), with no CLI."""

from __future__ import annotations

import json
import select
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from bulk_loader_policy import RULES, Resource
from google.protobuf import empty_pb2, struct_pb2
from infra_harness import REPO
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE
from recorded import stack_resources

LEVELS = {"mandatory": analyzer_pb2.MANDATORY, "advisory": analyzer_pb2.ADVISORY}
START_TIMEOUT_SECONDS = 30
CALL_TIMEOUT_SECONDS = 20


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", str(REPO / "policy")],
        cwd=REPO / "policy",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_SECONDS)
        line = process.stdout.readline() if ready else ""  # type: ignore[union-attr]
        if not line.strip().isdigit():
            process.kill()
            _, err = process.communicate(timeout=10)
            pytest.fail(f"the policy pack did not start (stdout {line!r}):\n{err}")
        with grpc.insecure_channel(f"127.0.0.1:{line.strip()}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.kill()
        process.wait(timeout=10)


def _urn(resource: Resource) -> str:
    return f"urn:pulumi:test::bulk-loader::{resource.type}::{resource.name}"


def _struct(props: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    # What the engine sends: JSON values (numbers as floats); archives/assets as their serialised dicts.
    message.update(json.loads(json.dumps(props, default=str)))
    return message


def _analyze(analyzer, resource: Resource) -> list[analyzer_pb2.AnalyzeDiagnostic]:
    request = analyzer_pb2.AnalyzeRequest(
        type=resource.type, name=resource.name, urn=_urn(resource), properties=_struct(dict(resource.props))
    )
    return list(analyzer.Analyze(request, timeout=CALL_TIMEOUT_SECONDS).diagnostics)


def _analyze_stack(analyzer, resources: list[Resource]) -> list[analyzer_pb2.AnalyzeDiagnostic]:
    urns = {r.key: _urn(r) for r in resources}
    request = analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                type=r.type,
                name=r.name,
                urn=urns[r.key],
                properties=_struct(dict(r.props)),
                propertyDependencies={
                    prop: analyzer_pb2.AnalyzerPropertyDependencies(urns=[urns[k] for k in keys if k in urns])
                    for prop, keys in r.refs.items()
                },
            )
            for r in resources
        ]
    )
    return list(analyzer.AnalyzeStack(request, timeout=CALL_TIMEOUT_SECONDS).diagnostics)


def _with(resources: list[Resource], name: str, **props: Any) -> list[Resource]:
    return [
        Resource(r.type, r.name, {**r.props, **props}, key=r.key, refs=r.refs) if r.name == name else r
        for r in resources
    ]


def test_every_rule_is_registered_with_its_level_and_kind(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=CALL_TIMEOUT_SECONDS)
    assert info.name == "bulk-loader"
    registered = {p.name: (p.enforcementLevel, p.policy_type, p.description) for p in info.policies}
    assert registered == {
        rule.name: (
            LEVELS[rule.level],
            analyzer_pb2.POLICY_TYPE_RESOURCE if rule.resource_check else analyzer_pb2.POLICY_TYPE_STACK,
            rule.description,
        )
        for rule in RULES
    }


def test_the_dev_stack_passes_every_resource_and_stack_policy(analyzer):
    resources = list(stack_resources("dev"))
    for resource in resources:
        assert _analyze(analyzer, resource) == [], resource.name
    assert _analyze_stack(analyzer, resources) == []


def test_a_resource_violation_is_mandatory_and_names_the_resource(analyzer):
    (queue,) = [r for r in stack_resources("dev") if r.name == "indexer-queue"]
    broken = Resource(
        queue.type, queue.name, {k: v for k, v in queue.props.items() if k != "sqsManagedSseEnabled"}
    )
    (diagnostic,) = _analyze(analyzer, broken)
    assert diagnostic.policyName == "encryption-at-rest"
    assert diagnostic.enforcementLevel == analyzer_pb2.MANDATORY
    assert "Queue 'indexer-queue' is not encrypted at rest" in diagnostic.message


def test_a_stack_violation_joins_through_property_dependencies(analyzer):
    """The 6x visibility rule finds the queue's consumer only through the mapping's property dependencies."""
    resources = _with(list(stack_resources("dev")), "indexer-queue", visibilityTimeoutSeconds=300)
    (diagnostic,) = _analyze_stack(analyzer, resources)
    assert diagnostic.policyName == "queue-visibility-covers-consumer"
    assert diagnostic.enforcementLevel == analyzer_pb2.MANDATORY
    assert diagnostic.urn.endswith("::indexer-queue")
    assert "below 6x the timeout of its consumer Function 'indexer-function' (60 s)" in diagnostic.message


def test_advisory_rules_report_as_advisory(analyzer):
    (function,) = [r for r in stack_resources("dev") if r.name == "indexer-function"]
    broken = Resource(
        function.type, function.name, {**function.props, "tracingConfig": {"mode": "PassThrough"}}
    )
    (diagnostic,) = _analyze(analyzer, broken)
    assert (diagnostic.policyName, diagnostic.enforcementLevel) == ("function-tracing", analyzer_pb2.ADVISORY)


def test_unknown_values_in_a_preview_skip_only_what_they_hide(analyzer):
    """In a preview, values computed from resources still to be created are unknown. A stack rule still runs
    on everything else: here the queue's redrive policy and visibility and one public access setting are
    unknown (not reported), while a bucket without its public access block is (the same rule)."""
    resources = _with(
        list(stack_resources("dev")),
        "indexer-queue",
        redrivePolicy=UNKNOWN_STRING_VALUE,
        visibilityTimeoutSeconds=UNKNOWN_NUMBER_VALUE,
    )
    resources = _with(
        resources, "inventory-inventory-public-access", restrictPublicBuckets=UNKNOWN_BOOLEAN_VALUE
    )
    resources = [r for r in resources if r.name != "inventory-images-public-access"]
    diagnostics = _analyze_stack(analyzer, resources)
    assert [(d.policyName, d.urn.rsplit("::", 1)[-1]) for d in diagnostics] == [
        ("s3-public-access-blocked", "inventory-images")
    ]
    assert not [d for d in diagnostics if "can't run policy" in d.message]
