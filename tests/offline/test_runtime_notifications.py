"""Event delivery: S3 notification -> SNS -> Lambda, EventBridge deletion rules, resource-policy checks."""

from __future__ import annotations

import json
from urllib.parse import unquote_plus

from handlers.common.history import pad_sequencer
from offline.runtime import OfflineRuntime
from tests.offline.conftest import wait_for


def _sns_records(runtime: OfflineRuntime) -> list[dict]:
    items = runtime.client("dynamodb").scan(TableName=runtime.deployment.outputs["table"])["Items"]
    records = [json.loads(i["record"]["S"]) for i in items]
    return [r for r in records if r.get("EventSource") == "aws:sns"]


def test_manifest_checksum_reaches_the_function_through_sns(tiny: OfflineRuntime):
    inventory = tiny.deployment.outputs["inventory_bucket"]
    s3 = tiny.client("s3")
    key = "inventory/images/daily/2026-11-21T00-00Z/a b+c é/manifest.checksum"
    s3.put_object(Bucket=inventory, Key=key, Body=b"d41d8cd98f00b204e9800998ecf8427e")
    s3.put_object(Bucket=inventory, Key="inventory/images/daily/2026-11-21T00-00Z/manifest.json", Body=b"{}")
    [record] = wait_for(lambda: _sns_records(tiny), what="the SNS record in the function")
    assert record["Sns"]["TopicArn"] == tiny.deployment.outputs["topic_arn"]
    assert record["EventSubscriptionArn"].startswith(tiny.deployment.outputs["topic_arn"] + ":")
    event = json.loads(record["Sns"]["Message"])
    [s3_record] = event["Records"]
    assert s3_record["eventSource"] == "aws:s3" and s3_record["eventName"] == "ObjectCreated:Put"
    assert s3_record["s3"]["bucket"]["name"] == inventory
    encoded = s3_record["s3"]["object"]["key"]
    assert "+" in encoded and " " not in encoded and unquote_plus(encoded) == key  # S3's quote_plus encoding
    assert s3_record["s3"]["object"]["size"] == 32 and s3_record["s3"]["object"]["sequencer"]
    tiny.run_until_idle(20)
    # manifest.json does not match the suffix filter: one delivery only.
    assert len(_sns_records(tiny)) == 1
    assert tiny.stats()["deliveries"]["sns_to_lambda"] == 1


def _deletion_events(runtime: OfflineRuntime, expected: int) -> list[dict]:
    sqs = runtime.client("sqs")
    events: list[dict] = []

    def enough():
        for message in sqs.receive_message(
            QueueUrl=runtime.deployment.outputs["deletions_url"], MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", []):
            events.append(json.loads(message["Body"]))
        return len(events) >= expected

    wait_for(enough, what=f"{expected} EventBridge deletion events")
    return events


def test_deletions_reach_the_queue_through_the_eventbridge_rule(tiny: OfflineRuntime):
    images = tiny.deployment.outputs["image_bucket"]
    s3 = tiny.client("s3")
    first = s3.put_object(Bucket=images, Key="users/u 1.png", Body=b"one")["VersionId"]
    s3.put_object(Bucket=images, Key="users/u2.png", Body=b"two")
    marker = s3.delete_object(Bucket=images, Key="users/u 1.png")["VersionId"]  # versioned: a delete marker
    s3.delete_object(Bucket=images, Key="users/u 1.png", VersionId=first)
    s3.delete_object(Bucket=images, Key="users/u 1.png", VersionId=marker)  # the last version: removed
    events = _deletion_events(tiny, 2)
    # "Object Created" events exist too, but the rule matches only deletions of this bucket.
    assert {e["detail-type"] for e in events} == {"Object Deleted"}
    by_type = {e["detail"]["deletion-type"]: e for e in events}
    assert set(by_type) == {"Delete Marker Created", "Permanently Deleted"}
    created = by_type["Delete Marker Created"]
    assert created["source"] == "aws.s3" and created["resources"] == [f"arn:aws:s3:::{images}"]
    assert created["detail"]["bucket"]["name"] == images
    assert created["detail"]["object"]["key"] == "users/u 1.png"  # the emulator's default: keys as given
    assert created["detail"]["object"]["version-id"] == marker
    # Sequencers grow under S3's rule (right-pad, then compare), so consumers can order events of a key.
    assert pad_sequencer(created["detail"]["object"]["sequencer"]) < pad_sequencer(
        by_type["Permanently Deleted"]["detail"]["object"]["sequencer"]
    )


def test_a_queue_policy_without_the_rule_blocks_delivery(tiny: OfflineRuntime):
    sqs = tiny.client("sqs")
    url = tiny.deployment.outputs["deletions_url"]
    original = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    wrong = json.loads(original)
    wrong["Statement"][0]["Condition"] = {
        "ArnEquals": {"aws:SourceArn": "arn:aws:events:us-east-1:123456789012:rule/other"}
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(wrong)})
    try:
        images = tiny.deployment.outputs["image_bucket"]
        tiny.client("s3").put_object(Bucket=images, Key="blocked.png", Body=b"x")
        tiny.client("s3").delete_object(Bucket=images, Key="blocked.png")
        wait_for(
            lambda: any(
                d["action"] == "sqs:SendMessage" and d["resource"].endswith(url.rsplit("/", 1)[1])
                for d in tiny.stats()["access_denied"]
            ),
            what="the denied EventBridge delivery",
        )
        tiny.run_until_idle(10)
        assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    finally:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": original})


def test_a_topic_under_the_aws_managed_key_cannot_receive_s3_events(tiny: OfflineRuntime):
    sns = tiny.client("sns")
    topic = tiny.deployment.outputs["topic_arn"]
    sns.set_topic_attributes(TopicArn=topic, AttributeName="KmsMasterKeyId", AttributeValue="alias/aws/sns")
    try:
        tiny.client("s3").put_object(
            Bucket=tiny.deployment.outputs["inventory_bucket"], Key="inventory/x/manifest.checksum", Body=b"0"
        )
        denial = wait_for(
            lambda: [d for d in tiny.stats()["access_denied"] if d["resource"] == topic],
            what="the KMS denial of the S3 -> SNS delivery",
        )
        assert denial[0]["action"] == "kms:GenerateDataKey (for sns:Publish)"
        assert "alias/aws/sns" in denial[0]["reason"]
    finally:
        sns.set_topic_attributes(TopicArn=topic, AttributeName="KmsMasterKeyId", AttributeValue="")


def test_a_bucket_can_notify_the_function_directly(tiny: OfflineRuntime):
    s3 = tiny.client("s3")
    function_arn = tiny.deployment.outputs["function_arn"]
    s3.create_bucket(Bucket="direct-notify")
    notification = {
        "LambdaFunctionConfigurations": [
            {
                "LambdaFunctionArn": function_arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"}]}},
            }
        ]
    }
    s3.put_bucket_notification_configuration(Bucket="direct-notify", NotificationConfiguration=notification)
    s3.put_object(Bucket="direct-notify", Key="in/no-permission-yet.txt", Body=b"x")
    wait_for(
        lambda: any(
            d["caller"] == "s3.amazonaws.com" and d["resource"] == function_arn
            for d in tiny.stats()["access_denied"]
        ),
        what="the delivery refused without a Lambda permission",
    )
    tiny.client("lambda").add_permission(
        FunctionName=function_arn,
        StatementId="from-direct-notify",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::direct-notify",
    )
    s3.put_object(Bucket="direct-notify", Key="in/a b.txt", Body=b"x")
    s3.put_object(Bucket="direct-notify", Key="out/ignored.txt", Body=b"x")
    tiny.run_until_idle(20)
    items = tiny.client("dynamodb").scan(TableName=tiny.deployment.outputs["table"])["Items"]
    bodies = [i["body"]["S"] for i in items if json.loads(i["record"]["S"]).get("eventSource") == "aws:s3"]
    assert bodies == ["in/a+b.txt"]
