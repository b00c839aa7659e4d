"""S3 tag events on EventBridge (issue 15): "Object Tags Added" / "Object Tags Deleted" for PutObjectTagging /
DeleteObjectTagging only, shaped like AWS's example, delivered to a rule's queue under its resource policy."""

from __future__ import annotations

import json

from offline.runtime import OfflineRuntime
from tests.offline.conftest import wait_for


def _tag_queue(runtime: OfflineRuntime) -> str:
    """A rule for the image bucket's tag events and a queue that only this rule may send to."""
    images = runtime.deployment.outputs["image_bucket"]
    events, sqs = runtime.client("events"), runtime.client("sqs")
    rule_arn = events.put_rule(
        Name="tag-events-test",
        EventPattern=json.dumps(
            {
                "source": ["aws.s3"],
                "detail-type": ["Object Tags Added", "Object Tags Deleted"],
                "detail": {"bucket": {"name": [images]}},
            }
        ),
    )["RuleArn"]
    url = sqs.create_queue(QueueName="tag-events-test")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    events.put_targets(Rule="tag-events-test", Targets=[{"Id": "queue", "Arn": arn}])
    return url


def _received(runtime: OfflineRuntime, url: str, expected: int) -> list[dict]:
    got: list[dict] = []

    def enough():
        response = runtime.client("sqs").receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        got.extend(json.loads(m["Body"]) for m in response.get("Messages", []))
        return len(got) >= expected

    wait_for(enough, what=f"{expected} tag events")
    return got


def test_tagging_calls_send_tag_events_and_a_tagged_put_does_not(tiny: OfflineRuntime):
    images = tiny.deployment.outputs["image_bucket"]
    s3 = tiny.client("s3")
    url = _tag_queue(tiny)
    # S3 sends "Object Created" for a PutObject with tags, no tag event (moto stores them the tagging way).
    s3.put_object(Bucket=images, Key="users/tagged at put.png", Body=b"x", Tagging="UserId=u1")
    version = s3.put_object(Bucket=images, Key="users/later tagged.png", Body=b"y")["VersionId"]
    s3.put_object_tagging(
        Bucket=images, Key="users/later tagged.png", Tagging={"TagSet": [{"Key": "UserId", "Value": "u2"}]}
    )
    s3.delete_object_tagging(Bucket=images, Key="users/later tagged.png")
    added, deleted = sorted(_received(tiny, url, 2), key=lambda e: e["detail-type"])
    tiny.run_until_idle(20)
    on_bus = list(tiny.events.stats.eventbridge_recent)
    tag_events = [e for e in on_bus if e["detail-type"].startswith("Object Tags")]
    assert [(e["detail-type"], e["key"]) for e in tag_events] == [
        ("Object Tags Added", "users/later tagged.png"),
        ("Object Tags Deleted", "users/later tagged.png"),
    ]
    assert (added["detail-type"], deleted["detail-type"]) == ("Object Tags Added", "Object Tags Deleted")
    assert added["source"] == "aws.s3" and added["resources"] == [f"arn:aws:s3:::{images}"]
    detail = added["detail"]
    assert detail["bucket"] == {"name": images}
    assert detail["object"]["key"] == "users/later tagged.png" and detail["object"]["version-id"] == version
    assert detail["object"]["etag"] and "size" not in detail["object"] and "sequencer" not in detail["object"]
    assert {"request-id", "requester", "source-ip-address"} <= set(detail)
