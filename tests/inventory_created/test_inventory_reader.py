"""DataFileReader: CSV column order (fileSchema, header row, default), corrupt files, columnar formats."""

from __future__ import annotations

import gzip
import hashlib

import pytest
from inventory_fixtures import INVENTORY_BUCKET, Row, csv_gz, orc_bytes, parquet_bytes

from handlers.inventory_created.errors import DataFileError, ManifestError
from handlers.inventory_created.manifest import parse_manifest
from handlers.inventory_created.reader import DataFileReader


def _read(s3, body: bytes, *, fmt="CSV", schema=None, md5=None, size=None, need_last_modified=False):
    key = f"data/file.{fmt.lower()}"
    s3.put_object(Bucket=INVENTORY_BUCKET, Key=key, Body=body)
    entry = {"key": key, "MD5checksum": md5 or hashlib.md5(body, usedforsecurity=False).hexdigest()}
    if size is not None:
        entry["size"] = size
    manifest = {"destinationBucket": INVENTORY_BUCKET, "fileFormat": fmt, "files": [entry]}
    if schema:
        manifest["fileSchema"] = schema
    parsed = parse_manifest(manifest, "test")
    with DataFileReader(s3, parsed, parsed.files[0], need_last_modified=need_last_modified) as reader:
        rows = [row for batch in reader.batches() for row in batch.to_pylist()]
        reader.verify()
    return reader, rows


def test_header_row_gives_the_column_order_when_the_manifest_has_no_file_schema(s3):
    fields = ["Key", "Size", "Bucket", "IsLatest"]
    _, rows = _read(s3, csv_gz([Row("a b.jpg", size=5)], header=True, fields=fields))
    assert rows == [{"bucket": "image-bucket", "key": "a+b.jpg", "is_latest": True, "size": 5}]


def test_default_column_order_without_file_schema_or_header(s3):
    _, rows = _read(s3, csv_gz([Row("x.png", version_id="v1", is_latest=False)]))
    assert rows == [
        {
            "bucket": "image-bucket",
            "key": "x.png",
            "version_id": "v1",
            "is_latest": False,
            "is_delete_marker": False,
            "size": 1024,
        }
    ]


def test_last_modified_is_read_only_when_needed(s3):
    reader, rows = _read(s3, csv_gz([Row("x.png")]), need_last_modified=True)
    assert "last_modified" in reader.columns
    assert rows[0]["last_modified"].isoformat() == "2024-05-01T12:00:00+00:00"


def test_file_schema_without_a_key_column_is_a_clear_error(s3):
    with pytest.raises(
        DataFileError, match=r"manifest fileSchema of s3://inventory-bucket/data/file.csv has no key"
    ):
        _read(s3, csv_gz([Row("x.png")], fields=["Bucket", "Size"]), schema="Bucket, Size")


def test_file_schema_with_an_empty_name_is_a_manifest_error(s3):
    with pytest.raises(ManifestError, match="empty field name"):
        _read(s3, csv_gz([Row("x.png")]), schema="Bucket,,Key")


def test_rows_with_missing_fields_name_the_file(s3):
    body = gzip.compress(b'"image-bucket","a.jpg","v"\n"image-bucket"\n')
    with pytest.raises(
        DataFileError, match=r"s3://inventory-bucket/data/file.csv cannot be read .*Expected 3"
    ):
        _read(s3, body, schema="Bucket, Key, VersionId")


def test_not_gzip_is_a_clear_error(s3):
    with pytest.raises(DataFileError, match="not a valid gzip stream"):
        _read(s3, b"Bucket,Key\nimage-bucket,a.jpg\n")


def test_size_mismatch_is_detected(s3):
    body = csv_gz([Row("a.jpg")])
    with pytest.raises(DataFileError, match=rf"is {len(body)} bytes, the manifest says {len(body) + 1}"):
        _read(s3, body, size=len(body) + 1)


def test_corrupt_gzip_with_wrong_checksum_reports_the_checksum(s3):
    body = bytearray(csv_gz([Row(f"k{i}.jpg") for i in range(2000)]))
    md5 = hashlib.md5(bytes(body), usedforsecurity=False).hexdigest()
    body[len(body) // 2] ^= 0xFF  # a flipped byte: gzip's CRC fails, and the MD5 says why
    with pytest.raises(DataFileError, match="the file is corrupt"):
        _read(s3, bytes(body), md5=md5)


@pytest.mark.parametrize(("fmt", "make"), [("Parquet", parquet_bytes), ("ORC", orc_bytes)])
def test_columnar_wrong_checksum_is_rejected_before_parsing(s3, fmt, make):
    with pytest.raises(DataFileError, match=r"is corrupt: its MD5 is [0-9a-f]{32}"):
        _read(s3, make([Row("a.jpg")]), fmt=fmt, md5="0" * 32)


@pytest.mark.parametrize(("fmt", "make"), [("Parquet", parquet_bytes), ("ORC", orc_bytes)])
def test_columnar_keys_are_raw(s3, fmt, make):
    _, rows = _read(s3, make([Row("a b+c%.jpg", version_id=None)]), fmt=fmt)
    assert rows[0]["key"] == "a b+c%.jpg" and rows[0]["version_id"] is None


def test_garbage_parquet_is_a_clear_error(s3):
    with pytest.raises(
        DataFileError, match=r"Parquet data file s3://inventory-bucket/data/file.parquet cannot be read"
    ):
        _read(s3, b"PAR1 not really", fmt="Parquet")


def test_missing_data_file_is_named(s3):
    parsed = parse_manifest(
        {"destinationBucket": INVENTORY_BUCKET, "fileFormat": "CSV", "files": [{"key": "gone.csv.gz"}]},
        "test",
    )
    with (
        pytest.raises(
            DataFileError, match=r"data file s3://inventory-bucket/gone.csv.gz listed in the manifest"
        ),
        DataFileReader(s3, parsed, parsed.files[0]) as reader,
    ):
        list(reader.batches())


@pytest.mark.parametrize("body", [b"", gzip.compress(b"")], ids=["zero-bytes", "empty-gzip"])
def test_empty_csv_data_files_have_no_rows(s3, body):
    reader, rows = _read(s3, body)
    assert rows == [] and reader.rows == 0
