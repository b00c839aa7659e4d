"""batch_qualifier's settings: each environment variable declared once (docs/batch-qualifier.md)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from handlers.batch_qualifier.provider_loader import parse_provider_config
from handlers.common.settings_model import SettingsError, setting
from handlers.common.shared_settings import HistoryTtlSettings, ImageSettings

__all__ = ["Settings", "SettingsError"]


def _queue_url(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError(f"must be the SQS queue URL, got {value!r}")
    return value


def _provider_config(value: Any) -> Any:
    """The variable holds JSON text (parse_provider_config's errors name it); the stack hands an object."""
    return parse_provider_config(value) if isinstance(value, str) else value


ProviderSpec = Annotated[str, Field(pattern=r"^(s3-tags|dynamodb-mapping|[A-Za-z_][\w.]*:[A-Za-z_]\w*)$")]


class Settings(ImageSettings, HistoryTtlSettings):
    """What batch_qualifier reads from its environment."""

    queue_url: Annotated[str, BeforeValidator(_queue_url)] = setting(
        env="QUEUE_URL",
        doc="The indexer's input queue the qualified objects are sent to.",
        expect="the SQS queue URL",
    )
    history_table: str | None = setting(
        None, env="HISTORY_TABLE", doc="Import-history table; unset: the qualifier writes no history."
    )
    provider: ProviderSpec = setting(
        "s3-tags",
        env="REGISTRATION_PROVIDER",
        doc="`s3-tags`, `dynamodb-mapping` (+ providerConfig, extraPolicyStatements) or "
        "`package.module:Class`.",
    )
    provider_config: Annotated[dict[str, Any], BeforeValidator(_provider_config)] = setting(
        default_factory=dict,
        env="REGISTRATION_PROVIDER_CONFIG",
        doc="JSON object handed to the provider as keyword arguments.",
    )
