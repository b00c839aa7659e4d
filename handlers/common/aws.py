"""AWS clients, created once per cold start, with adaptive retries so throttling slows us down.

Tests pass their own (moto-backed or stubbed) clients to the domain functions instead of patching these.
"""

from __future__ import annotations

import functools
import os
from urllib.parse import urlsplit, urlunsplit

import boto3
from botocore.config import Config

# Adaptive mode adds client-side rate limiting on top of exponential back-off when AWS throttles.
RETRY_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": int(os.environ.get("AWS_MAX_ATTEMPTS", "8"))},
    connect_timeout=5,
    read_timeout=30,
)


@functools.cache
def client(service: str, region_name: str | None = None):
    """A boto3 client for `service`, cached for the life of the execution environment."""
    made = boto3.client(service, region_name=region_name, config=RETRY_CONFIG)
    if service == "s3control" and os.environ.get("AWS_ENDPOINT_URL"):
        made.meta.events.register("before-sign.s3-control", strip_account_host_prefix)
    return made


def dynamodb_table(name: str):
    """A boto3 DynamoDB Table resource (the import history), with the same retry configuration."""
    return boto3.resource("dynamodb", config=RETRY_CONFIG).Table(name)


def strip_account_host_prefix(request, **_kwargs) -> None:
    """Behind a custom endpoint (AWS_ENDPOINT_URL: the offline runtime), drop the `<account id>.` that the
    s3control endpoint rules put in front of the host: `123456789012.127.0.0.1` cannot resolve. Runs before
    signing, so the signature covers the host actually used. Against AWS itself this is never registered."""
    parts = urlsplit(request.url)
    host, _, rest = parts.netloc.partition(".")
    if host.isdigit() and len(host) == 12 and rest:
        request.url = urlunsplit(parts._replace(netloc=rest))
