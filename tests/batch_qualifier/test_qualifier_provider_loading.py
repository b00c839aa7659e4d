"""Choosing the registration provider by configuration, with clear errors at cold start."""

from __future__ import annotations

import re

import pytest
from qualifier_fixtures import IMAGE_BUCKET, PNG, make_task

from handlers.batch_qualifier.bootstrap import build_qualifier
from handlers.batch_qualifier.provider_loader import (
    ProviderConfigError,
    build_provider,
    load_provider_class,
    parse_provider_config,
)
from handlers.batch_qualifier.providers.dynamodb_mapping import DynamoDbMappingProvider
from handlers.batch_qualifier.providers.s3_tags import S3TagsProvider
from handlers.batch_qualifier.settings import Settings, SettingsError

CUSTOM = "qualifier_custom_provider:FolderProvider"


def test_builtin_names_resolve():
    assert load_provider_class("s3-tags") is S3TagsProvider
    assert load_provider_class("dynamodb-mapping") is DynamoDbMappingProvider


def test_a_custom_provider_is_loaded_from_its_import_path_and_used(env):
    settings = Settings.from_env(
        {
            "QUEUE_URL": env.queue_url,
            "REGISTRATION_PROVIDER": CUSTOM,
            "REGISTRATION_PROVIDER_CONFIG": '{"department": "R&D"}',
        }
    )
    qualifier = build_qualifier(settings, env.clients, history_table=lambda name: None)
    env.s3.put_object(Bucket=IMAGE_BUCKET, Key="users/bob/face.png", Body=PNG)
    env.s3.put_object(Bucket=IMAGE_BUCKET, Key="elsewhere/face.png", Body=PNG)
    assert qualifier.qualify(make_task("users/bob/face.png")).result_string == "queued"
    assert qualifier.qualify(make_task("elsewhere/face.png")).result_string.startswith(
        "invalid:no-user-folder"
    )
    (body,) = env.queued_messages()
    assert (body["user_id"], body["properties"]) == ("bob", {"department": "R&D"})
    # The custom provider never read tags: the choice really replaced the default.
    assert "GetObjectTagging" not in env.clients.calls


def test_history_is_wired_when_a_table_is_named(env):
    settings = Settings.from_env({"QUEUE_URL": env.queue_url, "HISTORY_TABLE": "qualifier-history"})
    qualifier = build_qualifier(settings, env.clients, history_table=lambda name: env.history_table)
    env.s3.put_object(Bucket=IMAGE_BUCKET, Key="a.png", Body=PNG, Tagging="UserId=alice")
    assert qualifier.qualify(make_task("a.png")).result_string == "queued"
    assert env.history_item("a.png")["status"] == "queued"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tags", "neither a built-in provider (s3-tags, dynamodb-mapping) nor an import path"),
        ("no_such_module_xyz:Provider", "cannot import module 'no_such_module_xyz'"),
        ("qualifier_custom_provider:Missing", "module 'qualifier_custom_provider' has no 'Missing'"),
        ("qualifier_custom_provider:not_a_class", "'not_a_class' is a int, not a class"),
        (
            "qualifier_custom_provider:NotAProvider",
            "NotAProvider does not implement the registration provider",
        ),
        ("qualifier_custom_provider:", "neither a built-in provider"),
    ],
)
def test_a_wrong_provider_fails_with_a_clear_error(spec, message):
    with pytest.raises(ProviderConfigError, match=re.escape(message)):
        load_provider_class(spec)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "REGISTRATION_PROVIDER_CONFIG is not valid JSON"),
        ('["a"]', "must be a JSON object, not a JSON list"),
        ('{"clients": 1}', "may not set 'clients'"),
    ],
)
def test_malformed_provider_config_fails_with_a_clear_error(raw, message):
    with pytest.raises(ProviderConfigError, match=message):
        parse_provider_config(raw)


def test_config_the_provider_does_not_accept_fails_at_construction():
    with pytest.raises(ProviderConfigError, match=r"rejected REGISTRATION_PROVIDER_CONFIG.*colour"):
        build_provider(CUSTOM, {"colour": "blue"}, clients=lambda service: None)


def test_dynamodb_provider_without_its_table_fails_at_construction():
    with pytest.raises(ProviderConfigError, match="table_name"):
        build_provider("dynamodb-mapping", {}, clients=lambda service: None)


def test_dynamodb_provider_with_a_bad_key_template_fails_at_construction():
    with pytest.raises(ProviderConfigError, match="only use the placeholders"):
        build_provider(
            "dynamodb-mapping", {"table_name": "t", "key_template": "{owner}"}, clients=lambda s: None
        )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "QUEUE_URL must be the SQS queue URL"),
        ({"QUEUE_URL": "qualifier-input"}, "QUEUE_URL must be the SQS queue URL"),
        ({"QUEUE_URL": "https://q", "IMAGE_SUFFIXES": "png,jpg"}, "IMAGE_SUFFIXES must be"),
        ({"QUEUE_URL": "https://q", "HISTORY_TTL_DAYS": "0"}, "HISTORY_TTL_DAYS must be a positive"),
        ({"QUEUE_URL": "https://q", "HISTORY_TTL_DAYS": "two"}, "HISTORY_TTL_DAYS must be a positive"),
    ],
)
def test_settings_errors_name_the_variable(environ, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(environ)


def test_settings_defaults():
    settings = Settings.from_env({"QUEUE_URL": "https://sqs.example/q"})
    assert settings.provider == "s3-tags"
    assert settings.provider_config == {}
    assert settings.image_suffixes == (".png", ".jpg", ".jpeg")
    assert settings.history_table is None
    assert settings.history_ttl_days == 14
    custom = Settings.from_env({"QUEUE_URL": "https://q", "IMAGE_SUFFIXES": " .PNG , .webp "})
    assert custom.image_suffixes == (".png", ".webp")
