"""The bulk loader's Pulumi components (ARCHITECTURE section 3) and what they share.

Reuse from another Pulumi project: `from bulk_loader.components import InventoryPipeline, ...`.
Names are loaded lazily: with plain imports here, `python -m components.packaging` and `python -m
components.reference` would find their module already imported by this package and run a second copy of it
(runpy's RuntimeWarning), since the components import both.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import handler_path  # noqa: F401  (the settings models live in the `handlers` package)

if TYPE_CHECKING:
    from .batch_qualifier import BatchQualifier, BatchQualifierArgs
    from .inventory_pipeline import InventoryPipeline, InventoryPipelineArgs
    from .sections import (
        BatchQualifierSettings,
        ImageBucketSettings,
        InventoryPipelineSettings,
        LambdaSettings,
        SharedSettings,
        ThrottledIndexerSettings,
    )
    from .throttled_indexer import ThrottledIndexer, ThrottledIndexerArgs

_EXPORTS = {
    "BatchQualifier": ".batch_qualifier",
    "BatchQualifierArgs": ".batch_qualifier",
    "InventoryPipeline": ".inventory_pipeline",
    "InventoryPipelineArgs": ".inventory_pipeline",
    "BatchQualifierSettings": ".sections",
    "ImageBucketSettings": ".sections",
    "InventoryPipelineSettings": ".sections",
    "LambdaSettings": ".sections",
    "SharedSettings": ".sections",
    "ThrottledIndexerSettings": ".sections",
    "ThrottledIndexer": ".throttled_indexer",
    "ThrottledIndexerArgs": ".throttled_indexer",
}
__all__ = [
    "BatchQualifier",
    "BatchQualifierArgs",
    "BatchQualifierSettings",
    "ImageBucketSettings",
    "InventoryPipeline",
    "InventoryPipelineArgs",
    "InventoryPipelineSettings",
    "LambdaSettings",
    "SharedSettings",
    "ThrottledIndexer",
    "ThrottledIndexerArgs",
    "ThrottledIndexerSettings",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
