"""The handlers' own code that the CLI reuses (the queue-message contract, the tag-event parser, the history
store, job constants).

The handler sources import themselves as the top-level package `handlers` (that is how they run in their
Lambda zip). From the repo root that package is on the path already; installed, it is `bulk_loader.handlers`,
so its parent directory is put on the path once here, the way the Lambda runtime puts the zip's root there.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import handlers  # noqa: F401 - the source tree (python -m cli from the repo root)
except ModuleNotFoundError:
    from .. import handlers as _installed  # bulk_loader.handlers

    sys.path.insert(0, str(Path(_installed.__file__).resolve().parent.parent))

from handlers.batch_qualifier.tag_events import TagEventError, parse_tag_event
from handlers.common.aws import strip_account_host_prefix
from handlers.common.contracts import (
    SQS_MAX_MESSAGE_BYTES,
    HistoryStatus,
    ImportMessage,
    MessageError,
    ObjectRef,
    dump_message,
    parse_message,
)
from handlers.common.history import HistoryRecord, HistoryStore
from handlers.inventory_created.jobs import MANIFEST_FORMAT, REPORT_FORMAT
from handlers.inventory_created.settings import Settings as InventorySettings


def inventory_settings(environment: dict[str, str]) -> InventorySettings:
    """The inventory function's settings, parsed from its deployed environment by its own parser (raises
    ValueError naming the variable when one is unusable)."""
    return InventorySettings.from_env(environment)


__all__ = [
    "MANIFEST_FORMAT",
    "REPORT_FORMAT",
    "SQS_MAX_MESSAGE_BYTES",
    "HistoryRecord",
    "HistoryStatus",
    "HistoryStore",
    "ImportMessage",
    "InventorySettings",
    "MessageError",
    "ObjectRef",
    "TagEventError",
    "dump_message",
    "inventory_settings",
    "parse_message",
    "parse_tag_event",
    "strip_account_host_prefix",
]
