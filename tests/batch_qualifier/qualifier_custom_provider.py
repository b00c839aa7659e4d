"""A custom registration provider, loaded by the tests from its import path like a deployment would.

`FolderProvider`: the user id is the folder the image sits in (`users/<user id>/<file>`).
"""

from __future__ import annotations

from handlers.batch_qualifier.registration import BatchTask, Invalid, RegistrationResult, UserRegistration


class FolderProvider:
    def __init__(self, *, clients, prefix: str = "users/", department: str | None = None) -> None:
        self.prefix = prefix
        self.department = department

    def get_registration_data(self, task: BatchTask) -> RegistrationResult:
        parts = task.key.removeprefix(self.prefix).split("/")
        if not task.key.startswith(self.prefix) or len(parts) != 2:
            return Invalid("no-user-folder", f"expected {self.prefix}<user id>/<file>")
        properties = {"department": self.department} if self.department else None
        return UserRegistration(user_id=parts[0], properties=properties)


class NotAProvider:
    def register(self, task):
        return None


not_a_class = 42
