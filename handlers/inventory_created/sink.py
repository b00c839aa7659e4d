"""Where a batch manifest is written: a streaming S3 multipart upload, or a local file (benchmarks).

Both implement the same small interface so the conversion runs the same code path whatever the target.
Nothing becomes visible until `commit()`: an error or a failed checksum calls `abort()` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

MIN_PART_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class WrittenManifest:
    bucket: str
    key: str
    etag: str
    """ETag without quotes, as s3control:CreateJob expects it in Manifest.Location."""
    size: int


class ManifestSink(Protocol):
    def write(self, data: bytes | bytearray | memoryview) -> int: ...

    def commit(self) -> WrittenManifest | None:
        """Make the written bytes visible; None when nothing was written (no object is created)."""
        ...

    def abort(self) -> None: ...


class S3MultipartSink:
    """Streams bytes to one S3 object: a single PutObject when small, else a multipart upload.

    Holds at most one part in memory. The multipart upload starts only when the first part is full, so an
    empty or small manifest never leaves an incomplete upload behind.
    """

    def __init__(self, s3: Any, bucket: str, key: str, part_bytes: int = 8 * 1024 * 1024) -> None:
        if part_bytes < MIN_PART_BYTES:
            raise ValueError(f"part_bytes must be >= {MIN_PART_BYTES} (S3 minimum), got {part_bytes}")
        self._s3 = s3
        self.bucket = bucket
        self.key = key
        self._part_bytes = part_bytes
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._size = 0
        self._closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._closed:
            raise ValueError(f"manifest s3://{self.bucket}/{self.key} is already committed or aborted")
        self._buffer += data
        self._size += len(data)
        while len(self._buffer) >= self._part_bytes:
            self._upload_part(bytes(self._buffer[: self._part_bytes]))
            del self._buffer[: self._part_bytes]
        return len(data)

    def _upload_part(self, body: bytes) -> None:
        if self._upload_id is None:
            response = self._s3.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType="text/csv"
            )
            self._upload_id = response["UploadId"]
        number = len(self._parts) + 1
        response = self._s3.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number, Body=body
        )
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})

    def commit(self) -> WrittenManifest | None:
        if self._closed:
            raise ValueError(f"manifest s3://{self.bucket}/{self.key} is already committed or aborted")
        self._closed = True
        if self._size == 0:
            return None
        if self._upload_id is None:
            response = self._s3.put_object(
                Bucket=self.bucket, Key=self.key, Body=bytes(self._buffer), ContentType="text/csv"
            )
        else:
            if self._buffer:
                self._upload_part(bytes(self._buffer))
            response = self._s3.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._buffer = bytearray()
        return WrittenManifest(self.bucket, self.key, response["ETag"].strip('"'), self._size)

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._buffer = bytearray()
        if self._upload_id is not None:
            self._s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)


class LocalFileSink:
    """Writes the manifest to a local file (benchmarks, debugging). The ETag is the file's MD5."""

    def __init__(self, path: str) -> None:
        import hashlib

        self.path = path
        self._file = open(path, "wb")  # noqa: SIM115 - closed in commit/abort
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._file.write(data)
        self._md5.update(data)
        self._size += len(data)
        return len(data)

    def commit(self) -> WrittenManifest | None:
        self._file.close()
        if self._size == 0:
            return None
        return WrittenManifest("local", self.path, self._md5.hexdigest(), self._size)

    def abort(self) -> None:
        self._file.close()
