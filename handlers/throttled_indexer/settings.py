"""throttled_indexer's settings: each environment variable declared once (docs/throttled-indexer.md).

The gateway rules (`GATEWAY_RULES`) are shared with the stack's throttledIndexer section, which names the
same fields by their stack keys.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import model_validator

from handlers.common.settings_model import Rule, SettingsError, broken_rules, setting
from handlers.common.shared_settings import (
    BucketName,
    CollectionId,
    Gateway,
    GatewayUrl,
    HistoryTableSettings,
    HistoryTtlSettings,
    ImageSizeSettings,
    QueueSettings,
    S3Prefix,
    SecretArn,
)
from handlers.throttled_indexer.pacing import HTTP_API, REKOGNITION_APIS, REKOGNITION_USERS_APIS

__all__ = [
    "GATEWAY_RULES",
    "MAX_RATE_PER_SECOND",
    "MIN_RATE_PER_SECOND",
    "PACED_APIS",
    "Settings",
    "SettingsError",
    "paced_apis",
]

# SQS: a message's visibility timeout can be at most 12 hours from when it was received.
MAX_VISIBILITY_SECONDS = 43_200
# Bounds of a paced rate (calls per second), for the variable and the stack key alike.
MIN_RATE_PER_SECOND = 0.01
MAX_RATE_PER_SECOND = 10_000.0
# What each gateway's calls are paced under (pacing.py): Rekognition per API, the HTTP API as one limit;
# rekognitionMode users adds its user APIs (`paced_apis`).
PACED_APIS = {"rekognition": REKOGNITION_APIS, "http": (HTTP_API,)}


def paced_apis(gateway: str, rekognition_mode: str = "faces") -> tuple[str, ...]:
    """The paced APIs this gateway (and mode) calls: what one rate applies to, what an object may name."""
    users = gateway == "rekognition" and rekognition_mode == "users"
    return PACED_APIS[gateway] + (REKOGNITION_USERS_APIS if users else ())


GatewayAuth = Literal["none", "sigv4", "api-key"]
RekognitionMode = Literal["faces", "users"]
# AssociateFaces' UserMatchThreshold: 0-100, 75 when not given (Rekognition API reference, AssociateFaces).
DEFAULT_USER_MATCH_THRESHOLD = 75.0

GATEWAY_RULES = (
    Rule(
        ("gateway_url",),
        "required when {gateway} is 'http'",
        lambda s: s.gateway == "http" and not s.gateway_url,
    ),
    Rule(
        ("gateway_url", "gateway_auth"),
        "only for gateway 'http' (gateway is 'rekognition')",
        lambda s: s.gateway == "rekognition" and bool(s.gateway_url or s.gateway_auth != "none"),
    ),
    Rule(
        ("collection_id",),
        "only for gateway 'rekognition'",
        lambda s: s.gateway == "http" and s.collection_id,
    ),
    Rule(
        ("rekognition_mode", "user_match_threshold"),
        "only for gateway 'rekognition' (gateway is 'http')",
        lambda s: (
            s.gateway == "http"
            and (s.rekognition_mode != "faces" or s.user_match_threshold != DEFAULT_USER_MATCH_THRESHOLD)
        ),
    ),
    Rule(
        ("gateway_api_key_secret_arn",),
        "required when {gateway_auth} is 'api-key'",
        lambda s: s.gateway_auth == "api-key" and not s.gateway_api_key_secret_arn,
    ),
)


def rate_problem(rate: Any) -> str | None:
    """What is wrong with one paced rate ("must ..."), or None."""
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        return f"must be a number (calls per second), got {rate!r}"
    if not MIN_RATE_PER_SECOND <= rate <= MAX_RATE_PER_SECOND:
        bounds = f"{MIN_RATE_PER_SECOND:g} and {MAX_RATE_PER_SECOND:g}"
        return f"must be between {bounds} calls per second, got {rate!r}"
    return None


def _gateway_rates(raw: str, apis: tuple[str, ...], name: str) -> dict[str, float]:
    """GATEWAY_RATE_PER_SECOND: a number (every paced API of the gateway at that rate) or a JSON object of
    API name -> calls per second (`paced_apis`: rekognition IndexFaces, DeleteFaces, SearchFacesByImage and in
    mode users CreateUser, AssociateFaces, DisassociateFaces, ListFaces, DeleteUser; http: http)."""
    try:
        value = json.loads(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number or a JSON object, got {raw!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float | dict):
        raise ValueError(f"{name} must be a number or a JSON object, got {raw!r}")
    rates = dict.fromkeys(apis, value) if not isinstance(value, dict) else value
    unknown = sorted(set(rates) - set(apis))
    if unknown:
        raise ValueError(f"{name}: unknown API(s) {unknown} for this GATEWAY; allowed: {list(apis)}")
    for api, rate in rates.items():
        if problem := rate_problem(rate):
            raise ValueError(f"{name}: {api} {problem}")
    return {api: float(rate) for api, rate in rates.items()}


class Settings(HistoryTableSettings, QueueSettings, ImageSizeSettings, HistoryTtlSettings):
    """What throttled_indexer reads from its environment."""

    dlq_url: str | None = setting(
        None, env="DLQ_URL", doc="The DLQ for immediate copies of unparseable messages (unset: none)."
    )
    gateway: Gateway = setting(
        "rekognition", env="GATEWAY", doc="Face index: Rekognition IndexFaces, or POST {gatewayUrl}/register."
    )
    collection_id: CollectionId | None = setting(
        None,
        env="COLLECTION_ID",
        doc="Existing Rekognition collection; when unset (and gateway is rekognition) one is created.",
    )
    rekognition_mode: RekognitionMode = setting(
        "faces",
        env="REKOGNITION_MODE",
        doc="faces: each image a face with the user's ExternalImageId; users: also one Rekognition user per "
        "UserId (CreateUser, AssociateFaces), searchable with SearchUsers.",
    )
    user_match_threshold: float = setting(
        DEFAULT_USER_MATCH_THRESHOLD,
        env="USER_MATCH_THRESHOLD",
        doc="Mode users: AssociateFaces' UserMatchThreshold, the match confidence a face needs to join a "
        "user that has faces already (Rekognition's default 75).",
        ge=0,
        le=100,
    )
    gateway_url: GatewayUrl | None = setting(
        None, env="GATEWAY_URL", doc="Base URL of the HTTP registration API (gateway http; https only)."
    )
    gateway_auth: GatewayAuth = setting(
        "none",
        env="GATEWAY_AUTH",
        doc="How the HTTP gateway is called: unsigned, IAM SigV4, or an API key from Secrets Manager.",
    )
    gateway_api_key_secret_arn: SecretArn | None = setting(
        None,
        env="GATEWAY_API_KEY_SECRET_ARN",
        doc="For `api-key`: the Secrets Manager secret holding the key.",
    )
    # 55 s: a call must end well inside the function's timeout (the stack also keeps it below timeoutSeconds);
    # the handler's parser used to allow 0.1-900 s, which the stack never wrote.
    gateway_timeout_seconds: int = setting(
        10,
        env="GATEWAY_TIMEOUT_SECONDS",
        doc="Timeout of one gateway call (HTTP connect / read), below timeoutSeconds; a message is not "
        "started with less than 2x this + 5 s of the invocation left.",
        ge=1,
        le=55,
    )
    gateway_rates: dict[str, float] = setting(
        default_factory=dict,
        env="GATEWAY_RATE_PER_SECOND",
        doc="Calls per second per paced API, shared by every worker: a number or a JSON object of API -> "
        "rate (0.01 to 10000); unset: not paced.",
    )
    max_receive_count: int = setting(
        5, env="MAX_RECEIVE_COUNT", doc="Deliveries of a message before it moves to the DLQ.", ge=1, le=1000
    )
    backoff_base_seconds: int = setting(
        60,
        env="BACKOFF_BASE_SECONDS",
        doc="Back-off of a retried message: the first wait (it doubles per attempt).",
        ge=1,
    )
    backoff_max_seconds: int = setting(
        6 * 3600,
        env="BACKOFF_MAX_SECONDS",
        doc="Back-off of a retried message: the longest wait (within SQS's 12-hour visibility limit).",
        ge=1,
        le=MAX_VISIBILITY_SECONDS - 60,
    )
    max_wait_hours: float = setting(
        72.0,
        env="MAX_WAIT_HOURS",
        doc="How long a message may wait on a busy gateway before it is given up.",
        ge=0,
        le=24 * 14,
    )
    quarantine_bucket: BucketName | None = setting(
        None,
        env="QUARANTINE_BUCKET",
        doc="Bucket for copies of images the gateway refuses permanently (optional).",
    )
    quarantine_prefix: S3Prefix = setting(
        "quarantine/", env="QUARANTINE_PREFIX", doc="Key prefix in the quarantine bucket."
    )

    @model_validator(mode="before")
    @classmethod
    def _parse_rates(cls, data: Any) -> Any:
        raw = data.get("gateway_rates") if isinstance(data, dict) else None
        if isinstance(raw, str):
            gateway = data.get("gateway", "rekognition")
            apis = paced_apis(
                gateway if gateway in PACED_APIS else "rekognition", data.get("rekognition_mode", "faces")
            )
            data = {
                **data,
                "gateway_rates": _gateway_rates(
                    raw, apis, cls.model_fields["gateway_rates"].alias or "gateway_rates"
                ),
            }
        return data

    @model_validator(mode="after")
    def _rules(self) -> Settings:
        problems = self.unset("history_table") + broken_rules(GATEWAY_RULES, self, _env_label)
        if self.gateway == "rekognition" and not self.collection_id:
            problems.append(
                "COLLECTION_ID is required when GATEWAY is 'rekognition' (the component writes it)"
            )
        if self.backoff_base_seconds > self.backoff_max_seconds:
            problems.append(
                f"BACKOFF_BASE_SECONDS must be between 1 and BACKOFF_MAX_SECONDS ({self.backoff_max_seconds})"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _env_label(field: str) -> str:
    return Settings.model_fields[field].alias or field.upper()
