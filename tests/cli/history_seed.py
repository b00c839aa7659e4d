"""Import-history records for the CLI tests, written through HistoryStore as the functions write them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from handlers.common.contracts import HistoryStatus, ImportMessage, ObjectRef
from handlers.common.history import HistoryStore


def seed(
    table: Any,
    key: str,
    status: HistoryStatus,
    *,
    at: datetime,
    run_id: str = "images-bucket/inv-1",
    user_id: str = "user-1",
    version_id: str | None = None,
    bucket: str = "images-bucket",
    reason: str | None = None,
    properties: dict[str, str] | None = None,
) -> ObjectRef:
    """One object version queued by `run_id`, then (unless `status` is queued) its outcome, both at `at`."""
    store = HistoryStore(table, clock=lambda: at)
    obj = ObjectRef(bucket=bucket, key=key, version_id=version_id, etag=f"etag-{key}")
    store.record_queued(ImportMessage(object=obj, user_id=user_id, run_id=run_id, properties=properties))
    if status != HistoryStatus.QUEUED:
        store.record_outcome(obj, status, reason or status.value, user_id=user_id, run_id=run_id)
    return obj
