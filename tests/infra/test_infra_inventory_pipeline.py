"""InventoryPipeline on its own: resources, wiring between them, and their security properties."""

from __future__ import annotations

import pytest
from infra_harness import ACCOUNT, REGION, Run, component_args, env_of, run_pulumi, statement, statements

from components import InventoryPipeline, InventoryPipelineArgs, LambdaSettings

BATCH_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:some-batch-function"
BASE = dict(
    batch_function_arn=BATCH_ARN,
    image_suffixes=(".jpg", ".png"),
    max_image_bytes=15 * 1024 * 1024,
    lambda_settings=LambdaSettings(),
)


def build(**changes) -> Run:
    args = component_args(InventoryPipelineArgs, **{**BASE, **changes})
    return run_pulumi(lambda: InventoryPipeline("pipe", args), stack="unit")


@pytest.fixture(scope="module")
def run() -> Run:
    return build()


def test_component_type_and_children(run):
    (component,) = run.of_type("bulkloader:index:InventoryPipeline")
    assert component.name == "pipe"
    assert all(run.parents[r.name] == "pipe" for r in run.resources if r.name != "pipe")


def test_inventory_bucket_policy_lets_s3_deliver_only_from_the_image_bucket(run):
    images = run.named("pipe-images").outputs["arn"]
    inventory = run.named("pipe-inventory").outputs["arn"]
    stmt = statement(run.named("pipe-inventory-policy"), "AllowS3InventoryDelivery")
    assert stmt["Principal"] == {"Service": "s3.amazonaws.com"}
    assert stmt["Action"] == ["s3:PutObject"]
    assert stmt["Resource"] == f"{inventory}/inventory/*"
    assert stmt["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT, "s3:x-amz-acl": "bucket-owner-full-control"},
        "ArnLike": {"aws:SourceArn": images},
    }


def test_inventory_configuration(run):
    inv = run.one("aws:s3/inventory:Inventory")
    assert inv.inputs["bucket"] == run.named("pipe-images").outputs["bucket"]
    assert inv.inputs["includedObjectVersions"] == "All"
    assert inv.inputs["schedule"] == {"frequency": "Daily"}
    assert inv.inputs["optionalFields"] == ["Size", "LastModifiedDate", "ETag"]
    destination = inv.inputs["destination"]["bucket"]
    assert destination == {
        "bucketArn": run.named("pipe-inventory").outputs["arn"],
        "format": "CSV",
        "prefix": "inventory",
        "accountId": ACCOUNT,
    }
    assert "pipe-inventory-policy" in run.depends_on[inv.name]


def test_manifest_checksum_notification_depends_on_the_topic_policy(run):
    note = run.one("aws:s3/bucketNotification:BucketNotification")
    assert note.inputs["bucket"] == run.named("pipe-inventory").outputs["bucket"]
    (topic_cfg,) = note.inputs["topics"]
    assert topic_cfg["topicArn"] == run.named("pipe-inventory-topic").outputs["arn"]
    assert topic_cfg["filterSuffix"] == "manifest.checksum"
    assert topic_cfg["events"] == ["s3:ObjectCreated:*"]
    assert "pipe-inventory-topic-policy" in run.depends_on[note.name]


def test_topic_accepts_s3_only_from_the_inventory_bucket_and_uses_a_key_s3_may_use(run):
    topic = run.named("pipe-inventory-topic")
    stmt = statement(run.named("pipe-inventory-topic-policy"), "AllowInventoryBucketNotifications")
    assert stmt["Action"] == ["sns:Publish"] and stmt["Resource"] == topic.outputs["arn"]
    assert stmt["Condition"]["ArnLike"] == {"aws:SourceArn": run.named("pipe-inventory").outputs["arn"]}
    key = run.named("pipe-inventory-topic-key")
    assert topic.inputs["kmsMasterKeyId"] == key.outputs["arn"]
    grant = statement(key, "AllowPublisherToEncrypt")
    assert grant["Principal"] == {"Service": "s3.amazonaws.com"}


def test_function_is_subscribed_with_a_permission_scoped_to_the_topic(run):
    topic_arn = run.named("pipe-inventory-topic").outputs["arn"]
    function = run.named("pipe-inventory-created")
    sub = run.one("aws:sns/topicSubscription:TopicSubscription")
    assert (sub.inputs["topic"], sub.inputs["protocol"], sub.inputs["endpoint"]) == (
        topic_arn,
        "lambda",
        function.outputs["arn"],
    )
    permission = run.one("aws:lambda/permission:Permission")
    assert permission.inputs["principal"] == "sns.amazonaws.com"
    assert permission.inputs["sourceArn"] == topic_arn
    assert permission.inputs["function"] == function.outputs["name"]


def test_async_failures_go_to_a_queue_the_function_may_send_to(run):
    queue_arn = run.named("pipe-failures").outputs["arn"]
    config = run.one("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
    assert config.inputs["destinationConfig"] == {"onFailure": {"destination": queue_arn}}
    assert statement(run.named("pipe-inventory-created-policy"), "SendFailures")["Resource"] == [queue_arn]


def test_batch_role_trust_and_permissions(run):
    role = run.named("pipe-batch-role")
    (trust,) = statements(role, "assumeRolePolicy")
    assert trust["Principal"] == {"Service": "batchoperations.s3.amazonaws.com"}
    assert trust["Condition"] == {"StringEqualsIfExists": {"aws:SourceAccount": ACCOUNT}}
    inventory = run.named("pipe-inventory").outputs["arn"]
    policy = run.named("pipe-batch-role-policy")
    assert {s["Sid"]: (s["Action"], s["Resource"]) for s in statements(policy)} == {
        "ReadManifests": (["s3:GetObject", "s3:GetObjectVersion"], [f"{inventory}/batch/manifests/*"]),
        "WriteReports": (["s3:PutObject"], [f"{inventory}/batch/reports/*"]),
        "LocateBucket": (["s3:GetBucketLocation"], [inventory]),
        "InvokeBatchFunction": (["lambda:InvokeFunction"], [BATCH_ARN]),
        "ListImagesForGeneratedManifests": (["s3:ListBucket"], [run.named("pipe-images").outputs["arn"]]),
    }


def test_function_environment(run):
    env = env_of(run, "pipe-inventory-created")
    assert env["BATCH_FUNCTION_ARN"] == BATCH_ARN
    assert env["BATCH_ROLE_ARN"] == run.named("pipe-batch-role").outputs["arn"]
    assert env["MANIFEST_BUCKET"] == run.named("pipe-inventory").outputs["bucket"]
    assert env["MANIFEST_PREFIX"] == "batch/manifests/"
    assert env["REPORT_PREFIX"] == "batch/reports/"
    assert env["STATE_PREFIX"] == "batch/state/"
    assert env["IMAGE_SUFFIXES"] == ".jpg,.png"
    assert env["MAX_IMAGE_BYTES"] == str(15 * 1024 * 1024)
    assert env["ONLY_NEW_OBJECTS"] == "true"  # issue 15: incremental by default
    assert env["POWERTOOLS_SERVICE_NAME"] == "inventory_created"
    assert {"POWERTOOLS_METRICS_NAMESPACE", "LOG_LEVEL"} <= set(env)
    function = run.named("pipe-inventory-created")
    assert function.inputs["timeout"] == 900 and function.inputs["memorySize"] == 1024
    # Parquet/ORC data files are copied to /tmp whole: more than Lambda's 512 MB default.
    assert function.inputs["ephemeralStorage"] == {"size": 2048}
    assert function.inputs["handler"] == "handlers.inventory_created.app.handler"


def test_function_role_is_least_privilege(run):
    inventory = run.named("pipe-inventory").outputs["arn"]
    function = run.named("pipe-inventory-created")
    policy = run.named("pipe-inventory-created-policy")
    assert statement(policy, "ReadInventory")["Resource"] == [f"{inventory}/inventory/*"]
    assert statement(policy, "ListInventoryBucket") == {
        "Sid": "ListInventoryBucket",
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": [inventory],
    }
    assert statement(policy, "ManifestsAndState") == {
        "Sid": "ManifestsAndState",
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
        "Resource": [f"{inventory}/batch/*"],
    }
    assert statement(policy, "TagBatchJobs")["Resource"] == [f"arn:aws:s3:{REGION}:{ACCOUNT}:job/*"]
    pass_role = statement(policy, "PassBatchRole")
    assert pass_role["Resource"] == [run.named("pipe-batch-role").outputs["arn"]]
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": "batchoperations.s3.amazonaws.com"}
    }
    # it fans out to itself: the ARN built from parts is the function's real ARN
    assert statement(policy, "InvokeSelf")["Resource"] == [function.outputs["arn"]]


def test_existing_unversioned_image_bucket_parquet_weekly():
    run = build(
        image_bucket_name="existing-photos",
        image_bucket_versioned=False,
        format="Parquet",
        schedule="Weekly",
        inventory_prefix="photos/",
        only_new_objects=True,
    )
    assert "pipe-images" not in {r.name for r in run.resources}
    inv = run.one("aws:s3/inventory:Inventory")
    assert inv.inputs["bucket"] == "existing-photos"
    assert inv.inputs["includedObjectVersions"] == "Current"
    assert inv.inputs["destination"]["bucket"]["format"] == "Parquet"
    assert inv.inputs["schedule"] == {"frequency": "Weekly"}
    assert inv.inputs["filter"] == {"prefix": "photos/"}
    stmt = statement(run.named("pipe-inventory-policy"), "AllowS3InventoryDelivery")
    assert stmt["Condition"]["ArnLike"] == {"aws:SourceArn": "arn:aws:s3:::existing-photos"}
    assert env_of(run, "pipe-inventory-created")["ONLY_NEW_OBJECTS"] == "true"
    # the given bucket gets no policy, encryption or notification from us
    assert len(run.of_type("aws:s3/bucketPolicy:BucketPolicy")) == len(run.of_type("aws:s3/bucket:Bucket"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"image_suffixes": ()}, "image_suffixes"),
        ({"schedule": "Hourly"}, "schedule"),
        ({"format": "JSON"}, "format"),
    ],
)
def test_invalid_args_name_the_argument(change, message):
    with pytest.raises(ValueError, match=message):
        build(**change)
