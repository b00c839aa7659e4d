"""Every stack's resources conform to the input types of the installed pulumi-aws, at every depth.

The mocks accept any property name; these tests hold each recorded input against what pulumi-aws declares
(property names, required properties, enum values; see aws_input_types), and show that the check names a
misspelled nested key, a missing required one and a value outside a declared enum.
"""

from __future__ import annotations

import aws_input_types
import pulumi
import pulumi_aws as aws
import pytest
from infra_harness import REPO, Run, run_main, run_pulumi, stack_config

STACKS = sorted(p.name.split(".")[1] for p in REPO.glob("Pulumi.*.yaml"))


def _mismatches(run: Run) -> list[str]:
    return [
        error
        for resource in run.resources
        if aws_input_types.is_aws_resource(resource.typ)
        for error in aws_input_types.check_resource(resource.typ, resource.inputs, resource.name)
    ]


def _record(build) -> Run:
    return run_pulumi(build, stack="unit")


@pytest.fixture(scope="module", params=STACKS)
def stack_run(request) -> tuple[str, Run]:
    return request.param, run_main(stack_config(request.param), request.param)


def test_every_recorded_input_matches_the_pulumi_aws_input_types(stack_run):
    stack, run = stack_run
    aws_resources = [r for r in run.resources if aws_input_types.is_aws_resource(r.typ)]
    assert aws_resources, f"{stack}: the program registered no pulumi-aws resource"
    mismatches = _mismatches(run)
    assert not mismatches, f"Pulumi.{stack}.yaml:\n" + "\n".join(mismatches)


def test_every_resource_outside_pulumi_aws_is_one_of_ours(stack_run):
    """The check skips only this repo's components: an aws type it cannot resolve fails, never passes."""
    _, run = stack_run
    skipped = {r.typ for r in run.resources if not aws_input_types.is_aws_resource(r.typ)}
    assert all(typ.startswith("bulkloader:") for typ in skipped), skipped


def _lifecycle(rule: dict) -> None:
    bucket = aws.s3.Bucket("b")
    aws.s3.BucketLifecycleConfiguration("b-lifecycle", bucket=bucket.id, rules=[rule])


def test_a_correct_nested_block_passes():
    rule = {
        "id": "expire",
        "status": "Enabled",
        "filter": {"prefix": "tmp/"},
        "noncurrent_version_expiration": {"noncurrent_days": 7},
        "expiration": {"days": 30},
    }
    run = _record(lambda: _lifecycle(rule))
    recorded = run.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"][0]
    assert recorded["noncurrentVersionExpiration"] == {"noncurrentDays": 7}  # the SDK translated the names
    assert _mismatches(run) == []


def test_a_misspelled_nested_key_is_named_with_its_path():
    rule = {"id": "expire", "status": "Enabled", "filter": {"prefix": "tmp/"}, "expirationx": {"days": 30}}
    mismatches = _mismatches(_record(lambda: _lifecycle(rule)))
    assert mismatches == [
        "b-lifecycle.rules[0].expirationx: no such property in BucketLifecycleConfigurationRuleArgs"
        " (did you mean 'expiration'?)"
    ]


def test_a_misspelled_key_two_blocks_deep_is_named():
    rule = {"id": "expire", "status": "Enabled", "filter": {"prefix": "tmp/"}, "expiration": {"dayz": 30}}
    mismatches = _mismatches(_record(lambda: _lifecycle(rule)))
    assert mismatches == [
        "b-lifecycle.rules[0].expiration.dayz: no such property in"
        " BucketLifecycleConfigurationRuleExpirationArgs (did you mean 'days'?)"
    ]


def test_a_missing_required_nested_property_is_named():
    mismatches = _mismatches(_record(lambda: _lifecycle({"id": "expire", "expiration": {"days": 30}})))
    assert mismatches == [
        "b-lifecycle.rules[0].status: required by BucketLifecycleConfigurationRuleArgs, missing"
    ]


def test_a_value_outside_a_declared_enum_is_named():
    def build() -> None:
        aws.lambda_.Function(
            "fn",
            role="arn:aws:iam::123456789012:role/r",
            runtime="python3.1",
            handler="app.handler",
            code=pulumi.AssetArchive({}),
        )

    mismatches = _mismatches(_record(build))
    assert len(mismatches) == 1
    assert mismatches[0].startswith("fn.runtime: 'python3.1' is not one of Runtime [")
    assert "'python3.11'" in mismatches[0]
