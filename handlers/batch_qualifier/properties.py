"""Reading a `Properties` reference: `s3://bucket/key` of a JSON object whose keys and values are strings."""

from __future__ import annotations

import json
import re
from typing import Any

from handlers.batch_qualifier.outcomes import TaskFailure, aws_call
from handlers.batch_qualifier.registration import InvalidRegistration, validate_properties

# S3 bucket naming rules (general purpose buckets): 3-63 of [a-z0-9.-], starting and ending alphanumeric.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_READ_CHUNK = 64 * 1024
# The user record (compact JSON, checked after parsing) must fit in 400 KB; the file may legitimately be
# larger (indentation, \u escapes take up to 6 bytes per character), so the read is bounded more loosely.
PROPERTIES_OBJECT_MAX_BYTES = 4 * 1024 * 1024


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split `s3://bucket/key`; the key is taken literally (tag values are not URL-encoded)."""
    if not uri.startswith("s3://"):
        raise InvalidRegistration("properties-uri", f"Properties {uri[:128]!r} is not an s3://bucket/key URI")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise InvalidRegistration(
            "properties-uri", f"Properties {uri[:128]!r} names an invalid bucket {bucket!r}"
        )
    if not key:
        raise InvalidRegistration("properties-uri", f"Properties {uri[:128]!r} has no object key")
    return bucket, key


class PropertiesLoader:
    """Reads properties objects, never more than `max_bytes` of them (the rest is not downloaded)."""

    def __init__(self, s3: Any, max_bytes: int = PROPERTIES_OBJECT_MAX_BYTES) -> None:
        self._s3 = s3
        self._max_bytes = max_bytes

    def load(self, uri: str) -> dict[str, str]:
        bucket, key = parse_s3_uri(uri)
        try:
            response = aws_call("s3:GetObject (Properties)", self._s3.get_object, Bucket=bucket, Key=key)
        except TaskFailure as failure:
            if failure.kind == "missing":
                raise InvalidRegistration("properties-missing", f"{uri[:128]} does not exist") from failure
            raise
        length = int(response.get("ContentLength") or 0)
        body = response["Body"]
        try:
            if length > self._max_bytes:
                raise InvalidRegistration(
                    "properties-too-large", f"{uri[:128]} is {length} bytes; at most {self._max_bytes}"
                )
            data = self._read_bounded(body, uri)
        finally:
            body.close()
        try:
            parsed = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
        except UnicodeDecodeError as exc:
            raise InvalidRegistration("properties-json", f"{uri[:128]} is not UTF-8 ({exc.reason})") from exc
        except ValueError as exc:
            raise InvalidRegistration(
                "properties-json", f"{uri[:128]} is not JSON: {str(exc)[:200]}"
            ) from exc
        return validate_properties(parsed, uri[:128])

    def _read_bounded(self, body: Any, uri: str) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while chunk := aws_call("s3:GetObject (Properties)", body.read, amt=_READ_CHUNK):
            total += len(chunk)
            if total > self._max_bytes:
                raise InvalidRegistration(
                    "properties-too-large", f"{uri[:128]} is over {self._max_bytes} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise ValueError(f"duplicate key {name[:64]!r}")
        result[name] = value
    return result
