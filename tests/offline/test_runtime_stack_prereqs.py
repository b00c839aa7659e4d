"""Any stack file runs offline: what it says exists is created first, what it leaves to the owner is done as
the owner would, and a stack the demo cannot run gets a one-line reason and exit status 2."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from moto.s3.models import s3_backends
from moto.sns.models import sns_backends

from components.config import parse_config
from offline.demo import cli as demo
from offline.deployment.program import REPO_ROOT
from offline.deployment.resources import CreateContext
from offline.deployment.stack_prereqs import StackNotRunnable, plan_stack, stack_settings
from offline.gateways.rekognition import EmulatedRekognition
from offline.runtime import OfflineRuntime

PROD_BUCKET = "example-corp-registration-photos"
OPS_TOPIC = "arn:aws:sns:eu-west-1:111122223333:ops-alerts"
REGION = "eu-west-1"


def test_the_plan_follows_each_stack_file():
    prod = plan_stack(stack_settings(REPO_ROOT, "prod"))
    assert prod.buckets == [(PROD_BUCKET, True, "imageBucket.name")]
    assert prod.topics == [OPS_TOPIC] and prod.collection_id is None
    assert prod.owner_enables_eventbridge  # enableBucketEventbridge: false, delete events wanted
    dev = plan_stack(stack_settings(REPO_ROOT, "dev"))
    assert (dev.buckets, dev.topics, dev.owner_enables_eventbridge) == ([], [], False)


def test_existing_resources_are_created_where_the_stack_expects_them(tmp_path):
    settings = parse_config(
        {
            "imageBucket": {"name": PROD_BUCKET, "versioned": True},
            "batchQualifier": {"propertiesBuckets": ["registration-properties"]},
            "throttledIndexer": {"collectionId": "faces-prod", "alarmActions": [OPS_TOPIC]},
        }
    )
    prereqs = plan_stack(settings)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        faces = EmulatedRekognition(s3, region=REGION)
        ctx = CreateContext(
            client=lambda service: boto3.client(service, region_name=REGION),
            account_id="123456789012",
            region=REGION,
            workdir=tmp_path,
            rekognition=lambda action, body: faces.handle(action, body, None),
        )
        lines = prereqs.create(ctx)
        assert len(lines) == 4 and all(line.startswith("pre-created ") for line in lines), lines
        assert s3.get_bucket_location(Bucket=PROD_BUCKET)["LocationConstraint"] == REGION
        assert s3.get_bucket_versioning(Bucket=PROD_BUCKET)["Status"] == "Enabled"
        assert "Status" not in s3.get_bucket_versioning(Bucket="registration-properties")
        assert faces.handle("ListCollections", {}, None)[1]["CollectionIds"] == ["faces-prod"]
        # The ops topic lives in its own account (111122223333), as the ARN says.
        assert OPS_TOPIC in sns_backends["111122223333"][REGION].topics

        # The owner's existing notification configuration stays; EventBridge delivery is added to it.
        queue = boto3.client("sqs", region_name=REGION).create_queue(QueueName="owners-queue")["QueueUrl"]
        queue_arn = f"arn:aws:sqs:{REGION}:123456789012:owners-queue"
        assert queue
        s3.put_bucket_notification_configuration(
            Bucket=PROD_BUCKET,
            NotificationConfiguration={
                "QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]
            },
            SkipDestinationValidation=True,
        )
        [line] = plan_stack(stack_settings(REPO_ROOT, "prod")).owner_steps(s3, PROD_BUCKET)
        assert "EventBridge" in line
        config = s3.get_bucket_notification_configuration(Bucket=PROD_BUCKET)
        assert [q["QueueArn"] for q in config["QueueConfigurations"]] == [queue_arn]
        # moto's GetBucketNotificationConfiguration leaves EventBridge out; its bucket holds it.
        stored = s3_backends["123456789012"]["aws"].buckets[PROD_BUCKET].notification_configuration
        assert stored.event_bridge is not None


def test_the_prod_stack_deploys_offline_once_its_bucket_exists():
    prereqs = plan_stack(stack_settings(REPO_ROOT, "prod"))
    printed: list[str] = []
    with OfflineRuntime() as runtime:
        runtime.set_rekognition_handler(EmulatedRekognition(runtime.client("s3"), region=REGION))
        deployment = runtime.deploy("prod", prepare=lambda ctx: printed.extend(prereqs.create(ctx)))
        assert deployment.outputs["image_bucket_name"] == PROD_BUCKET
        assert [line.split(":")[0] for line in printed] == [
            f"pre-created S3 bucket {PROD_BUCKET} (versioned)",
            "pre-created SNS topic arn",
        ]
        s3 = runtime.client("s3")
        configs = s3.list_bucket_inventory_configurations(Bucket=PROD_BUCKET)["InventoryConfigurationList"]
        assert [c["Destination"]["S3BucketDestination"]["Format"] for c in configs] == ["Parquet"]


def test_a_stack_the_demo_cannot_run_gets_a_reason_not_a_traceback(capsys):
    left_out = parse_config(
        {
            "batchQualifier": {
                "enabled": False,
                "functionArn": "arn:aws:lambda:eu-west-1:111122223333:function:their-qualifier",
            }
        }
    )
    with pytest.raises(StackNotRunnable, match=r"batchQualifier\.enabled is false"):
        plan_stack(left_out)
    assert demo.main(["--stack", "no-such-stack"]) == demo.NOT_RUNNABLE
    [line] = capsys.readouterr().out.strip().splitlines()
    assert line.startswith("DEMO CANNOT RUN stack no-such-stack:") and "Pulumi.no-such-stack.yaml" in line
