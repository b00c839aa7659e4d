"""The DynamoDB mapping provider (object key -> user id / properties) against moto."""

from __future__ import annotations

import boto3
import pytest
from qualifier_fixtures import IMAGE_BUCKET, REGION, make_task

from handlers.batch_qualifier.provider_loader import build_provider

TABLE = "photo-owners"


@pytest.fixture
def mapping(env):
    dynamodb = boto3.resource("dynamodb", region_name=REGION)
    table = dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "ObjectKey", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "ObjectKey", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return table


def _qualifier(env, **config):
    provider = build_provider("dynamodb-mapping", {"table_name": TABLE, **config}, env.clients)
    return env.qualifier(provider)


def test_a_mapped_image_is_queued_with_inline_properties(env, mapping):
    key = "team a/Zoë+1.png"
    env.put_image(key)
    mapping.put_item(Item={"ObjectKey": key, "UserId": "zoe", "Properties": {"dept": "ops", "badge": "7"}})
    result = _qualifier(env).qualify(make_task(key))
    assert result.result_string == "queued", result.result_string
    (body,) = env.queued_messages()
    assert (body["user_id"], body["properties"]) == ("zoe", {"dept": "ops", "badge": "7"})


def test_the_key_template_can_include_the_bucket(env, mapping):
    env.put_image("a.png")
    mapping.put_item(Item={"ObjectKey": f"{IMAGE_BUCKET}/a.png", "UserId": "alice"})
    result = _qualifier(env, key_template="{bucket}/{key}").qualify(make_task("a.png"))
    assert result.result_string == "queued"


def test_properties_by_uri_are_read_and_kept_as_a_reference(env, mapping):
    uri = env.put_properties("big.json", {"bio": "é" * 150_000})
    env.put_image("a.png")
    mapping.put_item(Item={"ObjectKey": "a.png", "UserId": "alice", "Properties": uri})
    assert _qualifier(env).qualify(make_task("a.png")).result_string == "queued"
    (body,) = env.queued_messages()
    assert body["properties_ref"] == uri


def test_an_unmapped_image_is_invalid(env, mapping):
    env.put_image("stranger.png")
    result = _qualifier(env).qualify(make_task("stranger.png"))
    assert result.result_code == "PermanentFailure"
    assert result.result_string.startswith("invalid:user-id-missing: no mapping item photo-owners[ObjectKey=")


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"UserId": "a", "Ignore": True}, "skipped:ignored"),
        ({"UserId": "a", "Ignore": "TRUE"}, "skipped:ignored"),
        ({"UserId": "a", "Ignore": 1}, "invalid:tag-ignore"),
        ({"UserId": 42}, "invalid:user-id: UserId must be a string"),
        ({"UserId": "a", "Properties": {"age": 42}}, "invalid:properties-json"),
        ({"UserId": "a", "Properties": "s3://qualifier-properties/none.json"}, "invalid:properties-missing"),
    ],
)
def test_mapping_item_rules(env, mapping, item, expected):
    env.put_image("m.png")
    mapping.put_item(Item={"ObjectKey": "m.png", **item})
    result = _qualifier(env).qualify(make_task("m.png"))
    assert result.result_string.startswith(expected), result.result_string


def test_a_missing_mapping_table_is_an_error_naming_the_action(env):
    env.put_image("a.png")
    result = _qualifier(env).qualify(make_task("a.png"))
    assert result.result_code == "PermanentFailure"
    assert "dynamodb:GetItem (registration mapping)" in result.result_string
