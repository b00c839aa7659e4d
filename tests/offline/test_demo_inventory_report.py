"""An inventory delivered by offline.aws.s3_inventory is what S3 writes and what inventory_created reads.

S3's own deliveries to compare with: tests/events/inventory (real CSV.gz, Parquet and ORC files + manifests).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from datetime import UTC, datetime
from urllib.parse import unquote_plus

import boto3
import pyarrow.orc as orc
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from handlers.inventory_created.manifest import load_manifest
from handlers.inventory_created.reader import DataFileReader
from offline.aws.s3_inventory import FIELD_ORDER, InventoryRow, deliver_inventory
from offline.deployment.program import REPO_ROOT

SOURCE, DESTINATION = "images", "inventories"
KEYS = ["plain.png", "a b/c+d %.jpg", "日本/é.png", 'quote"comma,.png']
HOSTILE_KEYS = [*KEYS, "100%+sure ,'\"x\"'.jpeg", " lead/trail space .png", "%2B-already-encoded.png"]
REAL = REPO_ROOT / "tests" / "events" / "inventory"
# The columns of S3's real (versioned) deliveries: every field up to ChecksumAlgorithm.
REAL_COLUMNS = FIELD_ORDER[: FIELD_ORDER.index("ChecksumAlgorithm") + 1]


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


def _configure_format(s3, fmt: str) -> None:
    config = s3.get_bucket_inventory_configuration(Bucket=SOURCE, Id="bulk-loader")["InventoryConfiguration"]
    config["Destination"]["S3BucketDestination"]["Format"] = fmt
    s3.put_bucket_inventory_configuration(Bucket=SOURCE, Id="bulk-loader", InventoryConfiguration=config)


def _read_back(s3, delivery) -> tuple[list[dict], bool]:
    """Every row of the delivery as inventory_created's own reader yields it; whether keys are URL-encoded."""
    manifest, _ = load_manifest(s3, DESTINATION, delivery.manifest_key, delivery.checksum_key)
    rows: list[dict] = []
    encoded = None
    for data_file in manifest.files:
        with DataFileReader(s3, manifest, data_file, need_last_modified=True) as reader:
            for batch in reader.batches():
                rows += batch.to_pylist()
            reader.verify()  # size and MD5 of the data file match the manifest
            encoded = reader.key_is_url_encoded
    return rows, bool(encoded)


@pytest.mark.parametrize("fmt", ["CSV", "Parquet", "ORC"])
def test_each_format_read_back_by_inventory_created_yields_the_rows_written(s3, fmt):
    _configure_format(s3, fmt)  # the format comes from the bucket's deployed configuration
    modified = datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=UTC)
    written = [
        InventoryRow(
            key, version_id=f"v{i}", is_latest=i % 2 == 0, size=i, last_modified=modified, etag=f"e{i}"
        )
        for i, key in enumerate(HOSTILE_KEYS)
    ]
    written.append(InventoryRow("gone.png", version_id="v9", is_delete_marker=True, last_modified=modified))
    delivery = deliver_inventory(s3, source_bucket=SOURCE, rows=written, rows_per_file=4)
    suffix = {"CSV": ".csv.gz", "Parquet": ".parquet", "ORC": ".orc"}[fmt]
    assert len(delivery.data_keys) == 2 and all(k.endswith(suffix) for k in delivery.data_keys)
    rows, encoded = _read_back(s3, delivery)
    assert encoded == (fmt == "CSV")  # only CSV keys are URL-encoded (AWS, "Amazon S3 Inventory list")
    decode = unquote_plus if encoded else str
    got = [
        (
            decode(r["key"]),
            r["version_id"],
            r["is_latest"],
            r["is_delete_marker"],
            r["size"],
            r["last_modified"],
        )
        for r in rows
    ]
    expected = [
        (w.key, w.version_id, w.is_latest, w.is_delete_marker, w.size, modified.replace(microsecond=891000))
        for w in written
    ]
    assert got == expected and {r["bucket"] for r in rows} == {SOURCE}
    manifest = json.loads(s3.get_object(Bucket=DESTINATION, Key=delivery.manifest_key)["Body"].read())
    assert manifest["fileFormat"] == fmt and manifest["fileSchema"] == delivery.schema
    symlink = s3.get_object(Bucket=DESTINATION, Key=delivery.symlink_key)["Body"].read().decode()
    assert symlink.splitlines() == [f"s3://{DESTINATION}/{key}" for key in delivery.data_keys]


@pytest.mark.parametrize(
    ("fmt", "real_file", "read_schema"),
    [
        ("Parquet", "parquet_inventory.parquet", lambda path: pq.read_schema(path)),
        ("ORC", "orc_inventory.orc", lambda path: orc.ORCFile(path).schema),
    ],
)
def test_columnar_schema_and_file_schema_match_s3s_real_delivery(s3, tmp_path, fmt, real_file, read_schema):
    delivery = deliver_inventory(
        s3, source_bucket=SOURCE, fmt=fmt, optional_fields=REAL_COLUMNS, rows=[InventoryRow("k.png", size=1)]
    )
    ours = tmp_path / real_file
    ours.write_bytes(s3.get_object(Bucket=DESTINATION, Key=delivery.data_keys[0])["Body"].read())
    real_schema, our_schema = read_schema(REAL / real_file), read_schema(ours)
    assert [(f.name, f.type, f.nullable) for f in our_schema] == [
        (f.name, f.type, f.nullable) for f in real_schema
    ]
    real_manifest = json.loads((REAL / real_file.replace(f".{real_file.rsplit('.', 1)[1]}", "_manifest.json"))
                               .read_text())  # fmt: skip
    assert delivery.schema == real_manifest["fileSchema"]
    assert (
        json.loads(s3.get_object(Bucket=DESTINATION, Key=delivery.manifest_key)["Body"].read())["fileFormat"]
        == real_manifest["fileFormat"]
    )


def test_the_configurations_prefix_filter_limits_the_listing(s3):
    config = s3.get_bucket_inventory_configuration(Bucket=SOURCE, Id="bulk-loader")["InventoryConfiguration"]
    config["Filter"] = {"Prefix": "users/"}
    s3.put_bucket_inventory_configuration(Bucket=SOURCE, Id="bulk-loader", InventoryConfiguration=config)
    for key in ("users/a.png", "other/b.png"):
        s3.put_object(Bucket=SOURCE, Key=key, Body=b"x")
    delivery = deliver_inventory(s3, source_bucket=SOURCE)
    assert [row[1] for row in _rows(s3, delivery.data_keys[0])] == ["users/a.png"]


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
    with pytest.raises(ValueError, match=r"'JSON'.*S3 Inventory writes CSV, Parquet, ORC"):
        deliver_inventory(s3, source_bucket=SOURCE, fmt="JSON")
    with pytest.raises(ValueError, match="Colour"):
        deliver_inventory(s3, source_bucket=SOURCE, optional_fields=["Colour"])
