"""The default registration provider: the object's own tags (ARCHITECTURE section 4, tag contract)."""

from __future__ import annotations

from typing import Any, ClassVar

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
    validate_user_id,
)


class S3TagsProvider:
    """`UserId` (required), `Properties` (optional s3:// URI), `Ignore` and `Indexed` (True/False, any case).

    The tags are read once per task, from the task's object version when it has one.
    """

    # A tag change sends S3's "Object Tags Added" / "Object Tags Deleted" event, which re-qualifies the
    # object: incremental inventories (new or changed objects only) miss nothing.
    needs_full_rescans: ClassVar[bool] = False

    def __init__(self, *, clients: ClientFactory) -> None:
        self._s3 = clients("s3")
        self._properties = PropertiesLoader(self._s3)

    def get_registration_data(self, task: BatchTask) -> RegistrationResult:
        tags = self._read_tags(task)
        try:
            if parse_bool_tag("Ignore", tags.get("Ignore")):
                return Skip("ignored")
            indexed = parse_bool_tag("Indexed", tags.get("Indexed"))
            if indexed and task.mode != "reindex":
                return Skip("indexed")
            user_id = validate_user_id(tags.get("UserId"))
            uri = tags.get("Properties") or None
            properties = self._properties.load(uri) if uri else None
        except InvalidRegistration as problem:
            return problem.invalid
        return UserRegistration(user_id=user_id, properties=properties, properties_ref=uri)

    def _read_tags(self, task: BatchTask) -> dict[str, str]:
        request: dict[str, Any] = {"Bucket": task.bucket, "Key": task.key}
        action = "s3:GetObjectTagging"
        if task.version_id:
            request["VersionId"] = task.version_id
            action = "s3:GetObjectVersionTagging"
        response = aws_call(action, self._s3.get_object_tagging, **request)
        return {tag["Key"]: tag["Value"] for tag in response.get("TagSet", [])}
