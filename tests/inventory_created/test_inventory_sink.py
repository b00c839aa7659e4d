"""S3MultipartSink on moto: single PUT when small, multipart when large, nothing left behind on abort."""

from __future__ import annotations

import hashlib

import pytest
from inventory_fixtures import MANIFEST_BUCKET

from handlers.inventory_created.sink import MIN_PART_BYTES, LocalFileSink, S3MultipartSink


def _uploads(s3) -> list:
    return s3.list_multipart_uploads(Bucket=MANIFEST_BUCKET).get("Uploads", [])


def test_small_manifest_is_one_put(s3):
    sink = S3MultipartSink(s3, MANIFEST_BUCKET, "m/small.csv", MIN_PART_BYTES)
    sink.write(b"b,k1\n")
    sink.write(b"b,k2\n")
    written = sink.commit()
    assert (
        written.size == 10 and written.etag == hashlib.md5(b"b,k1\nb,k2\n", usedforsecurity=False).hexdigest()
    )
    assert s3.get_object(Bucket=MANIFEST_BUCKET, Key="m/small.csv")["Body"].read() == b"b,k1\nb,k2\n"


def test_large_manifest_streams_in_parts(s3):
    chunk = b"image-bucket,some/key.jpg,null\n" * 40_000  # ~1.2 MB per write
    sink = S3MultipartSink(s3, MANIFEST_BUCKET, "m/large.csv", MIN_PART_BYTES)
    for _ in range(10):
        sink.write(chunk)
        assert len(sink._buffer) < MIN_PART_BYTES  # never more than one part held in memory
    written = sink.commit()
    body = s3.get_object(Bucket=MANIFEST_BUCKET, Key="m/large.csv")["Body"].read()
    assert body == chunk * 10 and written.size == len(body)
    assert written.etag.endswith("-3")  # 5 MiB + 5 MiB + rest
    assert _uploads(s3) == []


def test_abort_leaves_no_object_and_no_upload(s3):
    sink = S3MultipartSink(s3, MANIFEST_BUCKET, "m/aborted.csv", MIN_PART_BYTES)
    sink.write(b"x" * (MIN_PART_BYTES + 1))
    assert len(_uploads(s3)) == 1
    sink.abort()
    assert _uploads(s3) == []
    assert s3.list_objects_v2(Bucket=MANIFEST_BUCKET).get("KeyCount") == 0
    with pytest.raises(ValueError, match="already committed or aborted"):
        sink.write(b"more")


def test_empty_manifest_creates_nothing(s3):
    assert S3MultipartSink(s3, MANIFEST_BUCKET, "m/empty.csv").commit() is None
    assert s3.list_objects_v2(Bucket=MANIFEST_BUCKET).get("KeyCount") == 0


def test_part_size_below_s3_minimum_is_refused(s3):
    with pytest.raises(ValueError, match="part_bytes must be >= 5242880"):
        S3MultipartSink(s3, MANIFEST_BUCKET, "m/x.csv", 1024)


def test_local_file_sink(tmp_path):
    sink = LocalFileSink(str(tmp_path / "m.csv"))
    sink.write(b"a,b\n")
    assert sink.commit().size == 4 and (tmp_path / "m.csv").read_bytes() == b"a,b\n"
