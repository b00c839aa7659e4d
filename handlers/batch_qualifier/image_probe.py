"""Is the object really a PNG or JPEG? One small ranged read answers it, and gives the ETag and size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handlers.batch_qualifier.outcomes import TaskFailure, aws_call
from handlers.batch_qualifier.registration import InvalidRegistration

PROBE_RANGE = "bytes=0-15"
SIGNATURES = {
    "png": b"\x89PNG\r\n\x1a\n",
    "jpeg": b"\xff\xd8\xff",
}


@dataclass(frozen=True)
class ImageProbe:
    format: str
    etag: str
    """Without quotes, as the queue message's ObjectRef carries it."""
    size: int
    version_id: str | None = None
    """The version read (S3's VersionId answer), so a task that names none pins the version it qualified."""


def probe_image(s3: Any, bucket: str, key: str, version_id: str | None) -> ImageProbe:
    """Read the first 16 bytes; raise InvalidRegistration('format') when they are not PNG or JPEG."""
    request: dict[str, Any] = {"Bucket": bucket, "Key": key, "Range": PROBE_RANGE}
    action = "s3:GetObject"
    if version_id:
        request["VersionId"] = version_id
        action = "s3:GetObjectVersion"
    try:
        response = aws_call(action, s3.get_object, **request)
    except TaskFailure as failure:
        # S3 refuses any range of an empty object with 416 InvalidRange.
        if failure.kind == "error" and "InvalidRange" in failure.detail:
            raise InvalidRegistration("format", "the object is empty") from failure
        raise
    body = response["Body"]
    try:
        head = aws_call(action, body.read, amt=16)
    finally:
        body.close()
    image_format = next((name for name, magic in SIGNATURES.items() if head.startswith(magic)), None)
    if image_format is None:
        raise InvalidRegistration("format", f"not a PNG or JPEG (starts with {head[:8].hex()})")
    return ImageProbe(
        format=image_format,
        etag=response["ETag"].strip('"'),
        size=_object_size(response),
        version_id=response.get("VersionId"),
    )


def _object_size(response: dict[str, Any]) -> int:
    # A ranged answer says `Content-Range: bytes 0-15/<total>`; a full answer's length is the size.
    content_range = response.get("ContentRange") or ""
    total = content_range.rpartition("/")[2]
    if total.isdigit():
        return int(total)
    return int(response["ContentLength"])
