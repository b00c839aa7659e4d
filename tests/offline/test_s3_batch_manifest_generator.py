"""The S3 Batch emulator's manifest generator: which requests it refuses, which objects it lists (moto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import boto3
import pytest

from offline.aws.s3_batch.manifest_generator import GeneratorError, check, generated_rows

ACCOUNT = "123456789012"


def _generator(**spec):
    return {
        "S3JobManifestGenerator": {
            "SourceBucket": "arn:aws:s3:::photos",
            "EnableManifestOutput": False,
            **spec,
        }
    }


def test_a_plain_generator_names_its_bucket() -> None:
    assert check(_generator(ExpectedBucketOwner=ACCOUNT), ACCOUNT) == "photos"


@pytest.mark.parametrize(
    ("generator", "message"),
    [
        ({"Other": {}}, "only S3JobManifestGenerator"),
        (_generator(SourceBucket="photos"), "is not a bucket ARN"),
        (_generator(EnableManifestOutput=True), "EnableManifestOutput true is not emulated"),
        (_generator(ExpectedBucketOwner="210987654321"), "ExpectedBucketOwner 210987654321 is not"),
        (_generator(Filter={"EligibleForReplication": True}), "['EligibleForReplication']: not emulated"),
    ],
)
def test_refused_generators_say_why(generator, message) -> None:
    with pytest.raises(GeneratorError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check(generator, ACCOUNT)


def test_rows_follow_the_filter(aws) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="photos")
    for key, body in {
        "users/a b+c.jpg": b"x" * 10,
        "users/b.JPG": b"x" * 10,
        "users/tiny.jpg": b"x",
        "users/notes.txt": b"x" * 10,
        "other/c.jpg": b"x" * 10,
    }.items():
        s3.put_object(Bucket="photos", Key=key, Body=body)
    rows = list(
        generated_rows(
            s3,
            _generator(
                Filter={
                    "KeyNameConstraint": {"MatchAnyPrefix": ["users/"], "MatchAnySuffix": [".jpg", ".JPG"]},
                    "ObjectSizeGreaterThanBytes": 1,
                    "CreatedAfter": datetime.now(UTC) - timedelta(hours=1),
                }
            ),
        )
    )
    assert sorted(unquote(key) for _bucket, key in rows) == ["users/a b+c.jpg", "users/b.JPG"]
    assert ["photos", "users/a%20b%2Bc.jpg"] in rows  # keys URL-encoded, as in a CSV manifest
    later = _generator(Filter={"CreatedAfter": datetime.now(UTC) + timedelta(hours=1)})
    assert list(generated_rows(s3, later)) == []
