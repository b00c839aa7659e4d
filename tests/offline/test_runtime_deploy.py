"""Deploying a Pulumi program into moto: every supported type is created for real, with real outputs."""

from __future__ import annotations

import json

import pytest
from moto.s3.models import s3_backends

from offline.deployment.program import read_stack_config, render_policy_document
from offline.runtime import OfflineRuntime
from tests.offline.conftest import TINY_PROGRAM


def test_outputs_are_the_real_names_arns_and_urls(tiny: OfflineRuntime):
    outputs = tiny.deployment.outputs
    s3 = tiny.client("s3")
    assert outputs["image_bucket"] in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert outputs["queue_url"].startswith(tiny.endpoint)
    sqs = tiny.client("sqs")
    assert sqs.get_queue_attributes(QueueUrl=outputs["queue_url"], AttributeNames=["QueueArn"])["Attributes"]
    lam = tiny.client("lambda")
    assert (
        lam.get_function(FunctionName=outputs["function_name"])["Configuration"]["FunctionArn"]
        == outputs["function_arn"]
    )
    # Nested outputs resolve too, and data sources answer with moto's account and the stack's region.
    assert outputs["nested"]["region"] == "us-east-1"
    assert outputs["nested"]["rule_arn"].startswith("arn:aws:events:us-east-1:123456789012:rule/")


def test_bucket_configurations_are_applied(tiny: OfflineRuntime):
    s3 = tiny.client("s3")
    images = tiny.deployment.outputs["image_bucket"]
    inventory = tiny.deployment.outputs["inventory_bucket"]
    assert s3.get_bucket_versioning(Bucket=images)["Status"] == "Enabled"
    assert (
        s3.get_public_access_block(Bucket=images)["PublicAccessBlockConfiguration"]["BlockPublicPolicy"]
        is True
    )
    rules = s3.get_bucket_encryption(Bucket=inventory)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=inventory)["Rules"][0]
    assert lifecycle["Expiration"]["Days"] == 7 and lifecycle["Filter"]["Prefix"] == "batch/"
    assert s3.get_bucket_ownership_controls(Bucket=inventory)["OwnershipControls"]["Rules"][0][
        "ObjectOwnership"
    ] == ("BucketOwnerEnforced")
    notification = s3.get_bucket_notification_configuration(Bucket=inventory)["TopicConfigurations"][0]
    assert notification["TopicArn"] == tiny.deployment.outputs["topic_arn"]
    [rule] = notification["Filter"]["Key"]["FilterRules"]
    assert (rule["Name"].lower(), rule["Value"]) == ("suffix", "manifest.checksum")
    # moto keeps the EventBridge switch but leaves it out of GetBucketNotificationConfiguration.
    assert (
        s3_backends[tiny.account_id]["aws"].get_bucket(images).notification_configuration.event_bridge
        is not None
    )
    config = s3.get_bucket_inventory_configuration(Bucket=images, Id="daily")["InventoryConfiguration"]
    assert config["Destination"]["S3BucketDestination"]["Bucket"] == f"arn:aws:s3:::{inventory}"


def test_the_tls_only_deny_is_recorded_but_not_given_to_moto(tiny: OfflineRuntime):
    inventory = tiny.deployment.outputs["inventory_bucket"]
    declared = tiny.deployment.get("s3/bucketPolicy:BucketPolicy", "inventory-policy").inputs["policy"]
    assert "DenyInsecureTransport" in declared
    assert any("DenyInsecureTransport" in w and inventory in w for w in tiny.deployment.warnings)
    tiny.client("s3").put_object(Bucket=inventory, Key="probe", Body=b"x")  # would be 403 in moto otherwise


def test_messaging_table_and_iam_resources(tiny: OfflineRuntime):
    outputs = tiny.deployment.outputs
    sqs = tiny.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=outputs["queue_url"], AttributeNames=["All"])["Attributes"]
    assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == 2
    assert attributes["VisibilityTimeout"] == "2"
    policy = sqs.get_queue_attributes(QueueUrl=outputs["deletions_url"], AttributeNames=["Policy"])[
        "Attributes"
    ]
    assert "events.amazonaws.com" in policy["Policy"]
    sns = tiny.client("sns")
    assert (
        "s3.amazonaws.com" in sns.get_topic_attributes(TopicArn=outputs["topic_arn"])["Attributes"]["Policy"]
    )
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=outputs["topic_arn"])["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("lambda", outputs["function_arn"])]
    table = tiny.client("dynamodb").describe_table(TableName=outputs["table"])["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by-body"]
    ttl = tiny.client("dynamodb").describe_time_to_live(TableName=outputs["table"])["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"
    iam = tiny.client("iam")
    role_name = outputs["batch_role_arn"].rsplit("/", 1)[-1]
    assert "batchoperations.s3.amazonaws.com" in json.dumps(
        iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    )
    assert iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    secret = tiny.client("secretsmanager").get_secret_value(SecretId=outputs["secret_arn"])
    assert secret["SecretString"] == "s3cr3t"
    kms = tiny.client("kms")
    assert kms.describe_key(KeyId="alias/tiny-data")["KeyMetadata"]["Arn"] == outputs["key_arn"]
    assert kms.get_key_rotation_status(KeyId=outputs["key_arn"])["KeyRotationEnabled"] is True
    attached = iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [outputs["readonly_policy_arn"]]
    body = (
        tiny.client("s3").get_object(Bucket=outputs["inventory_bucket"], Key="docs/README.txt")["Body"].read()
    )
    assert body == b"tiny"


def test_lambda_resources_and_the_function_registry(tiny: OfflineRuntime):
    outputs = tiny.deployment.outputs
    lam = tiny.client("lambda")
    function = lam.get_function(FunctionName=outputs["function_name"])
    assert function["Concurrency"]["ReservedConcurrentExecutions"] == 3
    assert function["Configuration"]["Environment"]["Variables"]["SEEN_TABLE"] == outputs["table"]
    mapping = lam.list_event_source_mappings(FunctionName=outputs["function_name"])["EventSourceMappings"][0]
    assert mapping["BatchSize"] == 5
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == 2
    policy = json.loads(lam.get_policy(FunctionName=outputs["function_name"])["Policy"])
    assert policy["Statement"][0]["Principal"]["Service"] == "sns.amazonaws.com"
    spec = tiny.deployment.functions[outputs["function_name"]]
    assert spec.handler == "handlers.echo.app.handler"
    assert spec.timeout_s == 5 and spec.memory_mb == 256 and spec.reserved_concurrency == 3
    assert spec.on_failure == outputs["failures_url"].replace(
        tiny.endpoint + "/123456789012/", "arn:aws:sqs:us-east-1:123456789012:"
    )
    assert spec.maximum_retry_attempts == 0
    assert (spec.code_dir / "handlers" / "echo" / "app.py").is_file()
    [mapping_spec] = tiny.deployment.mappings
    assert (
        mapping_spec.batch_size,
        mapping_spec.maximum_concurrency,
        mapping_spec.report_batch_item_failures,
    ) == (5, 2, True)
    logs = tiny.client("logs").describe_log_groups(logGroupNamePrefix=outputs["log_group"])["logGroups"]
    assert logs[0]["retentionInDays"] == 7
    assert tiny.client("cloudwatch").describe_alarms()["MetricAlarms"][0]["AlarmActions"] == [
        outputs["topic_arn"]
    ]
    targets = tiny.client("events").list_targets_by_rule(
        Rule=outputs["nested"]["rule_arn"].rsplit("/", 1)[-1]
    )
    assert targets["Targets"][0]["Arn"].endswith(outputs["deletions_url"].rsplit("/", 1)[-1])


def test_the_registry_lists_notifications_and_rules(tiny: OfflineRuntime):
    outputs = tiny.deployment.outputs
    by_bucket = {n["bucket"]: n for n in tiny.deployment.notifications}
    assert by_bucket[outputs["image_bucket"]]["eventbridge"] is True
    [topic] = by_bucket[outputs["inventory_bucket"]]["topics"]
    assert topic["topicArn"] == outputs["topic_arn"] and topic["filterSuffix"] == "manifest.checksum"
    [rule] = tiny.deployment.rules
    assert rule["arn"] == outputs["nested"]["rule_arn"]
    assert rule["event_pattern"]["detail-type"] == ["Object Deleted"]
    assert [t.rsplit(":", 1)[1] for t in rule["targets"]] == [outputs["deletions_url"].rsplit("/", 1)[1]]


def test_an_unsupported_type_is_listed_not_skipped(tiny: OfflineRuntime):
    [item] = tiny.deployment.not_created
    assert item["type"] == "aws:ec2/vpc:Vpc" and item["name"] == "unsupported"
    assert item["urn"].endswith("aws:ec2/vpc:Vpc::unsupported")
    assert "NOT CREATED aws:ec2/vpc:Vpc unsupported" in tiny.deployment.summary()
    # The collection needs a Rekognition emulator, which this runtime does not have: not created, listed.
    assert not any(r.type.startswith("aws:rekognition") for r in tiny.deployment.resources)


def test_every_created_resource_has_its_urn_and_physical_id(tiny: OfflineRuntime):
    for resource in tiny.deployment.resources:
        assert resource.urn.startswith("urn:pulumi:test::tiny::") and resource.urn.endswith(
            f"::{resource.name}"
        )
        assert resource.id


def test_stack_config_reading_and_its_errors(tmp_path):
    project, config = read_stack_config(TINY_PROGRAM, "test", {"extra": {"a": 1}, "aws:region": "eu-west-1"})
    assert project == "tiny"
    assert config["tiny:maxConcurrency"] == "2"
    assert json.loads(config["tiny:settings"]) == {"batchSize": 5}
    assert config["tiny:extra"] == '{"a": 1}' and config["aws:region"] == "eu-west-1"
    # An object override changes only the fields it names.
    _, merged = read_stack_config(TINY_PROGRAM, "test", {"settings": {"window": 3}})
    assert json.loads(merged["tiny:settings"]) == {"batchSize": 5, "window": 3}
    with pytest.raises(FileNotFoundError, match=r"stack 'nope'.*stacks: test"):
        read_stack_config(TINY_PROGRAM, "nope")
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    (tmp_path / "Pulumi.s.yaml").write_text("config:\n  p:token:\n    secure: AAABBB\n")
    with pytest.raises(ValueError, match="p:token is an encrypted secret"):
        read_stack_config(tmp_path, "s")


def test_get_policy_document_renders_like_the_provider():
    document = json.loads(
        render_policy_document(
            {
                "statements": [
                    {
                        "sid": "Publish",
                        "actions": ["sns:Publish"],
                        "resources": ["arn:aws:sns:us-east-1:123456789012:t"],
                        "principals": [{"type": "Service", "identifiers": ["s3.amazonaws.com"]}],
                        "conditions": [
                            {"test": "ArnLike", "variable": "aws:SourceArn", "values": ["arn:aws:s3:::b"]}
                        ],
                    }
                ]
            }
        )
    )
    assert document["Statement"] == [
        {
            "Sid": "Publish",
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": "arn:aws:sns:us-east-1:123456789012:t",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::b"}},
        }
    ]
