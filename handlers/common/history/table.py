"""What every part of the import-history layer shares: the table, the clock, record expiry, and the one
conditional UpdateItem that the object-version writes go through."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from handlers.common.contracts import ObjectRef
from handlers.common.history.codec import (
    COMPRESS_OVER_BYTES,
    HistoryRecord,
    encode_blob,
    format_time,
    record_from_item,
    version_key,
)
from handlers.common.shared_settings import HistoryTtlSettings

# HISTORY_TTL_DAYS's default, declared once in the settings model.
DEFAULT_TTL_DAYS: int = HistoryTtlSettings.model_fields["history_ttl_days"].default


class HistoryError(RuntimeError):
    """The history table refused or failed a write in a way the caller must handle."""


class HistoryTable:
    """The import-history table (`table`: a boto3 DynamoDB Table resource), its clock and its expiry; the base
    of each item kind's operations (`handlers.common.history.HistoryStore` combines them)."""

    def __init__(
        self,
        table,
        ttl_days: int = DEFAULT_TTL_DAYS,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        compress_over_bytes: int = COMPRESS_OVER_BYTES,
    ) -> None:
        if ttl_days < 1:
            raise ValueError(f"ttl_days must be at least 1, got {ttl_days}")
        self.table = table
        self.ttl_days = ttl_days
        self._clock = clock
        self._compress_over = compress_over_bytes

    def get(self, obj: ObjectRef) -> HistoryRecord | None:
        """The record of one object version (strongly consistent read), or None."""
        item = self._get_item(version_key(obj))
        return record_from_item(item) if item else None

    def _get_item(self, key: dict[str, str]) -> dict[str, Any] | None:
        response = self.table.get_item(Key=key, ConsistentRead=True)
        return response.get("Item")

    def _expiry(self, now: datetime) -> int:
        return int((now + timedelta(days=self.ttl_days)).timestamp())

    def _blob_attributes(self, name: str, value: Any) -> dict[str, Any]:
        return encode_blob(name, value, self._compress_over)

    def _update(
        self,
        obj: ObjectRef,
        sets: dict[str, Any],
        removes: list[str],
        condition: str | None,
        names: dict[str, str],
        values: dict[str, Any],
        *,
        created_at: datetime,
        add_attempts: bool,
        previous: dict[str, Any] | None = None,
    ) -> bool:
        """One conditional UpdateItem on an object version's item; False when the condition failed. With
        `previous` (a dict), the item as it was before the update is put into it (empty if there was none)."""
        names = dict(names)
        values = dict(values)
        parts = []
        for i, (attribute, value) in enumerate(sets.items()):
            names[f"#s{i}"] = attribute
            values[f":s{i}"] = value
            parts.append(f"#s{i} = :s{i}")
        names["#created"] = "created_at"
        values[":created"] = format_time(created_at)
        parts.append("#created = if_not_exists(#created, :created)")
        expression = "SET " + ", ".join(parts)
        removes = [r for r in dict.fromkeys(removes) if r not in sets]
        if removes:
            for i, attribute in enumerate(removes):
                names[f"#r{i}"] = attribute
            expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(removes)))
        if add_attempts:
            names["#attempts"] = "attempts"
            values[":one"] = 1
            expression += " ADD #attempts :one"
        # DynamoDB rejects placeholders that no expression uses; callers share a few across branches.
        used = expression + " " + (condition or "")
        kwargs: dict[str, Any] = {
            "Key": version_key(obj),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": {k: v for k, v in names.items() if _uses(used, k)},
            "ExpressionAttributeValues": {k: v for k, v in values.items() if _uses(used, k)},
        }
        if condition:
            kwargs["ConditionExpression"] = condition
        if previous is not None:
            kwargs["ReturnValues"] = "ALL_OLD"
        try:
            response = self.table.update_item(**kwargs)
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        if previous is not None:
            previous.update(response.get("Attributes") or {})
        return True


def _uses(expression: str, placeholder: str) -> bool:
    """True when `placeholder` (#name / :value) occurs in `expression` as a whole token."""
    return re.search(re.escape(placeholder) + r"(?![A-Za-z0-9_])", expression) is not None


def is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
