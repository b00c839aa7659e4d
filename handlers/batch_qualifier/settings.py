"""batch_qualifier's settings: each environment variable declared once (docs/batch-qualifier.md)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError, model_validator

from handlers.batch_qualifier.provider_loader import ProviderConfigError, parse_provider_config
from handlers.common.settings_model import SettingsError, setting
from handlers.common.shared_settings import (
    FileSuffixes,
    HistoryTableSettings,
    HistoryTtlSettings,
    ImageSettings,
    QueueSettings,
)

__all__ = ["Settings", "SettingsError"]


def _provider_config(value: Any) -> Any:
    """The variable holds JSON text; the stack hands an object (or JSON text). A ValueError, so that pydantic
    reports it against the variable or the stack key like every other invalid value."""
    if not isinstance(value, str):
        return value
    try:
        return parse_provider_config(value)
    except ProviderConfigError as exc:
        raise ValueError(str(exc).removeprefix("REGISTRATION_PROVIDER_CONFIG ")) from None


_FILE_SUFFIXES = TypeAdapter(FileSuffixes)
ProviderSpec = Annotated[str, Field(pattern=r"^(s3-tags|dynamodb-mapping|[A-Za-z_][\w.]*:[A-Za-z_]\w*)$")]


class Settings(QueueSettings, HistoryTableSettings, ImageSettings, HistoryTtlSettings):
    """What batch_qualifier reads from its environment (no HISTORY_TABLE: it writes no history)."""

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

    @model_validator(mode="after")
    def _rules(self) -> Settings:
        problems = self.unset("queue_url")  # the qualifier sends every qualified object there
        try:  # the stack's rule for imageSuffixes: file suffixes ('.png'), not any key ending
            _FILE_SUFFIXES.validate_python(self.image_suffixes)
        except ValidationError as failure:
            name = type(self).model_fields["image_suffixes"].alias
            reason = failure.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
            problems.append(
                f"environment variable {name} must be a comma-separated list like '.png,.jpg': {reason}"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self
