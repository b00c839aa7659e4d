"""Manifest validation and identity (inventory id, source bucket)."""

from __future__ import annotations

import pytest

from handlers.inventory_created.errors import ManifestError
from handlers.inventory_created.manifest import inventory_id, load_manifest, parse_manifest, source_bucket

VALID = {"destinationBucket": "arn:aws:s3:::inv-bucket", "fileFormat": "CSV", "files": [{"key": "a.csv.gz"}]}


def test_arn_or_name_and_any_case_format():
    manifest = parse_manifest({**VALID, "fileFormat": "parquet"}, "test")
    assert manifest.destination_bucket == "inv-bucket" and manifest.file_format == "Parquet"
    assert (
        parse_manifest({**VALID, "destinationBucket": "inv-bucket"}, "test").destination_bucket
        == "inv-bucket"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"destinationBucket": None}, "destinationBucket: Field required"),
        ({"fileFormat": "JSON"}, "fileFormat: Value error, unknown inventory format 'JSON'"),
        ({"destinationBucket": "arn:aws:sqs:us-east-1:1:q"}, "must be an S3 bucket ARN"),
        ({"destinationBucket": "Not_A_Bucket"}, "is not a valid S3 bucket name"),
        ({"files": [{"size": 3}]}, r"files\.0\.key: Field required"),
        ({"files": [{"key": "a", "MD5checksum": "xyz"}]}, "must be 32 hexadecimal digits"),
        ({"files": "a.csv.gz"}, "files: Input should be a valid list"),
    ],
)
def test_invalid_manifests_name_the_field(change, message):
    data = {k: v for k, v in {**VALID, **change}.items() if v is not None}
    with pytest.raises(ManifestError, match=rf"manifest s3://b/k is invalid: .*{message}"):
        parse_manifest(data, "s3://b/k")


def test_missing_field():
    with pytest.raises(ManifestError, match="fileFormat: Field required"):
        parse_manifest({"destinationBucket": "inv-bucket", "files": []}, "payload")


def test_not_an_object():
    with pytest.raises(ManifestError, match="must be a JSON object, got list"):
        parse_manifest([], "payload")


def test_manifest_that_is_not_json_or_missing(s3):
    s3.put_object(Bucket="inventory-bucket", Key="x/manifest.json", Body=b"{not json")
    with pytest.raises(
        ManifestError, match=r"manifest s3://inventory-bucket/x/manifest.json is not valid JSON"
    ):
        load_manifest(s3, "inventory-bucket", "x/manifest.json")
    with pytest.raises(ManifestError, match=r"manifest s3://inventory-bucket/y/manifest.json does not exist"):
        load_manifest(s3, "inventory-bucket", "y/manifest.json")


def test_inventory_id_and_source_from_key_timestamp_or_content():
    manifest = parse_manifest({**VALID, "creationTimestamp": "1714611600000"}, "t")
    key = "inventories/image-bucket/daily/2024-05-02T01-00Z/manifest.json"
    assert inventory_id(manifest, key, "ab" * 16) == "2024-05-02T01-00Z"
    assert inventory_id(manifest, None, "ab" * 16) == "2024-05-02T01-00Z"
    assert inventory_id(parse_manifest(VALID, "t"), None, "ab" * 16) == "manual-" + "ab" * 8
    assert source_bucket(manifest, key) == "image-bucket"
    assert source_bucket(parse_manifest({**VALID, "sourceBucket": "src-b"}, "t"), key) == "src-b"
    assert source_bucket(manifest, None) == "unknown-source"  # VALID's data file key has no layout
    laid_out = parse_manifest({**VALID, "files": [{"key": "inv/image-bucket/daily/data/x.csv.gz"}]}, "t")
    assert source_bucket(laid_out, None) == "image-bucket"
