"""The bulk-loader Pulumi program: validate the stack config, compose the enabled components, export outputs.

Each component takes its section of the stack config; a left-out one is replaced by the keys naming existing
resources (README `configuration`). Queue + table -> BatchQualifier; its function ARN -> InventoryPipeline.
"""

import pulumi

from components import (
    BatchQualifier,
    BatchQualifierArgs,
    InventoryPipeline,
    InventoryPipelineArgs,
    ThrottledIndexer,
    ThrottledIndexerArgs,
)
from components.config import StackConfig, load_config
from components.names import s3_bucket_arn

QUALIFIER = "qualifier"


def main(cfg: StackConfig) -> None:
    ti, bq, ip = cfg.throttled_indexer, cfg.batch_qualifier, cfg.inventory_pipeline
    lam, shared = cfg.lambda_, cfg.shared
    bucket_name: pulumi.Input[str] | None = cfg.image_bucket.name
    bucket_arn = s3_bucket_arn(cfg.image_bucket.name) if cfg.image_bucket.name else None
    # The indexer's alarm topic (when it creates one) also takes the pipeline's alarms.
    alarm_actions = ti.alarm_actions or ((ThrottledIndexer.alarm_topic_arn(),) if ti.enabled else ())

    pipeline = indexer = qualifier = None
    if ip.enabled:
        batch_function_arn = bq.function_arn or BatchQualifier.function_arn_for(QUALIFIER)
        pipeline = InventoryPipeline(
            "inventory",
            InventoryPipelineArgs(
                batch_function_arn, lam, settings=ip, image_bucket=cfg.image_bucket, shared=shared,
                alarm_actions=alarm_actions,
            ),
        )  # fmt: skip
        bucket_name, bucket_arn = pipeline.image_bucket_name, pipeline.image_bucket_arn
    assert bucket_name is not None and bucket_arn is not None  # config validation guarantees it

    queue_arn, queue_url, table_arn = ti.queue_arn, ti.queue_url, ti.history_table_arn
    table_name = table_arn.rsplit("/", 1)[-1] if table_arn else None
    if ti.enabled:
        properties = tuple(s3_bucket_arn(bucket) for bucket in bq.properties_buckets)
        indexer = ThrottledIndexer(
            "indexer",
            ThrottledIndexerArgs(
                bucket_name, bucket_arn, lam, settings=ti, shared=shared, properties_bucket_arns=properties,
                enable_bucket_eventbridge=cfg.bucket_eventbridge,
            ),
        )  # fmt: skip
        queue_arn, queue_url = indexer.queue_arn, indexer.queue_url
        table_name, table_arn = indexer.history_table_name, indexer.history_table_arn

    if bq.enabled:
        assert queue_arn is not None and queue_url is not None  # config validation guarantees it
        qualifier = BatchQualifier(
            QUALIFIER,
            BatchQualifierArgs(
                bucket_name, bucket_arn, queue_arn, queue_url, lam, settings=bq, shared=shared,
                history_table_name=table_name, history_table_arn=table_arn,
            ),
        )  # fmt: skip
    _exports(pipeline, qualifier, indexer, bucket_name)


def _exports(pipeline, qualifier, indexer, image_bucket_name: pulumi.Input[str]) -> None:
    pulumi.export("image_bucket_name", image_bucket_name)
    if pipeline is not None:
        pulumi.export("inventory_bucket_name", pipeline.inventory_bucket.bucket.bucket)
        pulumi.export("inventory_configuration_id", pipeline.inventory_configuration_id)
        pulumi.export("inventory_topic_arn", pipeline.topic.topic.arn)
        pulumi.export("inventory_function_name", pipeline.function_name)
        pulumi.export("inventory_function_arn", pipeline.function_arn)
        pulumi.export("inventory_function_role_arn", pipeline.function.role.arn)
        pulumi.export("inventory_failure_queue_url", pipeline.failure_queue.queue.url)
        pulumi.export("batch_role_arn", pipeline.batch_role.arn)
    if qualifier is not None:
        pulumi.export("batch_function_name", qualifier.function_name)
        pulumi.export("batch_function_arn", qualifier.function_arn)
        pulumi.export("batch_function_role_arn", qualifier.function.role.arn)
    if indexer is not None:
        pulumi.export("queue_url", indexer.queue_url)
        pulumi.export("queue_arn", indexer.queue_arn)
        pulumi.export("dlq_url", indexer.queue.dead_letter_queue.url)
        pulumi.export("history_table_name", indexer.history_table_name)
        pulumi.export("indexer_function_name", indexer.function_name)
        pulumi.export("indexer_function_arn", indexer.function_arn)
        pulumi.export("indexer_function_role_arn", indexer.function.role.arn)
        if indexer.collection_id is not None:
            pulumi.export("collection_id", indexer.collection_id)
        if indexer.alarm_topic is not None:
            pulumi.export("alarm_topic_arn", indexer.alarm_topic.topic.arn)


main(load_config())
