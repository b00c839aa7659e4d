"""Each function's environment, as the program deploys it, is accepted by its handler's own settings loader.

This ties the infrastructure to the handlers' contracts: a renamed or missing variable fails here, not in
Lambda. Handlers that do not exist yet are skipped.
"""

from __future__ import annotations

import importlib

import pytest
from infra_harness import REPO, env_of, run_main, stack_config

FUNCTIONS = {
    "inventory_created": "inventory-inventory-created",
    "batch_qualifier": "qualifier-function",
    "throttled_indexer": "indexer-function",
}
HTTP_INDEXER = {
    "throttledIndexer": {
        "gateway": "http",
        "gatewayUrl": "https://userportal.example.com/api",
        "gatewayAuth": "api-key",
        "gatewayApiKeySecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:portal-key-AbCdEf",
        "quarantineBucket": "photo-quarantine",
    }
}


def _load_settings(fn: str, env: dict[str, str]):
    if not (REPO / "handlers" / fn / "settings.py").exists():
        pytest.skip(f"handlers/{fn}/settings.py is not written yet")
    module = importlib.import_module(f"handlers.{fn}.settings")
    loader = getattr(module.Settings, "from_env", None) or module.Settings.from_environment
    return loader(env)


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_stack_environment_satisfies_the_handler(stack, fn):
    env = env_of(run_main(stack_config(stack), stack), FUNCTIONS[fn])
    assert _load_settings(fn, env) is not None


def test_http_gateway_environment_satisfies_the_indexer():
    env = env_of(run_main(HTTP_INDEXER), "indexer-function")
    settings = _load_settings("throttled_indexer", env)
    assert settings.gateway == "http"
    assert settings.gateway_url == "https://userportal.example.com/api"
    assert settings.gateway_api_key_secret_arn.endswith("portal-key-AbCdEf")
    assert settings.quarantine_bucket == "photo-quarantine"
    assert settings.dlq_url
