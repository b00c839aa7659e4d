"""The bulk-loader Pulumi program: validate the stack config, compose the enabled components, export outputs.

Each component takes its section of the stack config; a left-out one is replaced by the keys naming existing
resources (README `configuration`). Queue + table -> BatchQualifier; its function ARN -> InventoryPipeline."""

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
from components.dashboard import stack_dashboard
from components.names import s3_bucket_arn

QUALIFIER = "qualifier"
# Where stacks deployed before the image bucket had one owner keep its EventBridge switch (not replaced).
SWITCH_UNDER_INDEXER = pulumi.Alias(
    name="indexer-image-bucket-eventbridge",
    parent=pulumi.create_urn("indexer", "bulkloader:index:ThrottledIndexer"),
)


def main(cfg: StackConfig) -> None:
    ti, bq, ip = cfg.throttled_indexer, cfg.batch_qualifier, cfg.inventory_pipeline
    lam, shared = cfg.lambda_, cfg.shared
    bucket_name: pulumi.Input[str] | None = cfg.image_bucket.name
    bucket_arn = s3_bucket_arn(cfg.image_bucket.name) if cfg.image_bucket.name else None
    # The indexer's alarm topic (when it creates one) also takes the pipeline's and the qualifier's alarms.
    alarm_actions = ti.alarm_actions or ((ThrottledIndexer.alarm_topic_arn(),) if ti.enabled else ())

    pipeline = indexer = qualifier = None
    if ip.enabled:
        batch_function_arn = bq.function_arn or BatchQualifier.function_arn_for(QUALIFIER)
        pipeline = InventoryPipeline(
            "inventory",
            InventoryPipelineArgs(
                batch_function_arn,
                lam,
                settings=ip,
                image_bucket=cfg.image_bucket,
                shared=shared,
                alarm_actions=alarm_actions,
                bucket_eventbridge=cfg.bucket_eventbridge,
                bucket_eventbridge_aliases=(SWITCH_UNDER_INDEXER,),
            ),
        )
        bucket_name, bucket_arn = pipeline.image_bucket_name, pipeline.image_bucket_arn
    assert bucket_name is not None and bucket_arn is not None  # config validation guarantees it

    queue_arn, queue_url, table_arn = ti.queue_arn, ti.queue_url, ti.history_table_arn
    table_name = table_arn.rsplit("/", 1)[-1] if table_arn else None
    if ti.enabled:
        properties = tuple(s3_bucket_arn(bucket) for bucket in bq.properties_buckets)
        indexer = ThrottledIndexer(
            "indexer",
            ThrottledIndexerArgs(
                bucket_name,
                bucket_arn,
                lam,
                settings=ti,
                shared=shared,
                properties_bucket_arns=properties,
            ),
        )
        queue_arn, queue_url = indexer.queue_arn, indexer.queue_url
        table_name, table_arn = indexer.history_table_name, indexer.history_table_arn

    if bq.enabled:
        assert queue_arn is not None and queue_url is not None  # config validation guarantees it
        qualifier = BatchQualifier(
            QUALIFIER,
            BatchQualifierArgs(
                bucket_name,
                bucket_arn,
                queue_arn,
                queue_url,
                lam,
                settings=bq,
                shared=shared,
                history_table_name=table_name,
                history_table_arn=table_arn,
                alarm_actions=alarm_actions,
            ),
        )
    pulumi.export("image_bucket_name", bucket_name)
    for component in (pipeline, qualifier, indexer):
        for key, value in component.stack_outputs.items() if component else ():
            pulumi.export(key, value)
    board = stack_dashboard(lam.metrics_namespace, inventory=pipeline, qualifier=qualifier, indexer=indexer)
    pulumi.export("dashboard_url", board.url)


main(load_config())
