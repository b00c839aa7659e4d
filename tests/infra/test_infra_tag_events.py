"""Tag changes as events (issue 15): the BatchQualifier's EventBridge rule for the image bucket's tag events,
its queue (encrypted, DLQ, only that rule may send) and the qualifier consuming it with least privilege."""

from __future__ import annotations

import json

from infra_harness import ACCOUNT, component_args, run_main, run_pulumi, stack_config, statement
from test_infra_batch_qualifier import BASE

from components import BatchQualifier, BatchQualifierArgs


def _build(**changes):
    args = component_args(BatchQualifierArgs, **{**BASE, **changes})
    return run_pulumi(lambda: BatchQualifier("bq", args), stack="unit")


def test_the_rule_matches_only_tag_events_of_the_image_bucket():
    run = _build()
    rule = run.named("bq-tag-changes")
    assert json.loads(rule.inputs["eventPattern"]) == {
        "source": ["aws.s3"],
        "detail-type": ["Object Tags Added", "Object Tags Deleted"],
        "detail": {"bucket": {"name": ["photos"]}},
    }
    target = run.named("bq-tag-events-target")
    tag_queue = run.named("bq-tag-events")
    assert target.inputs["rule"] == rule.outputs["name"]
    assert target.inputs["arn"] == tag_queue.outputs["arn"]
    assert "bq-tag-events-policy" in run.depends_on["bq-tag-events-target"]


def test_only_the_rule_may_send_and_the_queue_has_a_dlq():
    run = _build()
    tag_queue = run.named("bq-tag-events")
    redrive = json.loads(tag_queue.inputs["redrivePolicy"])
    assert redrive["maxReceiveCount"] == 5
    dlq = next(
        r for r in run.of_type("aws:sqs/queue:Queue") if r.outputs["arn"] == redrive["deadLetterTargetArn"]
    )
    assert dlq.name.startswith("bq-tag-events")
    # Lambda's guidance for SQS sources: visibility at least 6x the function's timeout (60 s by default).
    assert tag_queue.inputs["visibilityTimeoutSeconds"] == 360
    grant = statement(run.named("bq-tag-events-policy"), "AllowTagEventsRule")
    assert grant["Principal"] == {"Service": "events.amazonaws.com"} and grant["Action"] == [
        "sqs:SendMessage"
    ]
    assert grant["Condition"]["ArnLike"] == {"aws:SourceArn": run.named("bq-tag-changes").outputs["arn"]}
    assert grant["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}


def test_the_qualifier_consumes_it_with_partial_failures_and_least_privilege():
    run = _build()
    tag_queue = run.named("bq-tag-events")
    mapping = run.named("bq-tag-events-mapping")
    assert mapping.inputs["eventSourceArn"] == tag_queue.outputs["arn"]
    assert mapping.inputs["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping.inputs["batchSize"] == 10 and mapping.inputs["scalingConfig"] == {"maximumConcurrency": 2}
    assert "bq-function-policy" in run.depends_on["bq-tag-events-mapping"]
    consume = statement(run.named("bq-function-policy"), "ConsumeTagEvents")
    assert consume["Action"] == [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
    ]
    assert consume["Resource"] in (tag_queue.outputs["arn"], [tag_queue.outputs["arn"]])


def test_its_dlq_alarms_as_soon_as_it_holds_a_message_and_notifies_the_given_actions():
    run = _build(alarm_actions=("arn:aws:sns:eu-west-1:123456789012:ops",))
    tag_queue = run.named("bq-tag-events")
    dlq_arn = json.loads(tag_queue.inputs["redrivePolicy"])["deadLetterTargetArn"]
    dlq = next(r for r in run.of_type("aws:sqs/queue:Queue") if r.outputs["arn"] == dlq_arn)
    alarm = run.named("bq-tag-events-dlq-not-empty")
    assert alarm.inputs["namespace"] == "AWS/SQS"
    assert alarm.inputs["metricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm.inputs["dimensions"] == {"QueueName": dlq.outputs["name"]}
    assert (alarm.inputs["comparisonOperator"], alarm.inputs["threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm.inputs["alarmActions"] == ["arn:aws:sns:eu-west-1:123456789012:ops"]
    assert alarm.inputs["okActions"] == alarm.inputs["alarmActions"]


def test_switched_off_there_is_no_route():
    run = _build(tag_events=False)
    assert not [r for r in run.resources if "tag-" in r.name]
    assert "ConsumeTagEvents" not in json.dumps(run.named("bq-function-policy").inputs["policy"])


def test_a_stack_that_creates_the_bucket_turns_on_its_eventbridge_delivery_for_tag_events_alone():
    config = stack_config("dev")
    config["bulk-loader:throttledIndexer"] = {**config["bulk-loader:throttledIndexer"], "deleteEvents": False}
    run = run_main(config, stack="dev")
    notifications = [
        r for r in run.of_type("aws:s3/bucketNotification:BucketNotification") if r.inputs.get("eventbridge")
    ]
    assert len(notifications) == 1
    assert run.named("qualifier-tag-changes").inputs["eventPattern"]
