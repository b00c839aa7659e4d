"""The bulk loader's Pulumi components (ARCHITECTURE section 3) and what they share.

Reuse from another Pulumi project: `from bulk_loader.components import InventoryPipeline, ...`.
"""

from .batch_qualifier import BatchQualifier, BatchQualifierArgs
from .inventory_pipeline import InventoryPipeline, InventoryPipelineArgs
from .secure import LambdaOptions
from .throttled_indexer import ThrottledIndexer, ThrottledIndexerArgs

__all__ = [
    "BatchQualifier",
    "BatchQualifierArgs",
    "InventoryPipeline",
    "InventoryPipelineArgs",
    "LambdaOptions",
    "ThrottledIndexer",
    "ThrottledIndexerArgs",
]
