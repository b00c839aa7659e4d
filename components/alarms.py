"""CloudWatch alarms of the components, and the encrypted topic they notify when no actions are given.

One builder (`metric_alarm`) carries the alarm defaults of defaults.py; the others name the metric.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from . import defaults
from .builders import SecureTopic, secure_topic
from .names import AwsContext


def metric_alarm(
    name: str,
    parent: pulumi.Resource,
    description: str,
    *,
    namespace: str,
    metric_name: str,
    dimensions: dict[str, pulumi.Input[str]],
    statistic: str,
    actions: list[pulumi.Input[str]],
    threshold: float = 0,
    comparison_operator: str = "GreaterThanThreshold",
    notify_ok: bool = True,
) -> aws.cloudwatch.MetricAlarm:
    """A 5-minute, single-period alarm; no data is not a breach (an idle pipeline is healthy)."""
    return aws.cloudwatch.MetricAlarm(
        name,
        alarm_description=description,
        namespace=namespace,
        metric_name=metric_name,
        dimensions=dimensions,
        statistic=statistic,
        period=defaults.ALARM_PERIOD_SECONDS,
        evaluation_periods=defaults.ALARM_EVALUATION_PERIODS,
        threshold=threshold,
        comparison_operator=comparison_operator,
        treat_missing_data=defaults.ALARM_MISSING_DATA,
        alarm_actions=actions,
        ok_actions=actions if notify_ok else None,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def queue_alarm(
    name: str,
    parent: pulumi.Resource,
    queue: aws.sqs.Queue,
    actions: list[pulumi.Input[str]],
    description: str,
    *,
    metric_name: str,
    threshold: float = 0,
    comparison_operator: str = "GreaterThanThreshold",
) -> aws.cloudwatch.MetricAlarm:
    """An alarm on the maximum of one of a queue's AWS/SQS metrics."""
    return metric_alarm(
        name,
        parent,
        description,
        namespace="AWS/SQS",
        metric_name=metric_name,
        dimensions={"QueueName": queue.name},
        statistic="Maximum",
        threshold=threshold,
        comparison_operator=comparison_operator,
        actions=actions,
    )


def queue_not_empty_alarm(
    name: str,
    parent: pulumi.Resource,
    queue: aws.sqs.Queue,
    actions: list[pulumi.Input[str]],
    description: str,
) -> aws.cloudwatch.MetricAlarm:
    """Alarm as soon as a (dead-letter / failure) queue holds a message."""
    return queue_alarm(
        name, parent, queue, actions, description, metric_name="ApproximateNumberOfMessagesVisible"
    )


def oldest_message_alarm(
    name: str,
    parent: pulumi.Resource,
    queue: aws.sqs.Queue,
    actions: list[pulumi.Input[str]],
    description: str,
    *,
    threshold_seconds: int,
) -> aws.cloudwatch.MetricAlarm:
    """Alarm when a queue's oldest message is `threshold_seconds` old: the queue is not draining."""
    return queue_alarm(
        name,
        parent,
        queue,
        actions,
        description,
        metric_name="ApproximateAgeOfOldestMessage",
        threshold=threshold_seconds,
        comparison_operator="GreaterThanOrEqualToThreshold",
    )


def function_errors_alarm(
    name: str, parent: pulumi.Resource, function: aws.lambda_.Function, actions: list[pulumi.Input[str]]
) -> aws.cloudwatch.MetricAlarm:
    """Alarm when a function reports errors (unhandled exceptions, timeouts)."""
    return metric_alarm(
        name,
        parent,
        "The function failed (errors or timeouts)",
        namespace="AWS/Lambda",
        metric_name="Errors",
        dimensions={"FunctionName": function.name},
        statistic="Sum",
        actions=actions,
        notify_ok=False,
    )


def alarm_topic(
    name: str, parent: pulumi.Resource, ctx: AwsContext, *, topic_name: str | None = None
) -> SecureTopic:
    """An encrypted topic that CloudWatch alarms of this account may publish to (key and topic policy)."""
    alarm_source = ctx.arn("cloudwatch", "alarm:*")
    return secure_topic(
        name,
        parent,
        ctx,
        publisher_service="cloudwatch.amazonaws.com",
        publisher_source_arns=[alarm_source],
        publisher_sid="AllowCloudWatchAlarms",
        topic_name=topic_name,
    )
