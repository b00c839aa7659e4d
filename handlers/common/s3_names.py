"""S3 bucket names and bucket ARNs as events carry them: checked, with a reason that says what is wrong.

Rules: "General purpose bucket naming rules",
https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html - 3-63 characters; only lowercase
letters, digits, '.' and '-'; begins and ends with a letter or digit; no two adjacent periods; not formatted
as an IP address. The same page reserves prefixes and suffixes (`xn--`, `sthree-`, `amzn-s3-demo-`,
`-s3alias`, `--ol-s3`, `.mrap`, `--x-s3`, `--table-s3`) for *creating* buckets; they are not checked here,
because a bucket that exists and that S3 sends us (named before a reservation, or an access point alias,
which S3 accepts wherever a bucket name goes) must be read, not refused.
"""

from __future__ import annotations

import ipaddress
import re

_CHARACTERS = re.compile(r"[a-z0-9.-]+")
# ARN format: arn:<partition>:<service>:<region>:<account>:<resource>
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html). Partitions are `aws` and
# `aws-<name>` (aws-cn, aws-us-gov, aws-eusc, aws-iso, aws-iso-b, ...), so any of that shape is accepted.
# A bucket ARN leaves region and account empty (arn:aws:s3:::bucket), but S3 Batch Operations' own schema 1.0
# example fills them in (arn:aws:s3:us-east-1:0123456788:awsexamplebucket1,
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-invoke-lambda.html): both are accepted.
_BUCKET_ARN = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):s3:(?P<region>[a-z0-9-]*):(?P<account>\d*):(?P<rest>.*)"
)


def bucket_name_problem(name: object) -> str | None:
    """What is wrong with `name` as a general purpose bucket name ("must ..."), or None when it is one."""
    if not isinstance(name, str):
        return f"must be a bucket name string, got {type(name).__name__}"
    if not 3 <= len(name) <= 63:
        return f"must be a bucket name of 3-63 characters, got {len(name)}: {name[:80]!r}"
    if not _CHARACTERS.fullmatch(name):
        bad = "".join(sorted({c for c in name if not _CHARACTERS.fullmatch(c)}))
        return f"must hold only lowercase letters, digits, '.' and '-' (a bucket name), not {bad!r}: {name!r}"
    if not (name[0].isalnum() and name[-1].isalnum()):
        return f"must begin and end with a letter or digit (a bucket name): {name!r}"
    if ".." in name:
        return f"must not contain two adjacent periods (a bucket name): {name!r}"
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return None
    return f"must not be formatted as an IP address (a bucket name): {name!r}"


def bucket_from_arn(arn: object) -> tuple[str | None, str | None]:
    """(bucket name, None) from an S3 bucket ARN, or (None, what is wrong with it)."""
    if not isinstance(arn, str) or not arn:
        return None, f"must be a non-empty S3 bucket ARN string, got {arn!r}"
    match = _BUCKET_ARN.fullmatch(arn)
    if match is None:
        return (
            None,
            f"is not an S3 bucket ARN (arn:<partition>:s3:<region>:<account>:<bucket>): {arn[:200]!r}",
        )
    bucket = match["rest"]
    if not bucket:
        return None, f"names no bucket: {arn[:200]!r}"
    # Bucket names cannot hold ":" or "/": a longer resource part (an object, an access point) is refused.
    problem = bucket_name_problem(bucket)
    if problem:
        return None, f"bucket part {problem} (in {arn[:200]!r})"
    return bucket, None
