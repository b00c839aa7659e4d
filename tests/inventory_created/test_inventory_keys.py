"""Key encoding round trips (hypothesis): inventory encoding -> conversion -> S3 Batch decoding == key."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from urllib.parse import quote_plus, unquote, unquote_plus

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inventory_fixtures import INVENTORY_BUCKET

from handlers.common.contracts import decode_batch_key, encode_manifest_key
from handlers.inventory_created.convert import RowFilter, convert
from handlers.inventory_created.manifest import parse_manifest
from handlers.inventory_created.reader import DataFileReader

# Any unicode key S3 accepts (no surrogates), biased towards the characters that break encoders.
_HOSTILE = st.sampled_from([*" +%,\"'/\\;:=&?#@!$*()[]{}<>|^`~\t\n\r", "%20", "%2B", "+%", "日", "é", "😀"])
KEYS = st.lists(st.one_of(_HOSTILE, st.characters(exclude_categories=("Cs",))), min_size=1, max_size=40).map(
    "".join
)
IMAGE_KEYS = KEYS.map(lambda k: k + ".jpg")


class MemorySink:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data) -> int:
        self.data += data
        return len(data)

    def commit(self):
        return None

    def abort(self) -> None:
        pass


def _manifest_rows(data: bytes) -> list[list[str]]:
    # S3 Batch reads the manifest as CSV: parse it as CSV, so a stray comma or quote would show up here.
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def _convert_via_inventory_csv(s3, keys: list[str], safe: str) -> list[list[str]]:
    body = _csv_gz(keys, safe)
    key = "keys/data.csv.gz"
    s3.put_object(Bucket=INVENTORY_BUCKET, Key=key, Body=body)
    manifest = parse_manifest(
        {
            "destinationBucket": INVENTORY_BUCKET,
            "fileFormat": "CSV",
            "fileSchema": "Bucket, Key, Size",
            "files": [{"key": key, "MD5checksum": hashlib.md5(body, usedforsecurity=False).hexdigest()}],
        },
        "test",
    )
    sink = MemorySink()
    with DataFileReader(s3, manifest, manifest.files[0]) as reader:
        result = convert(reader.batches(), sink, RowFilter((".jpg",), 10**9), key_is_url_encoded=True)
        reader.verify()
    assert result.selected == len(keys)
    return _manifest_rows(bytes(sink.data))


def _csv_gz(keys: list[str], safe: str) -> bytes:
    """CSV inventory rows with keys form-encoded as S3 Inventory does (`+` for space; `/` kept or not)."""
    lines = "".join(f'"image-bucket","{quote_plus(k, safe=safe)}","10"\n' for k in keys)
    return gzip.compress(lines.encode("utf-8"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys=st.lists(IMAGE_KEYS, min_size=1, max_size=8), safe=st.sampled_from(["", "/"]))
def test_inventory_csv_keys_decode_back_to_the_original(s3, keys, safe):
    rows = _convert_via_inventory_csv(s3, keys, safe)
    assert [len(r) for r in rows] == [2] * len(keys)
    encoded = [r[1] for r in rows]
    # S3 Batch may apply either decoding; the qualifier applies decode_batch_key, exactly once.
    assert [unquote_plus(k) for k in encoded] == keys
    assert [unquote(k) for k in encoded] == keys
    assert [decode_batch_key(k) for k in encoded] == keys
    assert [decode_batch_key(encode_manifest_key(k)) for k in keys] == keys
    assert not any(c in k for k in encoded for c in '+," \n\r')


@settings(max_examples=150, deadline=None)
@given(keys=st.lists(IMAGE_KEYS, min_size=1, max_size=30))
def test_raw_parquet_orc_keys_are_encoded_exactly_like_the_contract(keys):
    batch = pa.RecordBatch.from_pydict({"bucket": ["image-bucket"] * len(keys), "key": keys})
    sink = MemorySink()
    convert([batch], sink, RowFilter((".jpg",), 10**9), key_is_url_encoded=False)
    encoded = [r[1] for r in _manifest_rows(bytes(sink.data))]
    assert encoded == [encode_manifest_key(k) for k in keys]
    assert [decode_batch_key(k) for k in encoded] == keys
