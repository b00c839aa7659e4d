"""The import-history access layer (ARCHITECTURE section 4, "Import history"), shared by the functions.

One table (keys in `handlers.common.history_schema`), one module per item kind:
- `versions`: the import-version state machine (queued -> indexing under a claim and lease -> an outcome;
  deleted wins), one item per object version;
- `delete_events`: per object key, the newest S3 delete event's sequencer, unmatched and failed deletes;
- `fingerprints`: one claim per user and image SHA-256 (duplicate bytes);
- `queries`: by object, by run, by user, failures since;
- `codec`: the item layout and item -> `HistoryRecord`; `table`: what they share.
`HistoryStore` is the one entry point: every item kind's operations on one table.
"""

from __future__ import annotations

from handlers.common.history.codec import DELETE_EVENTS_SK, GATEWAY_CALL_ATTRIBUTE, HistoryRecord
from handlers.common.history.delete_events import DeleteEvents, pad_sequencer
from handlers.common.history.fingerprints import Fingerprints
from handlers.common.history.queries import HistoryQueries
from handlers.common.history.table import DEFAULT_TTL_DAYS, HistoryError
from handlers.common.history.versions import ImportVersions

__all__ = [
    "DEFAULT_TTL_DAYS",
    "DELETE_EVENTS_SK",
    "GATEWAY_CALL_ATTRIBUTE",
    "HistoryError",
    "HistoryRecord",
    "HistoryStore",
    "pad_sequencer",
]


class HistoryStore(ImportVersions, DeleteEvents, Fingerprints, HistoryQueries):
    """Reads and writes the import-history table. `table` is a boto3 DynamoDB Table resource; `ttl_days`
    (non-success records expire), `clock` and `compress_over_bytes` as `HistoryTable` takes them."""
