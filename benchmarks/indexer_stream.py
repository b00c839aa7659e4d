"""Peak memory of reading an image for the Rekognition path (hash while streaming, bytes not kept) against a
baseline that reads the whole body first, in the same run.

Run: .venv/bin/python -m benchmarks.indexer_stream
"""

from __future__ import annotations

import hashlib
import io
import tracemalloc

from botocore.response import StreamingBody

from handlers.common.contracts import ObjectRef
from handlers.throttled_indexer.images import read_image

SIZES_MB = (1, 8, 32)


class _NetworkLikeStream(io.RawIOBase):
    """Produces `size` bytes on demand, as a socket does: nothing is held before it is read."""

    def __init__(self, size: int) -> None:
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self._left)
        buffer[:n] = b"\xab" * n
        self._left -= n
        return n


class _OneObjectS3:
    """Just enough of an S3 client for read_image: one object, served as a real botocore StreamingBody."""

    def __init__(self, size: int) -> None:
        self._size = size

    def get_object(self, **_kwargs):
        return {
            "Body": StreamingBody(io.BufferedReader(_NetworkLikeStream(self._size)), self._size),
            "ContentLength": self._size,
            "ETag": '"e"',
            "VersionId": "v1",
        }


def _peak(call) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    call()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> None:
    obj = ObjectRef(bucket="bench-images", key="k.jpg", version_id="v1", etag="e")
    print(f"{'size':>6} {'streamed peak':>14} {'read-all peak':>14} {'ratio':>7}")
    for size_mb in SIZES_MB:
        s3 = _OneObjectS3(size_mb * 1024 * 1024)
        streamed = _peak(lambda s3=s3: read_image(s3, obj, keep_bytes=False, max_bytes=10**9))

        def read_all(s3=s3) -> None:
            body = s3.get_object()["Body"].read()
            hashlib.sha256(body).hexdigest()

        baseline = _peak(read_all)
        ratio = streamed / baseline
        print(f"{size_mb:>4}MB {streamed / 1024:>11.0f}KiB {baseline / 1024:>11.0f}KiB {ratio:>7.3f}")


if __name__ == "__main__":
    main()
