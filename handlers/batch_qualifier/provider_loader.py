"""Choosing the registration provider by configuration: a built-in name or an import path `module:Class`.

Everything that can be wrong with the choice is found here, at cold start, so no task runs with a broken one.
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Mapping
from typing import Any

from handlers.batch_qualifier.registration import ClientFactory, RegistrationProvider

BUILTIN_PROVIDERS = {
    "s3-tags": "handlers.batch_qualifier.providers.s3_tags:S3TagsProvider",
    "dynamodb-mapping": "handlers.batch_qualifier.providers.dynamodb_mapping:DynamoDbMappingProvider",
}


class ProviderConfigError(Exception):
    """REGISTRATION_PROVIDER / REGISTRATION_PROVIDER_CONFIG cannot give a working provider."""


def load_provider_class(spec: str) -> type:
    """Resolve `spec` (a built-in name or `module:Class`) to a class implementing RegistrationProvider."""
    path = BUILTIN_PROVIDERS.get(spec, spec)
    module_name, colon, class_name = path.partition(":")
    if not colon or not module_name or not class_name:
        raise ProviderConfigError(
            f"REGISTRATION_PROVIDER={spec!r} is neither a built-in provider ({', '.join(BUILTIN_PROVIDERS)}) "
            "nor an import path of the form 'package.module:ClassName'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ProviderConfigError(
            f"REGISTRATION_PROVIDER={spec!r}: cannot import module {module_name!r}: {exc}"
        ) from exc
    provider_class = getattr(module, class_name, None)
    if provider_class is None:
        raise ProviderConfigError(
            f"REGISTRATION_PROVIDER={spec!r}: module {module_name!r} has no {class_name!r}"
        )
    if not inspect.isclass(provider_class):
        raise ProviderConfigError(
            f"REGISTRATION_PROVIDER={spec!r}: {class_name!r} is a "
            f"{type(provider_class).__name__}, not a class"
        )
    if not callable(getattr(provider_class, "get_registration_data", None)):
        raise ProviderConfigError(
            f"REGISTRATION_PROVIDER={spec!r}: {class_name} does not implement the registration provider "
            "interface (it has no method get_registration_data(task))"
        )
    return provider_class


def parse_provider_config(raw: str | None) -> dict[str, Any]:
    """REGISTRATION_PROVIDER_CONFIG: a JSON object (its members become constructor keyword arguments)."""
    if raw is None or not raw.strip():
        return {}
    try:
        config = json.loads(raw)
    except ValueError as exc:
        raise ProviderConfigError(f"REGISTRATION_PROVIDER_CONFIG is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise ProviderConfigError(
            f"REGISTRATION_PROVIDER_CONFIG must be a JSON object, not a JSON {type(config).__name__}"
        )
    if "clients" in config:
        raise ProviderConfigError(
            "REGISTRATION_PROVIDER_CONFIG may not set 'clients' (the qualifier passes it)"
        )
    return config


def build_provider(spec: str, config: Mapping[str, Any], clients: ClientFactory) -> RegistrationProvider:
    """Construct the provider as `Class(clients=clients, **config)`, turning its complaints into one error."""
    provider_class = load_provider_class(spec)
    try:
        provider = provider_class(clients=clients, **config)
    except (TypeError, ValueError) as exc:
        raise ProviderConfigError(
            f"REGISTRATION_PROVIDER={spec!r} rejected REGISTRATION_PROVIDER_CONFIG {dict(config)!r}: {exc}"
        ) from exc
    if not isinstance(provider, RegistrationProvider):
        raise ProviderConfigError(
            f"REGISTRATION_PROVIDER={spec!r} built an object without get_registration_data"
        )
    return provider
