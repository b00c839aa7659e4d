"""Every Pulumi.<stack>.yaml validates and composes; the program wires the components together."""

from __future__ import annotations

import pytest
from infra_harness import ACCOUNT, REGION, REPO, Run, env_of, run_main, stack_config

from components.config import ConfigError, parse_config

STACKS = sorted(p.name.split(".")[1] for p in REPO.glob("Pulumi.*.yaml"))
COMPONENT_TYPES = {
    "bulkloader:index:InventoryPipeline",
    "bulkloader:index:BatchQualifier",
    "bulkloader:index:ThrottledIndexer",
}


@pytest.fixture(scope="module", params=STACKS)
def stack_run(request) -> tuple[str, Run]:
    return request.param, run_main(stack_config(request.param), request.param)


def test_there_are_dev_and_prod_stacks():
    assert {"dev", "prod"} <= set(STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_stack_file_validates(stack):
    raw = {k.split(":", 1)[1]: v for k, v in stack_config(stack).items() if k.startswith("bulk-loader:")}
    parse_config(raw)  # raises ConfigError naming the key otherwise


def test_stack_composes_all_three_components(stack_run):
    _, run = stack_run
    assert {r.typ for r in run.resources} >= COMPONENT_TYPES
    for typ in COMPONENT_TYPES:
        assert len(run.of_type(typ)) == 1


def test_every_resource_is_parented_by_a_component_and_named_after_it(stack_run):
    _, run = stack_run
    components = {r.name for r in run.resources if r.typ in COMPONENT_TYPES}
    for r in run.resources:
        if r.typ in COMPONENT_TYPES:
            assert run.parents[r.name] is None
            continue
        parent = run.parents[r.name]
        assert parent in components, f"{r.typ} {r.name} has parent {parent}"
        assert r.name.startswith(f"{parent}-"), f"{r.name} is not named after its component {parent}"


def test_exports(stack_run):
    _, run = stack_run
    for key in (
        "image_bucket_name",
        "inventory_bucket_name",
        "inventory_topic_arn",
        "inventory_function_name",
        "inventory_function_arn",
        "batch_role_arn",
        "batch_function_name",
        "batch_function_arn",
        "queue_url",
        "dlq_url",
        "history_table_name",
        "indexer_function_name",
        "indexer_function_arn",
        "collection_id",
        "dashboard_url",
    ):
        assert run.exports.get(key), f"export {key} missing"


def test_the_dashboard_url_opens_the_stacks_dashboard(stack_run):
    _, run = stack_run
    (dashboard,) = run.of_type("aws:cloudwatch/dashboard:Dashboard")
    url = run.exports["dashboard_url"]
    assert url.startswith("https://") and url.endswith(
        f"#dashboards/dashboard/{dashboard.outputs['dashboardName']}"
    )


def test_qualifier_gets_the_indexer_queue_and_table(stack_run):
    _, run = stack_run
    env = env_of(run, "qualifier-function")
    assert env["QUEUE_URL"] == run.exports["queue_url"]
    assert env["HISTORY_TABLE"] == run.exports["history_table_name"]


def test_pipeline_invokes_the_qualifier(stack_run):
    stack, run = stack_run
    env = env_of(run, "inventory-inventory-created")
    assert env["BATCH_FUNCTION_ARN"] == run.exports["batch_function_arn"]
    assert (
        env["BATCH_FUNCTION_ARN"]
        == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:bulk-loader-{stack}-batch-qualifier"
    )
    assert env["BATCH_ROLE_ARN"] == run.exports["batch_role_arn"]
    assert env["MANIFEST_BUCKET"] == run.exports["inventory_bucket_name"]


def test_pipeline_and_indexer_agree_on_the_image_size_limit(stack_run):
    _, run = stack_run
    limit = env_of(run, "inventory-inventory-created")["MAX_IMAGE_BYTES"]
    assert env_of(run, "indexer-function")["MAX_IMAGE_BYTES"] == limit


def test_indexer_and_qualifier_read_the_same_image_bucket(stack_run):
    _, run = stack_run
    bucket = run.exports["image_bucket_name"]
    inventory = run.one("aws:s3/inventory:Inventory")
    assert inventory.inputs["bucket"] == bucket
    # Two rules on it since issue 15: the indexer's deletions and the qualifier's tag changes.
    patterns = [rule.inputs["eventPattern"] for rule in run.of_type("aws:cloudwatch/eventRule:EventRule")]
    assert len(patterns) == 2 and all(f'"name": ["{bucket}"]' in pattern for pattern in patterns)


def test_pipeline_and_qualifier_alarms_go_where_the_indexer_alarms_go(stack_run):
    _, run = stack_run
    indexer_actions = run.named("indexer-dlq-not-empty").inputs["alarmActions"]
    assert indexer_actions
    assert run.named("inventory-failures-not-empty").inputs["alarmActions"] == indexer_actions
    assert run.named("inventory-inventory-created-errors").inputs["alarmActions"] == indexer_actions
    assert run.named("qualifier-tag-events-dlq-not-empty").inputs["alarmActions"] == indexer_actions


def test_dev_creates_everything():
    run = run_main(stack_config("dev"), "dev")
    assert run.exports["image_bucket_name"] == run.named("inventory-images").outputs["bucket"]
    assert len(run.of_type("aws:rekognition/collection:Collection")) == 1
    assert run.exports["alarm_topic_arn"] == run.named("indexer-alarms").outputs["arn"]
    # the program created the image bucket, so it may own its notification configuration
    switch = run.one("aws:s3/bucketNotification:BucketNotification", "eventbridge")
    assert switch.inputs["eventbridge"] is True
    assert switch.inputs["bucket"] == run.exports["image_bucket_name"]
    assert run.one("aws:dynamodb/table:Table").inputs["deletionProtectionEnabled"] is False


def test_prod_uses_the_existing_image_bucket_and_alarm_topic():
    run = run_main(stack_config("prod"), "prod")
    assert run.exports["image_bucket_name"] == "example-corp-registration-photos"
    assert "inventory-images" not in {r.name for r in run.resources}
    assert run.one("aws:s3/inventory:Inventory").inputs["destination"]["bucket"]["format"] == "Parquet"
    assert env_of(run, "inventory-inventory-created")["ONLY_NEW_OBJECTS"] == "true"
    # an existing bucket's ONE notification configuration is not taken over
    assert not [
        r for r in run.of_type("aws:s3/bucketNotification:BucketNotification") if "eventbridge" in r.name
    ]
    ops = "arn:aws:sns:eu-west-1:111122223333:ops-alerts"
    assert run.named("indexer-dlq-not-empty").inputs["alarmActions"] == [ops]
    assert [t.name for t in run.of_type("aws:sns/topic:Topic")] == ["inventory-inventory-topic"]
    assert run.named("indexer-queue-mapping").inputs["scalingConfig"]["maximumConcurrency"] == 20
    assert run.named("qualifier-function").inputs["reservedConcurrentExecutions"] == 20


def test_the_image_bucket_has_one_owner_and_the_moved_switch_keeps_its_urn():
    """InventoryPipeline owns the image bucket and its ONE notification configuration; the EventBridge
    switch that earlier stacks had under ThrottledIndexer is aliased to that URN, so `pulumi up` moves it in
    the state instead of replacing it (a replaced BucketNotification deletes the bucket's notification
    configuration)."""
    run = run_main(stack_config("dev"), "dev")
    images = run.exports["image_bucket_name"]
    on_images = [
        r for r in run.of_type("aws:s3/bucketNotification:BucketNotification") if r.inputs["bucket"] == images
    ]
    assert [r.name for r in on_images] == ["inventory-image-bucket-eventbridge"]
    assert run.parents["inventory-image-bucket-eventbridge"] == run.parents["inventory-images"] == "inventory"
    assert run.aliases["inventory-image-bucket-eventbridge"] == [
        "urn:pulumi:dev::bulk-loader::bulkloader:index:ThrottledIndexer$aws:s3/bucketNotification:"
        "BucketNotification::indexer-image-bucket-eventbridge"
    ]


def test_only_the_image_buckets_owner_may_switch_its_eventbridge_delivery_on():
    config = {
        "imageBucket": {"name": "photos"},
        "inventoryPipeline": {"enabled": False},
        "batchQualifier": {"enabled": False},
        "throttledIndexer": {"enableBucketEventbridge": True},
    }
    with pytest.raises(
        ConfigError, match=r"throttledIndexer\.enableBucketEventbridge: only with inventoryPipeline"
    ):
        parse_config(config)
