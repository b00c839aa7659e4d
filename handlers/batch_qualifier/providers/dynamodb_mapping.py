"""A registration provider backed by a DynamoDB table that maps object keys to users.

For deployments whose registration data lives outside the images' tags. Selected with
`REGISTRATION_PROVIDER=dynamodb-mapping` and configured through REGISTRATION_PROVIDER_CONFIG, e.g.
`{"table_name": "photo-owners", "key_attribute": "ObjectKey", "key_template": "{bucket}/{key}"}`.

One item per image: the partition key holds `key_template` filled with the task's bucket and key; `UserId`
(string) names the user; `Properties` is either a map of strings (inline) or a string `s3://bucket/key` (read
like the tag's); `Ignore` (boolean, or the string True/False) skips the image.
"""

from __future__ import annotations

from typing import Any, ClassVar

from boto3.dynamodb.types import TypeDeserializer

from handlers.batch_qualifier.outcomes import aws_call
from handlers.batch_qualifier.properties import PropertiesLoader
from handlers.batch_qualifier.registration import (
    BatchTask,
    ClientFactory,
    InvalidRegistration,
    RegistrationResult,
    Skip,
    UserRegistration,
    parse_bool_tag,
    validate_properties,
    validate_user_id,
)

_DESERIALIZE = TypeDeserializer().deserialize


class DynamoDbMappingProvider:
    # A changed item in the mapping table sends no S3 event: an incremental inventory does not see it, so a
    # deployment with this provider re-qualifies by a full re-scan (docs/batch-qualifier.md, "Tag changes").
    needs_full_rescans: ClassVar[bool] = True

    def __init__(
        self,
        *,
        clients: ClientFactory,
        table_name: str,
        key_attribute: str = "ObjectKey",
        key_template: str = "{key}",
        user_id_attribute: str = "UserId",
        properties_attribute: str = "Properties",
        ignore_attribute: str = "Ignore",
        consistent_read: bool = False,
    ) -> None:
        if not isinstance(table_name, str) or not table_name:
            raise ValueError("table_name must be the mapping table's name")
        try:
            key_template.format(bucket="b", key="k")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"key_template {key_template!r} may only use the placeholders {{bucket}} and {{key}} ({exc})"
            ) from exc
        self._dynamodb = clients("dynamodb")
        self._properties = PropertiesLoader(clients("s3"))
        self._table = table_name
        self._key_attribute = key_attribute
        self._key_template = key_template
        self._user_id_attribute = user_id_attribute
        self._properties_attribute = properties_attribute
        self._ignore_attribute = ignore_attribute
        self._consistent_read = bool(consistent_read)

    def get_registration_data(self, task: BatchTask) -> RegistrationResult:
        mapping_key = self._key_template.format(bucket=task.bucket, key=task.key)
        response = aws_call(
            "dynamodb:GetItem (registration mapping)",
            self._dynamodb.get_item,
            TableName=self._table,
            Key={self._key_attribute: {"S": mapping_key}},
            ConsistentRead=self._consistent_read,
        )
        raw_item = response.get("Item")
        if raw_item is None:
            where = f"{self._table}[{self._key_attribute}={mapping_key[:128]!r}]"
            return InvalidRegistration("user-id-missing", f"no mapping item {where}").invalid
        item = {name: _DESERIALIZE(value) for name, value in raw_item.items()}
        try:
            if _truthy(self._ignore_attribute, item.get(self._ignore_attribute)):
                return Skip("ignored")
            user_id = validate_user_id(item.get(self._user_id_attribute))
            properties, reference = self._properties_of(item.get(self._properties_attribute))
        except InvalidRegistration as problem:
            return problem.invalid
        return UserRegistration(user_id=user_id, properties=properties, properties_ref=reference)

    def _properties_of(self, value: Any) -> tuple[dict[str, str] | None, str | None]:
        if value is None:
            return None, None
        if isinstance(value, str):
            return self._properties.load(value), value
        return validate_properties(value, f"mapping attribute {self._properties_attribute}"), None


def _truthy(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None or isinstance(value, str):
        return parse_bool_tag(name, value)
    raise InvalidRegistration(f"tag-{name.lower()}", f"{name} must be a boolean, not {type(value).__name__}")
