"""Settings and value types used by more than one function, declared once (handlers/common/settings_model.py).

The function models inherit the mixins below; components/config.py builds its stack keys from the same fields.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import AfterValidator, BeforeValidator

from handlers.common.s3_names import bucket_name_problem
from handlers.common.settings_model import EnvSettings, setting

# Rekognition reads images from S3 up to 15 MiB (IndexFaces, "Guidelines and quotas in Amazon Rekognition").
REKOGNITION_MAX_IMAGE_BYTES = 15 * 1024 * 1024
# DynamoDB TTL has no upper limit; a year is this project's bound for keeping non-success records. The stack
# key always had it; the indexer's parser allowed 3650, which no deployed stack could reach.
MAX_HISTORY_TTL_DAYS = 365


def matching(regex: str, what: str) -> AfterValidator:
    """A validator: the whole value matches `regex`; the error says it must be `what`."""
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"must be {what}, got {value!r}")
        return value

    return AfterValidator(check)


def _bucket_name(value: str) -> str:
    problem = bucket_name_problem(value)
    if problem:
        raise ValueError(f"must be an S3 bucket name ({problem})")
    return value


def _file_suffix(value: str) -> str:
    if not re.fullmatch(r"\.[A-Za-z0-9]{1,10}", value):
        raise ValueError(f"must be a file suffix like '.jpg', got {value!r}")
    return value.lower()


def _key_suffix(value: str) -> str:
    if not value or any(c.isspace() or c == "," for c in value):
        raise ValueError(f"must be a key suffix like '.jpg', got {value!r}")
    return value.lower()


def _some_suffix(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise ValueError("lists no suffix (at least one is required)")
    return value


def _queue_url(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError(f"must be the SQS queue URL, got {value!r}")
    return value


def _gateway_url(value: str) -> str:
    parsed = urlparse(value)
    # https only; plain http is accepted for loopback addresses so the offline runtime can serve a fake API.
    loopback = parsed.hostname in {"127.0.0.1", "localhost", "::1"}
    if not parsed.hostname or parsed.scheme not in ({"https", "http"} if loopback else {"https"}):
        raise ValueError(f"must be an https:// URL (http:// only for 127.0.0.1/localhost), got {value!r}")
    if parsed.query or parsed.fragment:
        raise ValueError(f"must not carry a query or fragment, got {value!r}")
    return value.rstrip("/")


BucketName = Annotated[str, AfterValidator(_bucket_name)]
# What a key is matched by (`key.lower().endswith(suffix)`): inventory_created takes any key suffix (AWS's own
# sample inventory has keys without a file suffix); the stack and batch_qualifier take file suffixes only.
KeySuffixes = Annotated[tuple[Annotated[str, AfterValidator(_key_suffix)], ...], AfterValidator(_some_suffix)]
FileSuffixes = Annotated[
    tuple[Annotated[str, AfterValidator(_file_suffix)], ...], AfterValidator(_some_suffix)
]
GatewayUrl = Annotated[str, AfterValidator(_gateway_url)]
S3Prefix = Annotated[
    str, matching(r"(?:[^\x00-\x1f/][^\x00-\x1f]{0,500}/)?", "empty or an S3 key prefix ending in '/'")
]
CollectionId = Annotated[
    str, matching(r"[a-zA-Z0-9_.\-]{1,255}", "a Rekognition collection id ([a-zA-Z0-9_.-], 1-255)")
]
SecretArn = Annotated[
    str,
    matching(
        r"arn:aws(?:-cn|-us-gov)?:secretsmanager:[a-z]{2}(?:-[a-z]+)+-\d:\d{12}:secret:[A-Za-z0-9/_+=.@-]+",
        "a Secrets Manager secret ARN",
    ),
]
Gateway = Literal["rekognition", "http"]


class QueueSettings(EnvSettings):
    queue_url: Annotated[str, BeforeValidator(_queue_url)] | None = setting(
        None,
        env="QUEUE_URL",
        doc="The indexer's input queue: the qualifier sends to it, the indexer re-queues and changes "
        "visibility on it (unset in the indexer: taken from the event's queue ARN).",
        expect="the SQS queue URL",
    )


class HistoryTableSettings(EnvSettings):
    history_table: str | None = setting(
        None, env="HISTORY_TABLE", doc="The import-history DynamoDB table name (the qualifier: optional)."
    )


class ImageSettings(EnvSettings):
    """Which objects are images, and how big one may be (inventory_created, batch_qualifier, indexer)."""

    image_suffixes: KeySuffixes = setting(
        (".png", ".jpg", ".jpeg"),
        env="IMAGE_SUFFIXES",
        doc="Object key suffixes that count as images (lower-cased).",
    )


class ImageSizeSettings(EnvSettings):
    max_image_bytes: int = setting(
        REKOGNITION_MAX_IMAGE_BYTES,
        env="MAX_IMAGE_BYTES",
        doc="Images larger than this are left out of manifests (`too_large`) and refused by the indexer "
        "(`invalid:too-large`); default 15 MiB, Rekognition's S3 limit, which is also the maximum with "
        "gateway rekognition.",
        # No upper bound of its own: the stack never had one (the indexer's parser alone refused > 50 MiB, so
        # such a stack deployed and then failed every cold start); the HTTP API's owner sets its own limit.
        ge=1,
    )


class HistoryTtlSettings(EnvSettings):
    history_ttl_days: int = setting(
        14,
        env="HISTORY_TTL_DAYS",
        doc="Non-success import-history records expire after this many days.",
        expect=f"a positive whole number of days, at most {MAX_HISTORY_TTL_DAYS}",
        ge=1,
        le=MAX_HISTORY_TTL_DAYS,
    )


class PowertoolsSettings(EnvSettings):
    """What every handler's Powertools Logger / Metrics read (written by every component)."""

    service: str | None = setting(
        None, env="POWERTOOLS_SERVICE_NAME", doc="Service name in logs, metrics and traces: the function's."
    )
    metrics_namespace: str = setting(
        "BulkLoader",
        env="POWERTOOLS_METRICS_NAMESPACE",
        doc="CloudWatch namespace of the handlers' EMF metrics.",
        pattern=r"^[A-Za-z0-9._/#:-]{1,255}$",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = setting(
        "INFO", env="LOG_LEVEL", doc="Python log level of the handlers."
    )
    powertools_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = setting(
        "INFO", env="POWERTOOLS_LOG_LEVEL", doc="Powertools Logger level (the same as LOG_LEVEL)."
    )
