"""Settings.from_env: defaults, normalisation and clear errors."""

from __future__ import annotations

import pytest

from handlers.inventory_created.errors import SettingsError
from handlers.inventory_created.settings import Settings

REQUIRED = {"BATCH_FUNCTION_ARN": "arn:fn", "BATCH_ROLE_ARN": "arn:role", "MANIFEST_BUCKET": "mb"}


def test_defaults():
    settings = Settings.from_env(REQUIRED)
    assert settings == Settings(batch_function_arn="arn:fn", batch_role_arn="arn:role", manifest_bucket="mb")
    assert settings.image_suffixes == (".png", ".jpg", ".jpeg")
    assert settings.max_image_bytes == 15_728_640
    assert (settings.manifest_prefix, settings.report_prefix, settings.state_prefix) == (
        "batch/manifests/",
        "batch/reports/",
        "batch/state/",
    )
    # Issue 15: incremental by default (the first run of a stack has no state and selects every object).
    assert settings.only_new_objects is True


def test_overrides_are_normalised():
    settings = Settings.from_env(
        {**REQUIRED, "IMAGE_SUFFIXES": " .PNG, .webp ,", "MANIFEST_PREFIX": "/m", "ONLY_NEW_OBJECTS": "False"}
    )
    assert settings.image_suffixes == (".png", ".webp")
    assert settings.manifest_prefix == "m/"
    assert settings.only_new_objects is False


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MANIFEST_BUCKET": ""}, "MANIFEST_BUCKET is required"),
        ({"MAX_IMAGE_BYTES": "big"}, "MAX_IMAGE_BYTES must be an integer, got 'big'"),
        ({"MAX_IMAGE_BYTES": "0"}, "MAX_IMAGE_BYTES must be >= 1"),
        ({"ONLY_NEW_OBJECTS": "maybe"}, "ONLY_NEW_OBJECTS must be true or false"),
        ({"IMAGE_SUFFIXES": " , "}, "IMAGE_SUFFIXES lists no suffix"),
        ({"MANIFEST_PART_BYTES": "1024"}, "MANIFEST_PART_BYTES must be >= 5242880"),
    ],
)
def test_bad_values_name_the_variable(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({**REQUIRED, **env})
