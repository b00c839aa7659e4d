"""S3 Batch Operations' own manifest generator (CreateJob `ManifestGenerator.S3JobManifestGenerator`),
emulated: the job's object list is the source bucket's current objects that pass the filter, listed AS the
job role.

Request shape: S3 Control API Reference, S3JobManifestGenerator / JobManifestGeneratorFilter /
KeyNameConstraint. Emulated filter fields: KeyNameConstraint (MatchAnyPrefix / MatchAnySuffix /
MatchAnySubstring, case-sensitive like S3 keys), CreatedAfter / CreatedBefore (the object's LastModified),
ObjectSizeGreaterThanBytes / ObjectSizeLessThanBytes, MatchAnyStorageClass; the others (replication,
encryption) are refused rather than ignored. EnableManifestOutput true is refused too (no manifest file is
written offline). Listing needs s3:ListBucket on the source bucket (S3 API Reference, ListObjectsV2,
"Permissions"), checked against the job role, as every other read of the job.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError

EMULATED_FILTERS = frozenset(
    {
        "KeyNameConstraint",
        "CreatedAfter",
        "CreatedBefore",
        "ObjectSizeGreaterThanBytes",
        "ObjectSizeLessThanBytes",
        "MatchAnyStorageClass",
    }
)
_KEY_CONSTRAINTS = ("MatchAnyPrefix", "MatchAnySuffix", "MatchAnySubstring")


class GeneratorError(ValueError):
    """A ManifestGenerator the emulator refuses; the text names the field."""


def check(generator: dict[str, Any], account_id: str) -> str:
    """The source bucket's name, once the request is one the emulator can run (else GeneratorError)."""
    if set(generator) != {"S3JobManifestGenerator"}:
        raise GeneratorError(f"ManifestGenerator {sorted(generator)}: only S3JobManifestGenerator exists")
    spec = generator["S3JobManifestGenerator"]
    source = spec.get("SourceBucket") or ""
    if not source.startswith("arn:aws") or ":s3:::" not in source or "/" in source.split(":::", 1)[1]:
        raise GeneratorError(f"S3JobManifestGenerator.SourceBucket {source!r} is not a bucket ARN")
    if spec.get("EnableManifestOutput"):
        raise GeneratorError("S3JobManifestGenerator.EnableManifestOutput true is not emulated offline")
    owner = spec.get("ExpectedBucketOwner")
    if owner is not None and owner != account_id:
        raise GeneratorError(f"S3JobManifestGenerator.ExpectedBucketOwner {owner} is not {account_id}")
    unknown = sorted(set(spec.get("Filter") or {}) - EMULATED_FILTERS)
    if unknown:
        raise GeneratorError(f"S3JobManifestGenerator.Filter {unknown}: not emulated offline")
    return source.split(":::", 1)[1]


def generated_rows(s3: Any, generator: dict[str, Any]) -> Iterator[list[str]]:
    """[bucket, URL-encoded key] per matching object (the S3BatchOperations_CSV_20180820 row form the runner
    reads), streamed page by page. ClientError (e.g. AccessDenied on the listing) propagates."""
    spec = generator["S3JobManifestGenerator"]
    bucket = spec["SourceBucket"].split(":::", 1)[1]
    rules = spec.get("Filter") or {}
    names = rules.get("KeyNameConstraint") or {}
    prefixes = names.get("MatchAnyPrefix") or []
    listing: dict[str, Any] = {"Bucket": bucket}
    if len(prefixes) == 1:
        listing["Prefix"] = prefixes[0]
    for page in s3.get_paginator("list_objects_v2").paginate(**listing):
        for obj in page.get("Contents", []):
            if _matches(obj, rules, names):
                yield [bucket, quote(obj["Key"], safe="/")]


def _matches(obj: dict[str, Any], rules: dict[str, Any], names: dict[str, Any]) -> bool:
    key = obj["Key"]
    if names.get("MatchAnyPrefix") and not any(key.startswith(p) for p in names["MatchAnyPrefix"]):
        return False
    if names.get("MatchAnySuffix") and not any(key.endswith(s) for s in names["MatchAnySuffix"]):
        return False
    if names.get("MatchAnySubstring") and not any(s in key for s in names["MatchAnySubstring"]):
        return False
    modified: datetime = obj["LastModified"]
    if rules.get("CreatedAfter") and not modified > rules["CreatedAfter"]:
        return False
    if rules.get("CreatedBefore") and not modified < rules["CreatedBefore"]:
        return False
    size = int(obj.get("Size", 0))
    if rules.get("ObjectSizeGreaterThanBytes") is not None and not size > rules["ObjectSizeGreaterThanBytes"]:
        return False
    if rules.get("ObjectSizeLessThanBytes") is not None and not size < rules["ObjectSizeLessThanBytes"]:
        return False
    classes = rules.get("MatchAnyStorageClass")
    return not classes or obj.get("StorageClass", "STANDARD") in classes


def listing_failed(exc: ClientError, bucket: str, role_arn: str) -> str:
    error = exc.response.get("Error", {})
    return (
        f"listing s3://{bucket} for the generated manifest as {role_arn}: "
        f"{error.get('Code')}: {error.get('Message')}"
    )
