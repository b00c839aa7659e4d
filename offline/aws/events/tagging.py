"""S3 tag events as AWS sends them to EventBridge: "Object Tags Added" for PutObjectTagging and "Object
Tags Deleted" for DeleteObjectTagging, for those API calls only (S3 User Guide, "Using EventBridge", event
types; the detail as in AWS's example: bucket name, object key, ETag, version id on versioned buckets,
request id, requester, source IP; no size and no sequencer).

moto's backend sends its `s3:ObjectTagging:Put` notification from every PutObject, CopyObject and multipart
completion too (it stores a request's tags through `put_object_tagging`), which S3 does not: the tagging API
handlers mark their request thread, and only notifications raised inside them count (`from_tagging_api`).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from moto.s3.responses import S3Response

TAG_EVENT_NAMES = {
    "s3:ObjectTagging:Put": "Object Tags Added",
    "s3:ObjectTagging:Delete": "Object Tags Deleted",
}
_API_CALLS = ("put_object_tagging", "delete_object_tagging")
_request = threading.local()
_originals: dict[str, Callable[..., Any]] = {}


def is_tagging_event(event_name: str) -> bool:
    return event_name in TAG_EVENT_NAMES


def from_tagging_api() -> bool:
    """Whether the notification being sent was raised by PutObjectTagging / DeleteObjectTagging."""
    return getattr(_request, "tagging_api", False)


def install() -> None:
    if _originals:
        return
    for name in _API_CALLS:
        original = getattr(S3Response, name)
        _originals[name] = original

        def marked(response: S3Response, *args: Any, _original: Callable[..., Any] = original, **kwargs: Any):
            _request.tagging_api = True
            try:
                return _original(response, *args, **kwargs)
            finally:
                _request.tagging_api = False

        setattr(S3Response, name, marked)


def uninstall() -> None:
    for name, original in _originals.items():
        setattr(S3Response, name, original)
    _originals.clear()


def tag_event_detail(
    event_name: str, bucket: Any, key: Any, object_key: str, requester: str
) -> tuple[str, dict[str, Any]]:
    """(detail-type, detail) of the EventBridge event for a tag change of `key`."""
    obj: dict[str, Any] = {"key": object_key, "etag": key.etag.replace('"', "")}
    version_id = getattr(key, "version_id", None)
    if bucket.is_versioned and version_id and version_id != "null":
        obj["version-id"] = version_id
    detail = {
        "version": "0",
        "bucket": {"name": bucket.name},
        "object": obj,
        "request-id": uuid.uuid4().hex[:16].upper(),
        "requester": requester,
        "source-ip-address": "127.0.0.1",
    }
    return TAG_EVENT_NAMES[event_name], detail
