"""The three components as the component package hosts them: typed by the derived args, built from plain
values.

Each is the component itself (same class, type token and children), taking the package-facing args
(schema_types) and turning them into its own Args. Its class annotations are the package's outputs: the stack
outputs it contributes (the names `pulumi stack output` shows for this repository's stacks) plus the wiring
another component takes. No `from __future__ import annotations` here: the analyzer reads these annotations
as objects.
"""

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pulumi

from .. import batch_qualifier, inventory_pipeline, throttled_indexer
from .schema_types import core_args, derived_args

PACKAGE_NAME = "bulkloader"  # the `bulkloader:index:<Component>` type tokens the components register

if TYPE_CHECKING:  # mypy cannot see types built at import time; the analyzer reads the derived TypedDicts
    InventoryPipelineArgs = Mapping[str, Any]
    BatchQualifierArgs = Mapping[str, Any]
    ThrottledIndexerArgs = Mapping[str, Any]
else:
    _DERIVED = derived_args(
        inventory_pipeline.InventoryPipelineArgs,
        batch_qualifier.BatchQualifierArgs,
        throttled_indexer.ThrottledIndexerArgs,
    )
    InventoryPipelineArgs = _DERIVED[inventory_pipeline.InventoryPipelineArgs]
    BatchQualifierArgs = _DERIVED[batch_qualifier.BatchQualifierArgs]
    ThrottledIndexerArgs = _DERIVED[throttled_indexer.ThrottledIndexerArgs]


def _expose_stack_outputs(component: pulumi.ComponentResource, stack_outputs: Mapping[str, Any]) -> None:
    """Each declared output the component has no attribute for is its stack output of that name (absent:
    None, for the optional ones)."""
    for name in inspect.get_annotations(type(component)):
        if name not in vars(component):
            setattr(component, name, stack_outputs.get(name))


class InventoryPipeline(inventory_pipeline.InventoryPipeline):
    __doc__ = inventory_pipeline.InventoryPipeline.__doc__

    image_bucket_name: pulumi.Output[str]
    """The image bucket (created, or the one given by imageBucket.name): BatchQualifier and ThrottledIndexer
    take it."""
    image_bucket_arn: pulumi.Output[str]
    """ARN of the image bucket."""
    inventory_bucket_name: pulumi.Output[str]
    """Bucket of the inventory deliveries, batch manifests, completion reports and run state."""
    inventory_configuration_id: str
    """Id of the image bucket's S3 Inventory configuration."""
    inventory_topic_arn: pulumi.Output[str]
    """SNS topic told of each inventory delivery (manifest.checksum)."""
    inventory_function_name: pulumi.Output[str]
    """The inventory_created function."""
    inventory_function_arn: pulumi.Output[str]
    """ARN of the inventory_created function."""
    inventory_function_role_arn: pulumi.Output[str]
    """Role the inventory_created function runs as."""
    inventory_failure_queue_url: pulumi.Output[str]
    """Queue of inventory_created invocations that failed after Lambda's retries (redrive from here)."""
    batch_role_arn: pulumi.Output[str]
    """Role S3 Batch Operations jobs run as (to start a job by hand)."""

    def __init__(
        self, name: str, args: InventoryPipelineArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        own = core_args(inventory_pipeline.InventoryPipelineArgs, args, "InventoryPipeline")
        super().__init__(name, own, opts)
        _expose_stack_outputs(self, self.stack_outputs)


class BatchQualifier(batch_qualifier.BatchQualifier):
    __doc__ = batch_qualifier.BatchQualifier.__doc__

    batch_function_name: pulumi.Output[str]
    """The batch_qualifier function."""
    batch_function_arn: pulumi.Output[str]
    """ARN of the batch_qualifier function: InventoryPipeline's batchFunctionArn."""
    batch_function_role_arn: pulumi.Output[str]
    """Role the batch_qualifier function runs as."""
    tag_events_queue_url: pulumi.Output[str] | None
    """Queue of the image bucket's tag-change events the qualifier re-qualifies (absent when
    settings.tagEvents is false)."""
    tag_events_dlq_url: pulumi.Output[str] | None
    """Where tag-change events the qualifier gave up on wait (redrive from here; absent without tagEvents)."""

    def __init__(
        self, name: str, args: BatchQualifierArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        own = core_args(batch_qualifier.BatchQualifierArgs, args, "BatchQualifier")
        super().__init__(name, own, opts)
        _expose_stack_outputs(self, self.stack_outputs)


class ThrottledIndexer(throttled_indexer.ThrottledIndexer):
    __doc__ = throttled_indexer.ThrottledIndexer.__doc__

    queue_url: pulumi.Output[str]
    """URL of the input queue: BatchQualifier's queueUrl."""
    queue_arn: pulumi.Output[str]
    """ARN of the input queue: BatchQualifier's queueArn."""
    dlq_url: pulumi.Output[str]
    """The input queue's dead-letter queue (messages the indexer gave up on)."""
    history_table_name: pulumi.Output[str]
    """The import-history table: BatchQualifier's historyTableName."""
    history_table_arn: pulumi.Output[str]
    """ARN of the import-history table: BatchQualifier's historyTableArn."""
    indexer_function_name: pulumi.Output[str]
    """The throttled_indexer function."""
    indexer_function_arn: pulumi.Output[str]
    """ARN of the throttled_indexer function."""
    indexer_function_role_arn: pulumi.Output[str]
    """Role the throttled_indexer function runs as."""
    collection_id: pulumi.Output[str] | None
    """The Rekognition collection (created, or settings.collectionId); absent with gateway `http`."""
    created_alarm_topic_arn: pulumi.Output[str] | None
    """The created alarm topic (stack output alarm_topic_arn); absent when settings.alarmActions names
    existing targets."""

    def __init__(
        self, name: str, args: ThrottledIndexerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        own = core_args(throttled_indexer.ThrottledIndexerArgs, args, "ThrottledIndexer")
        super().__init__(name, own, opts)
        # `alarm_topic_arn` is the class's helper for the fixed topic name's ARN, so the output is renamed.
        created = self.stack_outputs.get("alarm_topic_arn")
        self.created_alarm_topic_arn = None if created is None else pulumi.Output.from_input(created)
        _expose_stack_outputs(self, self.stack_outputs)


HOSTED: list[type[pulumi.ComponentResource]] = [InventoryPipeline, BatchQualifier, ThrottledIndexer]
