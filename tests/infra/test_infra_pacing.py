"""throttledIndexer.gatewayRatePerSecond: the stack setting, the component's environment, the handler's
parsing of it (same bounds, same APIs), and the permission the shared slot book relies on."""

from __future__ import annotations

import json

import pytest
from infra_harness import env_of, role_policy_for_function, run_main, statement

from components import sections
from components.config import ConfigError, parse_config
from handlers.throttled_indexer import pacing
from handlers.throttled_indexer import settings as handler_settings
from handlers.throttled_indexer.settings import Settings, SettingsError

HTTP = {"gateway": "http", "gatewayUrl": "https://userportal.example.com/api"}
HANDLER_ENV = {"HISTORY_TABLE": "history", "GATEWAY": "rekognition", "COLLECTION_ID": "faces"}


def test_stack_and_handler_take_the_same_bounds_apis_and_wait():
    """Declared once (handlers/throttled_indexer/settings.py): the stack key and the variable agree at the
    edges, and the pacer's wait is the one the stack's concurrency check assumes."""
    assert handler_settings.PACED_APIS == {"rekognition": pacing.REKOGNITION_APIS, "http": (pacing.HTTP_API,)}
    low, high = handler_settings.MIN_RATE_PER_SECOND, handler_settings.MAX_RATE_PER_SECOND
    for rate in (low, high):
        # (disabled: at 0.01/s no worker count passes the wait check, which is not what is tested here)
        assert sections.ThrottledIndexerSettings(enabled=False, gateway_rate_per_second=rate).gateway_rates
        assert Settings.from_env({**HANDLER_ENV, "GATEWAY_RATE_PER_SECOND": str(rate)}).gateway_rates
    for rate in (low / 2, high * 2):
        with pytest.raises(ConfigError, match="gatewayRatePerSecond: must be between"):
            parse_config({"throttledIndexer": {"gatewayRatePerSecond": rate}})
        with pytest.raises(SettingsError, match="GATEWAY_RATE_PER_SECOND: IndexFaces must be between"):
            Settings.from_env({**HANDLER_ENV, "GATEWAY_RATE_PER_SECOND": str(rate)})
    assert sections.PACER_MAX_WAIT_SECONDS == pacing.DEFAULT_MAX_WAIT_SECONDS


def test_unset_means_not_paced_and_no_variable():
    assert parse_config({}).gateway_rates == {}
    env = env_of(run_main({}), "indexer-function")
    assert "GATEWAY_RATE_PER_SECOND" not in env
    assert Settings.from_env(env).gateway_rates == {}


def test_a_number_paces_every_rekognition_api_and_reaches_the_handler():
    run = run_main({"throttledIndexer": {"gatewayRatePerSecond": 50}})
    env = env_of(run, "indexer-function")
    assert json.loads(env["GATEWAY_RATE_PER_SECOND"]) == {
        "DeleteFaces": 50.0,
        "IndexFaces": 50.0,
        "SearchFacesByImage": 50.0,
    }
    assert Settings.from_env(env).gateway_rates["IndexFaces"] == 50.0
    # The slot book is an item of the history table: the grant the history already has covers it.
    table = run.named("indexer-history").outputs["arn"]
    grant = statement(role_policy_for_function(run, "indexer-function"), "ImportHistory")
    assert {"dynamodb:GetItem", "dynamodb:UpdateItem"} <= set(grant["Action"])
    assert table in grant["Resource"]


def test_per_api_rates_for_rekognition():
    rates = {"IndexFaces": 50, "DeleteFaces": 5, "SearchFacesByImage": 20.5}
    env = env_of(run_main({"throttledIndexer": {"gatewayRatePerSecond": rates}}), "indexer-function")
    assert Settings.from_env(env).gateway_rates == {k: float(v) for k, v in rates.items()}


def test_http_takes_one_number_for_the_whole_api():
    env = env_of(run_main({"throttledIndexer": {**HTTP, "gatewayRatePerSecond": 6}}), "indexer-function")
    assert json.loads(env["GATEWAY_RATE_PER_SECOND"]) == {"http": 6.0}
    assert Settings.from_env(env).gateway_rates == {"http": 6.0}
    with pytest.raises(ConfigError, match=r"gatewayRatePerSecond: an object per API only for gateway"):
        parse_config({"throttledIndexer": {**HTTP, "gatewayRatePerSecond": {"IndexFaces": 5}}})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "gatewayRatePerSecond: must be between 0.01 and 10000"),
        (10_001, "gatewayRatePerSecond: must be between 0.01 and 10000"),
        ({"IndexFace": 5}, r"gatewayRatePerSecond: unknown API\(s\) \['IndexFace'\]; allowed: IndexFaces"),
        ({"IndexFaces": -1}, "gatewayRatePerSecond: IndexFaces: must be between"),
        ("fast", "gatewayRatePerSecond: must be a number"),
        (True, "gatewayRatePerSecond: must be a number"),
    ],
)
def test_invalid_rates_name_the_key(value, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({"throttledIndexer": {"gatewayRatePerSecond": value}})


def test_more_workers_than_the_rate_serves_in_a_wait_are_refused():
    parse_config({"throttledIndexer": {"gatewayRatePerSecond": 1, "maxConcurrency": 5}})
    with pytest.raises(
        ConfigError, match=r"maxConcurrency: 6 workers at gatewayRatePerSecond 1/s .* at most 5"
    ):
        parse_config({"throttledIndexer": {"gatewayRatePerSecond": 1, "maxConcurrency": 6}})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("0", "between 0.01 and 10000"),
        ("abc", "a number or a JSON object"),
        ("true", "a number or a JSON object"),
        ('{"http": 5}', "unknown API"),
        ('{"IndexFaces": "5"}', "IndexFaces must be a number"),
        ('{"DeleteFaces": 20000}', "DeleteFaces must be between"),
    ],
)
def test_the_handler_refuses_a_bad_variable_naming_it(raw, message):
    with pytest.raises(SettingsError, match=message) as caught:
        Settings.from_env({**HANDLER_ENV, "GATEWAY_RATE_PER_SECOND": raw})
    assert "GATEWAY_RATE_PER_SECOND" in str(caught.value)


def test_the_handler_reads_a_plain_number():
    settings = Settings.from_env({**HANDLER_ENV, "GATEWAY_RATE_PER_SECOND": "5"})
    assert settings.gateway_rates == dict.fromkeys(pacing.REKOGNITION_APIS, 5.0)


def test_rekognition_mode_users_paces_its_user_apis_too():
    """Each user API has its own quota: a number paces every API the mode calls; an object may name them
    only in mode users (mode faces never calls them), in the stack and in the variable alike."""
    users_apis = pacing.REKOGNITION_APIS + pacing.REKOGNITION_USERS_APIS
    run = run_main({"throttledIndexer": {"gatewayRatePerSecond": 20, "rekognitionMode": "users"}})
    env = env_of(run, "indexer-function")
    assert json.loads(env["GATEWAY_RATE_PER_SECOND"]) == dict.fromkeys(users_apis, 20.0)
    assert Settings.from_env(env).gateway_rates == dict.fromkeys(users_apis, 20.0)
    users = {"rekognitionMode": "users", "gatewayRatePerSecond": {"AssociateFaces": 5, "IndexFaces": 50}}
    assert parse_config({"throttledIndexer": users}).gateway_rates == {
        "AssociateFaces": 5.0,
        "IndexFaces": 50.0,
    }
    with pytest.raises(
        ConfigError, match="gatewayRatePerSecond: AssociateFaces only with rekognitionMode 'users'"
    ):
        parse_config({"throttledIndexer": {"gatewayRatePerSecond": {"AssociateFaces": 5}}})
    with pytest.raises(SettingsError, match=r"unknown API\(s\) \['AssociateFaces'\]"):
        Settings.from_env({**HANDLER_ENV, "GATEWAY_RATE_PER_SECOND": '{"AssociateFaces": 5}'})
    env = {**HANDLER_ENV, "REKOGNITION_MODE": "users", "GATEWAY_RATE_PER_SECOND": '{"AssociateFaces": 5}'}
    assert Settings.from_env(env).gateway_rates == {"AssociateFaces": 5.0}
