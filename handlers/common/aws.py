"""AWS clients, created once per cold start, with adaptive retries so throttling slows us down.

Tests pass their own (moto-backed or stubbed) clients to the domain functions instead of patching these.
"""

from __future__ import annotations

import functools
import os

import boto3
from botocore.config import Config

# Adaptive mode adds client-side rate limiting on top of exponential back-off when AWS throttles.
RETRY_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": int(os.environ.get("AWS_MAX_ATTEMPTS", "8"))},
    connect_timeout=5,
    read_timeout=30,
    # Behind a custom endpoint (AWS_ENDPOINT_URL: the offline runtime) the `{AccountId}.` host prefix botocore
    # adds to s3control calls cannot resolve; against AWS itself the prefix stays.
    inject_host_prefix=not os.environ.get("AWS_ENDPOINT_URL"),
)


@functools.cache
def client(service: str, region_name: str | None = None):
    """A boto3 client for `service`, cached for the life of the execution environment."""
    return boto3.client(service, region_name=region_name, config=RETRY_CONFIG)
