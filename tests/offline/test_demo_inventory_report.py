"""An inventory delivered by offline.inventory_report is what S3 writes and what inventory_created reads."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from datetime import UTC, datetime
from urllib.parse import unquote_plus

import boto3
import pytest
from moto import mock_aws

from handlers.inventory_created.manifest import load_manifest
from handlers.inventory_created.reader import DataFileReader
from offline.inventory_report import InventoryRow, deliver_inventory

SOURCE, DESTINATION = "images", "inventories"
KEYS = ["plain.png", "a b/c+d %.jpg", "日本/é.png", 'quote"comma,.png']


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in (SOURCE, DESTINATION):
            client.create_bucket(Bucket=bucket)
        client.put_bucket_versioning(Bucket=SOURCE, VersioningConfiguration={"Status": "Enabled"})
        client.put_bucket_inventory_configuration(
            Bucket=SOURCE,
            Id="bulk-loader",
            InventoryConfiguration={
                "Id": "bulk-loader",
                "IsEnabled": True,
                "IncludedObjectVersions": "All",
                "Schedule": {"Frequency": "Daily"},
                "OptionalFields": ["ETag", "Size", "LastModifiedDate"],
                "Destination": {
                    "S3BucketDestination": {
                        "Bucket": f"arn:aws:s3:::{DESTINATION}",
                        "Format": "CSV",
                        "Prefix": "inventory",
                    }
                },
            },
        )
        yield client


def _rows(s3, key: str) -> list[list[str]]:
    data = s3.get_object(Bucket=DESTINATION, Key=key)["Body"].read()
    return list(csv.reader(io.StringIO(gzip.decompress(data).decode())))


def test_delivery_follows_the_buckets_configuration_and_s3s_layout(s3):
    for key in KEYS:
        s3.put_object(Bucket=SOURCE, Key=key, Body=key.encode())
    s3.put_object(Bucket=SOURCE, Key=KEYS[0], Body=b"second version")
    s3.delete_object(Bucket=SOURCE, Key=KEYS[1])
    now = datetime(2026, 11, 21, 6, 5, tzinfo=UTC)
    delivery = deliver_inventory(s3, source_bucket=SOURCE, now=now, rows_per_file=3)
    base = f"inventory/{SOURCE}/bulk-loader"
    assert delivery.manifest_key == f"{base}/2026-11-21T06-05Z/manifest.json"
    assert delivery.checksum_key == f"{base}/2026-11-21T06-05Z/manifest.checksum"
    assert all(key.startswith(f"{base}/data/") and key.endswith(".csv.gz") for key in delivery.data_keys)
    # 4 objects + a second version + a delete marker = 6 rows, 3 per file; columns in S3's fixed order.
    assert (delivery.rows, len(delivery.data_keys)) == (6, 2)
    assert delivery.schema == "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag"
    rows = [row for key in delivery.data_keys for row in _rows(s3, key)]
    assert {row[1] for row in rows} == {"plain.png", "a+b/c%2Bd+%25.jpg", "%E6%97%A5%E6%9C%AC/%C3%A9.png",
                                         "quote%22comma%2C.png"}  # fmt: skip
    marker = [row for row in rows if row[4] == "true"]
    assert len(marker) == 1 and marker[0][3] == "true" and marker[0][5] == "" and marker[0][7] == ""
    assert sum(row[1] == "plain.png" for row in rows) == 2
    manifest_bytes = s3.get_object(Bucket=DESTINATION, Key=delivery.manifest_key)["Body"].read()
    checksum = s3.get_object(Bucket=DESTINATION, Key=delivery.checksum_key)["Body"].read().decode()
    assert checksum == hashlib.md5(manifest_bytes).hexdigest()  # noqa: S324
    manifest = json.loads(manifest_bytes)
    assert manifest["destinationBucket"] == f"arn:aws:s3:::{DESTINATION}"
    assert manifest["creationTimestamp"] == str(int(now.timestamp() * 1000))


def test_inventory_created_reads_the_delivery_back(s3):
    for key in KEYS:
        s3.put_object(Bucket=SOURCE, Key=key, Body=b"x" * 7)
    delivery = deliver_inventory(s3, source_bucket=SOURCE)
    manifest, _ = load_manifest(s3, DESTINATION, delivery.manifest_key, delivery.checksum_key)
    keys, sizes = [], []
    for data_file in manifest.files:
        with DataFileReader(s3, manifest, data_file) as reader:
            for batch in reader.batches():
                keys += batch.column("key").to_pylist()
                sizes += batch.column("size").to_pylist()
            reader.verify()  # size and MD5 of the data file match the manifest
    assert sorted(unquote_plus(key) for key in keys) == sorted(KEYS) and set(sizes) == {7}


def test_given_rows_and_no_versions(s3):
    rows = (InventoryRow(f"k{i}.png", size=i) for i in range(5))  # a generator: streamed, not listed
    delivery = deliver_inventory(
        s3, source_bucket=SOURCE, include_versions=False, optional_fields=["Size"], rows=rows
    )
    assert delivery.schema == "Bucket, Key, Size"
    assert _rows(s3, delivery.data_keys[0]) == [[SOURCE, f"k{i}.png", str(i)] for i in range(5)]


def test_an_empty_bucket_still_gets_a_data_file_and_bad_arguments_are_named(s3):
    delivery = deliver_inventory(s3, source_bucket=SOURCE)
    assert delivery.rows == 0 and len(delivery.data_keys) == 1 and _rows(s3, delivery.data_keys[0]) == []
    with pytest.raises(ValueError, match="only CSV"):
        deliver_inventory(s3, source_bucket=SOURCE, fmt="Parquet")
    with pytest.raises(ValueError, match="Colour"):
        deliver_inventory(s3, source_bucket=SOURCE, optional_fields=["Colour"])
