"""SNS topics and subscriptions, SQS queues, EventBridge rules and targets, secrets and KMS keys."""

from __future__ import annotations

from typing import Any

from offline.deployment.resources import (
    CreateContext,
    CreatorError,
    autoname,
    creates,
    first,
    json_text,
    to_int,
)


@creates("aws:sns/topic:Topic")
def topic(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    fifo = bool(inputs.get("fifoTopic"))
    topic_name = inputs.get("name") or autoname(
        inputs.get("namePrefix") or name, 256, suffix=".fifo" if fifo else ""
    )
    attributes: dict[str, str] = {}
    for key, attr in (
        ("kmsMasterKeyId", "KmsMasterKeyId"),
        ("policy", "Policy"),
        ("deliveryPolicy", "DeliveryPolicy"),
        ("displayName", "DisplayName"),
    ):
        if inputs.get(key):
            attributes[attr] = json_text(inputs[key]) if key in ("policy", "deliveryPolicy") else inputs[key]
    if fifo:
        attributes["FifoTopic"] = "true"
    arn = ctx.client("sns").create_topic(Name=topic_name, Attributes=attributes)["TopicArn"]
    return arn, {**inputs, "name": topic_name, "arn": arn, "owner": ctx.account_id}


@creates("aws:sns/topicPolicy:TopicPolicy")
def topic_policy(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if ctx.find("sns/topicPolicy:TopicPolicy", arn=inputs["arn"]):
        ctx.warnings.append(f"topic {inputs['arn']}: a second TopicPolicy ({name}) replaces the first")
    ctx.client("sns").set_topic_attributes(
        TopicArn=inputs["arn"], AttributeName="Policy", AttributeValue=json_text(inputs["policy"])
    )
    return inputs["arn"], {**inputs, "owner": ctx.account_id}


@creates("aws:sns/topicSubscription:TopicSubscription")
def subscription(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    attributes: dict[str, str] = {}
    if inputs.get("rawMessageDelivery"):
        attributes["RawMessageDelivery"] = "true"
    if inputs.get("filterPolicy"):
        attributes["FilterPolicy"] = json_text(inputs["filterPolicy"])
    if inputs.get("redrivePolicy"):
        attributes["RedrivePolicy"] = json_text(inputs["redrivePolicy"])
    arn = ctx.client("sns").subscribe(
        TopicArn=inputs["topic"],
        Protocol=inputs["protocol"],
        Endpoint=inputs["endpoint"],
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return arn, {**inputs, "arn": arn, "ownerId": ctx.account_id}


_QUEUE_ATTRIBUTES = {
    "visibilityTimeoutSeconds": "VisibilityTimeout",
    "messageRetentionSeconds": "MessageRetentionPeriod",
    "delaySeconds": "DelaySeconds",
    "maxMessageSize": "MaximumMessageSize",
    "receiveWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
    "kmsMasterKeyId": "KmsMasterKeyId",
    "kmsDataKeyReusePeriodSeconds": "KmsDataKeyReusePeriodSeconds",
}


@creates("aws:sqs/queue:Queue")
def queue(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    fifo = bool(inputs.get("fifoQueue"))
    queue_name = inputs.get("name") or autoname(
        inputs.get("namePrefix") or name, 80, suffix=".fifo" if fifo else ""
    )
    attributes: dict[str, str] = {}
    for key, attr in _QUEUE_ATTRIBUTES.items():
        if inputs.get(key) is not None:
            value = inputs[key]
            attributes[attr] = str(to_int(value)) if isinstance(value, float) else str(value)
    if inputs.get("sqsManagedSseEnabled") is not None:
        attributes["SqsManagedSseEnabled"] = "true" if inputs["sqsManagedSseEnabled"] else "false"
    if inputs.get("redrivePolicy"):
        attributes["RedrivePolicy"] = json_text(inputs["redrivePolicy"])
    if inputs.get("redriveAllowPolicy"):
        attributes["RedriveAllowPolicy"] = json_text(inputs["redriveAllowPolicy"])
    if inputs.get("policy"):
        attributes["Policy"] = json_text(inputs["policy"])
    if fifo:
        attributes["FifoQueue"] = "true"
        if inputs.get("contentBasedDeduplication"):
            attributes["ContentBasedDeduplication"] = "true"
    sqs = ctx.client("sqs")
    url = sqs.create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"]
    arn = ctx.arn("sqs", queue_name)
    return url, {**inputs, "name": queue_name, "url": url, "arn": arn}


@creates("aws:sqs/queuePolicy:QueuePolicy")
def queue_policy(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if ctx.find("sqs/queuePolicy:QueuePolicy", queueUrl=inputs["queueUrl"]):
        ctx.warnings.append(f"queue {inputs['queueUrl']}: a second QueuePolicy ({name}) replaces the first")
    ctx.client("sqs").set_queue_attributes(
        QueueUrl=inputs["queueUrl"], Attributes={"Policy": json_text(inputs["policy"])}
    )
    return inputs["queueUrl"], dict(inputs)


@creates("aws:sqs/redrivePolicy:RedrivePolicy")
def redrive_policy(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ctx.client("sqs").set_queue_attributes(
        QueueUrl=inputs["queueUrl"], Attributes={"RedrivePolicy": json_text(inputs["redrivePolicy"])}
    )
    return inputs["queueUrl"], dict(inputs)


@creates("aws:sqs/redriveAllowPolicy:RedriveAllowPolicy")
def redrive_allow_policy(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ctx.client("sqs").set_queue_attributes(
        QueueUrl=inputs["queueUrl"],
        Attributes={"RedriveAllowPolicy": json_text(inputs["redriveAllowPolicy"])},
    )
    return inputs["queueUrl"], dict(inputs)


@creates("aws:cloudwatch/eventRule:EventRule")
def event_rule(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    rule_name = inputs.get("name") or autoname(inputs.get("namePrefix") or name, 64)
    bus = inputs.get("eventBusName") or "default"
    kwargs: dict[str, Any] = {"Name": rule_name, "EventBusName": bus}
    if inputs.get("eventPattern"):
        kwargs["EventPattern"] = json_text(inputs["eventPattern"])
    if inputs.get("scheduleExpression"):
        kwargs["ScheduleExpression"] = inputs["scheduleExpression"]
    if inputs.get("description"):
        kwargs["Description"] = inputs["description"]
    state = inputs.get("state") or ("DISABLED" if inputs.get("isEnabled") is False else "ENABLED")
    kwargs["State"] = "ENABLED" if state.startswith("ENABLED") else "DISABLED"
    if inputs.get("roleArn"):
        kwargs["RoleArn"] = inputs["roleArn"]
    arn = ctx.client("events").put_rule(**kwargs)["RuleArn"]
    rule_id = rule_name if bus == "default" else f"{bus}/{rule_name}"
    return rule_id, {**inputs, "name": rule_name, "arn": arn, "eventBusName": bus}


@creates("aws:cloudwatch/eventTarget:EventTarget")
def event_target(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    target_id = inputs.get("targetId") or autoname(name, 64)
    target: dict[str, Any] = {"Id": target_id, "Arn": inputs["arn"]}
    if inputs.get("roleArn"):
        target["RoleArn"] = inputs["roleArn"]
    if inputs.get("input"):
        target["Input"] = inputs["input"]
    if inputs.get("inputPath"):
        target["InputPath"] = inputs["inputPath"]
    transformer = first(inputs.get("inputTransformer"))
    if transformer:
        target["InputTransformer"] = {
            "InputTemplate": transformer["inputTemplate"],
            "InputPathsMap": transformer.get("inputPaths") or {},
        }
    sqs_target = first(inputs.get("sqsTarget"))
    if sqs_target and sqs_target.get("messageGroupId"):
        target["SqsParameters"] = {"MessageGroupId": sqs_target["messageGroupId"]}
    dead_letter = first(inputs.get("deadLetterConfig"))
    if dead_letter and dead_letter.get("arn"):
        target["DeadLetterConfig"] = {"Arn": dead_letter["arn"]}
    retry = first(inputs.get("retryPolicy"))
    if retry:
        target["RetryPolicy"] = {
            k: v
            for k, v in {
                "MaximumRetryAttempts": to_int(retry.get("maximumRetryAttempts")),
                "MaximumEventAgeInSeconds": to_int(retry.get("maximumEventAgeInSeconds")),
            }.items()
            if v is not None
        }
    bus = inputs.get("eventBusName") or "default"
    result = ctx.client("events").put_targets(Rule=inputs["rule"], EventBusName=bus, Targets=[target])
    if result.get("FailedEntryCount"):
        raise CreatorError(f"EventTarget {name}: {result['FailedEntries']}")
    return f"{inputs['rule']}-{target_id}", {**inputs, "targetId": target_id, "eventBusName": bus}


@creates("aws:secretsmanager/secret:Secret")
def secret(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    secret_name = inputs.get("name") or autoname(inputs.get("namePrefix") or name, 512)
    kwargs: dict[str, Any] = {"Name": secret_name}
    if inputs.get("kmsKeyId"):
        kwargs["KmsKeyId"] = inputs["kmsKeyId"]
    if inputs.get("description"):
        kwargs["Description"] = inputs["description"]
    arn = ctx.client("secretsmanager").create_secret(**kwargs)["ARN"]
    return arn, {**inputs, "name": secret_name, "arn": arn}


@creates("aws:secretsmanager/secretVersion:SecretVersion")
def secret_version(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    kwargs: dict[str, Any] = {"SecretId": inputs["secretId"]}
    if inputs.get("secretString") is not None:
        kwargs["SecretString"] = inputs["secretString"]
    elif inputs.get("secretBinary") is not None:
        kwargs["SecretBinary"] = inputs["secretBinary"]
    else:
        raise CreatorError(f"SecretVersion {name}: neither secretString nor secretBinary")
    result = ctx.client("secretsmanager").put_secret_value(**kwargs)
    return f"{result['ARN']}|{result['VersionId']}", {
        **inputs,
        "arn": result["ARN"],
        "versionId": result["VersionId"],
    }


@creates("aws:kms/key:Key")
def kms_key(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    kwargs: dict[str, Any] = {}
    if inputs.get("description"):
        kwargs["Description"] = inputs["description"]
    if inputs.get("policy"):
        kwargs["Policy"] = json_text(inputs["policy"])
    kms = ctx.client("kms")
    metadata = kms.create_key(**kwargs)["KeyMetadata"]
    if inputs.get("enableKeyRotation"):
        kms.enable_key_rotation(KeyId=metadata["KeyId"])
    return metadata["KeyId"], {**inputs, "keyId": metadata["KeyId"], "arn": metadata["Arn"]}


@creates("aws:kms/alias:Alias")
def kms_alias(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    alias = inputs.get("name") or f"alias/{autoname(name, 200)}"
    if not alias.startswith("alias/"):
        raise CreatorError(f"KMS alias {name}: name {alias!r} must start with 'alias/'")
    ctx.client("kms").create_alias(AliasName=alias, TargetKeyId=inputs["targetKeyId"])
    return alias, {**inputs, "name": alias, "arn": ctx.arn("kms", alias)}
