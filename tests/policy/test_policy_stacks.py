"""Every stack file's resources, as the program registers them under the mocks, pass every rule."""

from __future__ import annotations

import pytest
from bulk_loader_policy import RULES
from recorded import STACKS, stack_resources

RULE_NAMES = [rule.name for rule in RULES]


def test_there_is_a_stack_file_and_the_pack_has_its_rules():
    assert STACKS, "no Pulumi.<stack>.yaml found"
    assert len(set(RULE_NAMES)) == len(RULE_NAMES), "rule names must be unique"
    assert all(rule.level in ("mandatory", "advisory") for rule in RULES)


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("rule", RULES, ids=RULE_NAMES)
def test_the_stack_passes_the_rule(stack, rule):
    violations = rule.violations(stack_resources(stack))
    assert not violations, "\n".join(v.message for v in violations)


@pytest.mark.parametrize("stack", STACKS)
def test_the_references_the_stack_rules_join_on_are_recovered(stack):
    """The stack rules see a stack only through references: without them every join would come up empty and
    e.g. the 6x visibility rule would pass for want of a consumer. Each join the rules make is present."""
    resources = {r.name: r for r in stack_resources(stack)}
    by_type: dict[str, list] = {}
    for resource in resources.values():
        by_type.setdefault(resource.type, []).append(resource)

    def joined(typ: str, prop: str, target_type: str) -> bool:
        return all(
            any(resources[name].type == target_type for name in r.refs.get(prop, ())) for r in by_type[typ]
        )

    assert joined("aws:lambda/eventSourceMapping:EventSourceMapping", "eventSourceArn", "aws:sqs/queue:Queue")
    assert joined(
        "aws:lambda/eventSourceMapping:EventSourceMapping", "functionName", "aws:lambda/function:Function"
    )
    assert joined("aws:s3/bucketPolicy:BucketPolicy", "bucket", "aws:s3/bucket:Bucket")
    assert joined("aws:sqs/queuePolicy:QueuePolicy", "queueUrl", "aws:sqs/queue:Queue")
    assert joined("aws:sns/topicPolicy:TopicPolicy", "arn", "aws:sns/topic:Topic")
    assert joined("aws:lambda/function:Function", "loggingConfig", "aws:cloudwatch/logGroup:LogGroup")
    assert joined("aws:iam/rolePolicy:RolePolicy", "role", "aws:iam/role:Role")
