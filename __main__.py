"""The bulk-loader Pulumi program: validate the stack config, compose the enabled components, export outputs.

Wiring: ThrottledIndexer's queue + history table -> BatchQualifier; BatchQualifier's function ARN ->
InventoryPipeline (S3 Batch Operations invokes it). A left-out component is replaced by the config keys that
name existing resources (see README `configuration`).
"""

from __future__ import annotations

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
from components.names import lambda_function_arn, physical_name, s3_bucket_arn, sns_topic_arn


def main(cfg: StackConfig) -> None:
    ti, bq, ip = cfg.throttled_indexer, cfg.batch_qualifier, cfg.inventory_pipeline

    image_bucket_name: pulumi.Input[str] | None = cfg.image_bucket.name
    image_bucket_arn: pulumi.Input[str] | None = (
        s3_bucket_arn(cfg.image_bucket.name) if cfg.image_bucket.name else None
    )

    # S3 Batch Operations invokes the qualifier, but the qualifier needs the image bucket that the pipeline
    # may create: the qualifier gets a fixed physical name, so the pipeline takes its ARN built from parts.
    qualifier_function_name = physical_name(f"{pulumi.get_project()}-{pulumi.get_stack()}-batch-qualifier")
    batch_function_arn: pulumi.Input[str] = bq.function_arn or lambda_function_arn(qualifier_function_name)
    # Likewise the indexer's alarm topic (when it creates one), so the pipeline's alarms can go there too.
    alarm_topic_name = physical_name(f"{pulumi.get_project()}-{pulumi.get_stack()}-alarms", limit=256)
    alarm_actions: tuple[pulumi.Input[str], ...] = ti.alarm_actions
    if not alarm_actions and ti.enabled:
        alarm_actions = (sns_topic_arn(alarm_topic_name),)

    pipeline: InventoryPipeline | None = None
    if ip.enabled:
        pipeline = InventoryPipeline(
            "inventory",
            InventoryPipelineArgs(
                batch_function_arn=batch_function_arn,
                image_suffixes=cfg.image_suffixes,
                max_image_bytes=cfg.max_image_bytes,
                lambda_settings=cfg.lambda_,
                image_bucket_name=cfg.image_bucket.name,
                image_bucket_versioned=cfg.image_bucket.versioned,
                image_bucket_force_destroy=cfg.image_bucket.force_destroy,
                schedule=ip.schedule,
                inventory_format=ip.format,
                optional_fields=ip.optional_fields,
                inventory_prefix=ip.inventory_prefix,
                only_new_objects=ip.only_new_objects,
                timeout_seconds=ip.timeout_seconds,
                memory_mb=ip.memory_mb,
                ephemeral_storage_mb=ip.ephemeral_storage_mb,
                inventory_expire_days=ip.inventory_expire_days,
                manifest_expire_days=ip.manifest_expire_days,
                report_expire_days=ip.report_expire_days,
                force_destroy=ip.force_destroy,
                alarm_actions=alarm_actions,
            ),
        )
        image_bucket_name = pipeline.image_bucket_name
        image_bucket_arn = pipeline.image_bucket_arn
    assert image_bucket_name is not None and image_bucket_arn is not None  # config validation guarantees it

    indexer: ThrottledIndexer | None = None
    queue_arn: pulumi.Input[str] | None = ti.queue_arn
    queue_url: pulumi.Input[str] | None = ti.queue_url
    table_name: pulumi.Input[str] | None = (
        ti.history_table_arn.rsplit("/", 1)[-1] if ti.history_table_arn else None
    )
    table_arn: pulumi.Input[str] | None = ti.history_table_arn
    if ti.enabled:
        indexer = ThrottledIndexer(
            "indexer",
            ThrottledIndexerArgs(
                image_bucket_name=image_bucket_name,
                image_bucket_arn=image_bucket_arn,
                lambda_settings=cfg.lambda_,
                gateway=ti.gateway,
                collection_id=ti.collection_id,
                gateway_url=ti.gateway_url,
                gateway_auth=ti.gateway_auth,
                gateway_api_arn=ti.gateway_api_arn,
                gateway_api_key_secret_arn=ti.gateway_api_key_secret_arn,
                gateway_timeout_seconds=ti.gateway_timeout_seconds,
                timeout_seconds=ti.timeout_seconds,
                memory_mb=ti.memory_mb,
                batch_size=ti.batch_size,
                max_concurrency=ti.max_concurrency,
                gateway_rates=cfg.gateway_rates,
                max_receive_count=ti.max_receive_count,
                history_ttl_days=cfg.history_ttl_days,
                quarantine_bucket=ti.quarantine_bucket,
                quarantine_prefix=ti.quarantine_prefix,
                delete_events=ti.delete_events,
                enable_bucket_eventbridge=cfg.bucket_eventbridge,
                alarm_actions=ti.alarm_actions,
                alarm_topic_name=alarm_topic_name,
                oldest_message_alarm_seconds=ti.oldest_message_alarm_seconds,
                history_deletion_protection=ti.history_deletion_protection,
                properties_bucket_arns=tuple(s3_bucket_arn(b) for b in bq.properties_buckets),
                max_image_bytes=cfg.max_image_bytes,
            ),
        )
        queue_arn, queue_url = indexer.queue_arn, indexer.queue_url
        table_name, table_arn = indexer.history_table_name, indexer.history_table_arn

    qualifier: BatchQualifier | None = None
    if bq.enabled:
        assert queue_arn is not None and queue_url is not None  # config validation guarantees it
        qualifier = BatchQualifier(
            "qualifier",
            BatchQualifierArgs(
                image_bucket_name=image_bucket_name,
                image_bucket_arn=image_bucket_arn,
                queue_arn=queue_arn,
                queue_url=queue_url,
                image_suffixes=cfg.image_suffixes,
                lambda_settings=cfg.lambda_,
                history_table_name=table_name,
                history_table_arn=table_arn,
                history_ttl_days=cfg.history_ttl_days,
                provider=bq.provider,
                provider_config=bq.provider_config,
                properties_bucket_arns=tuple(s3_bucket_arn(b) for b in bq.properties_buckets),
                extra_policy_statements=bq.extra_policy_statements,
                reserved_concurrency=bq.reserved_concurrency,
                timeout_seconds=bq.timeout_seconds,
                memory_mb=bq.memory_mb,
                function_name=qualifier_function_name,
            ),
        )

    _exports(pipeline, qualifier, indexer, image_bucket_name)


def _exports(
    pipeline: InventoryPipeline | None,
    qualifier: BatchQualifier | None,
    indexer: ThrottledIndexer | None,
    image_bucket_name: pulumi.Input[str],
) -> None:
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
        assert indexer.queue.dead_letter_queue is not None
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
