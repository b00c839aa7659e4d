"""What was imported before, per source bucket, in MANIFEST_BUCKET under STATE_PREFIX.

- `<prefix><source>/last-imported.json`: the newest inventory whose every data file got its job
  (creationTimestamp and the cutoff it used); ONLY_NEW_OBJECTS keeps objects modified since then.
- `<prefix><source>/<inventory id>/done/<part>.json`: one marker per converted data file. Data files are
  converted by separate invocations; the one that finds all markers present records the inventory as
  imported (ListObjectsV2 on this prefix: needs s3:ListBucket there).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from handlers.inventory_created.errors import InventoryError


@dataclass(frozen=True)
class LastImport:
    inventory_id: str
    creation_timestamp: int | None
    since_ms: int | None


class ImportState:
    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._prefix = prefix

    def _last_key(self, source: str) -> str:
        return f"{self._prefix}{source}/last-imported.json"

    def _done_prefix(self, source: str, inventory_id: str) -> str:
        return f"{self._prefix}{source}/{inventory_id}/done/"

    def last_import(self, source: str) -> LastImport | None:
        try:
            response = self._s3.get_object(Bucket=self._bucket, Key=self._last_key(source))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        with response["Body"] as body:
            raw = body.read()
        try:
            data = json.loads(raw)
            return LastImport(str(data["inventoryId"]), data.get("creationTimestamp"), data.get("sinceMs"))
        except (ValueError, KeyError, TypeError) as exc:
            where = f"s3://{self._bucket}/{self._last_key(source)}"
            raise InventoryError(
                f"import state {where} is not valid ({type(exc).__name__}: {exc}); "
                "delete it to import every object again"
            ) from None

    def cutoff(
        self, source: str, inventory_id: str, creation_timestamp: int | None, overlap_ms: int
    ) -> int | None:
        """The ONLY_NEW_OBJECTS cutoff (ms since the epoch) for this inventory; None imports every object."""
        last = self.last_import(source)
        if last is None or last.creation_timestamp is None or creation_timestamp is None:
            return None
        if last.inventory_id == inventory_id:
            return last.since_ms  # a re-run selects what the first run selected
        if last.creation_timestamp < creation_timestamp:
            return last.creation_timestamp - overlap_ms
        return None  # an older inventory than the last import: nothing to compare against, import it all

    def mark_done(self, source: str, inventory_id: str, part: int, record: dict[str, Any]) -> None:
        self._s3.put_object(
            Bucket=self._bucket,
            Key=f"{self._done_prefix(source, inventory_id)}{part:05d}.json",
            Body=json.dumps(record).encode(),
            ContentType="application/json",
        )

    def done_count(self, source: str, inventory_id: str) -> int:
        paginator = self._s3.get_paginator("list_objects_v2")
        count = 0
        for page in paginator.paginate(Bucket=self._bucket, Prefix=self._done_prefix(source, inventory_id)):
            count += page.get("KeyCount", len(page.get("Contents", [])))
        return count

    def finish_if_complete(
        self, source: str, inventory_id: str, parts: int, creation_timestamp: int | None, since_ms: int | None
    ) -> bool:
        """Record the inventory as the last import once all its data files are done; never go backwards."""
        if self.done_count(source, inventory_id) < parts:
            return False
        last = self.last_import(source)
        if (
            last is not None
            and last.creation_timestamp is not None
            and creation_timestamp is not None
            and last.creation_timestamp > creation_timestamp
        ):
            return True
        record = {"inventoryId": inventory_id, "creationTimestamp": creation_timestamp, "sinceMs": since_ms}
        self._s3.put_object(
            Bucket=self._bucket,
            Key=self._last_key(source),
            Body=json.dumps(record).encode(),
            ContentType="application/json",
        )
        return True
