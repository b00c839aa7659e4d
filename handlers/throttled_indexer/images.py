"""The image-bucket side of indexing: read the image as qualified, fingerprint it, tag it, find its current
version, load properties by reference, copy failures to quarantine."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from handlers.common.contracts import ObjectRef

CHUNK_BYTES = 256 * 1024
INDEXED_TAG = "Indexed"
MAX_TAGS = 10  # S3's limit per object
MAX_PROPERTIES_BYTES = 400_000


class ImageUnavailable(Exception):
    """The image is no longer the one that was qualified. `reason`: `stale` (changed) or `missing` (gone)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class ImageInvalid(Exception):
    """The object can never be indexed (e.g. larger than the limit). `reason` is the recorded code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class ImageRead:
    fingerprint: str
    size: int
    version_id: str | None
    etag: str | None
    body: bytes | None = None


@dataclass(frozen=True)
class CurrentVersion:
    version_id: str | None
    etag: str | None


def normalise_version(version_id: str | None) -> str | None:
    return None if version_id in (None, "", "null") else version_id


def _strip_etag(etag: str | None) -> str | None:
    return etag.strip('"') if etag else None


def _error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def read_image(s3, obj: ObjectRef, *, keep_bytes: bool, max_bytes: int) -> ImageRead:
    """Stream the object's current version, checking it is still the qualified version / ETag.

    Reads the *current* object (not the pinned version) so that a newer version or a delete marker since
    qualification is seen: the qualified version is then stale / missing and must not be registered. The
    bytes are hashed as they stream; they are kept only for gateways that need them (bounded by max_bytes).
    """
    kwargs = {"Bucket": obj.bucket, "Key": obj.key}
    if obj.etag:
        kwargs["IfMatch"] = f'"{obj.etag}"'
    try:
        response = s3.get_object(**kwargs)
    except ClientError as exc:
        code = _error_code(exc)
        if code in ("NoSuchKey", "NoSuchVersion", "404") or _status(exc) == 404:
            raise ImageUnavailable("missing", f"s3://{obj.bucket}/{obj.key} no longer exists") from exc
        if code in ("PreconditionFailed", "412") or _status(exc) == 412:
            raise ImageUnavailable(
                "stale", f"s3://{obj.bucket}/{obj.key} changed (ETag is not {obj.etag})"
            ) from exc
        raise
    body = response["Body"]
    try:
        version_now = normalise_version(response.get("VersionId"))
        if version_now != normalise_version(obj.version_id):
            raise ImageUnavailable(
                "stale",
                f"s3://{obj.bucket}/{obj.key}: version {obj.version_id} is no longer current ({version_now})",
            )
        length = int(response.get("ContentLength") or 0)
        if length > max_bytes:
            raise ImageInvalid("too-large", f"{length} bytes is over the {max_bytes}-byte limit")
        digest = hashlib.sha256()
        kept = bytearray() if keep_bytes else None
        size = 0
        for chunk in body.iter_chunks(CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:
                raise ImageInvalid("too-large", f"more than the {max_bytes}-byte limit")
            digest.update(chunk)
            if kept is not None:
                kept.extend(chunk)
    finally:
        body.close()
    return ImageRead(
        fingerprint=digest.hexdigest(),
        size=size,
        version_id=version_now,
        etag=_strip_etag(response.get("ETag")),
        body=bytes(kept) if kept is not None else None,
    )


def current_version(s3, bucket: str, key: str) -> CurrentVersion | None:
    """The key's current version (HeadObject), or None when it is deleted (no object / a delete marker)."""
    try:
        response = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if _status(exc) in (404, 405) or _error_code(exc) in ("404", "NoSuchKey", "405", "MethodNotAllowed"):
            return None
        raise
    return CurrentVersion(normalise_version(response.get("VersionId")), _strip_etag(response.get("ETag")))


def tag_indexed(s3, obj: ObjectRef) -> bool:
    """Set `Indexed=True` on the object version, keeping its other tags. False when the object already has
    S3's maximum of 10 tags and none of them is `Indexed` (the history still says indexed)."""
    version = {"VersionId": obj.version_id} if obj.version_id else {}
    tags = s3.get_object_tagging(Bucket=obj.bucket, Key=obj.key, **version)["TagSet"]
    if any(t["Key"] == INDEXED_TAG and t["Value"] == "True" for t in tags):
        return True
    kept = [t for t in tags if t["Key"] != INDEXED_TAG]
    if len(kept) >= MAX_TAGS:
        return False
    s3.put_object_tagging(
        Bucket=obj.bucket,
        Key=obj.key,
        Tagging={"TagSet": [*kept, {"Key": INDEXED_TAG, "Value": "True"}]},
        **version,
    )
    return True


def load_properties(s3, ref: str) -> dict[str, str]:
    """Properties stored by reference (`s3://bucket/key`, a JSON object of strings)."""
    parts = urlsplit(ref)
    if parts.scheme != "s3" or not parts.netloc or not parts.path.strip("/"):
        raise ImageInvalid("properties-ref", f"properties_ref {ref!r} is not an s3://bucket/key URL")
    try:
        response = s3.get_object(Bucket=parts.netloc, Key=parts.path[1:])
    except ClientError as exc:
        if _status(exc) == 404:
            raise ImageInvalid("properties-missing", f"properties {ref} do not exist") from exc
        raise
    with response["Body"] as body:
        data = body.read(MAX_PROPERTIES_BYTES + 1)
    if len(data) > MAX_PROPERTIES_BYTES:
        raise ImageInvalid("properties-too-large", f"properties {ref} are over {MAX_PROPERTIES_BYTES} bytes")
    try:
        properties = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ImageInvalid("properties-invalid", f"properties {ref} are not UTF-8 JSON: {exc}") from exc
    if not isinstance(properties, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in properties.items()
    ):
        raise ImageInvalid("properties-invalid", f"properties {ref} are not a JSON object of strings")
    return properties


def quarantine_copy(s3, obj: ObjectRef, bucket: str, prefix: str) -> str:
    """Copy a permanently failed image for triage; returns the s3:// location of the copy."""
    source = {"Bucket": obj.bucket, "Key": obj.key}
    if obj.version_id:
        source["VersionId"] = obj.version_id
    key = f"{prefix}{obj.bucket}/{obj.key}"
    if obj.version_id:
        key += f".{obj.version_id}"
    s3.copy_object(Bucket=bucket, Key=key[:1024], CopySource=source, TaggingDirective="REPLACE")
    return f"s3://{bucket}/{key[:1024]}"
