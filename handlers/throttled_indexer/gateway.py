"""What the indexer needs from a face index ("gateway"), whichever one is configured.

A gateway answers `register` with a `Registration`, or raises:
- `GatewayBusy`: throttled, unavailable or timed out; try again later (the batch stops calling the gateway);
- `GatewayRejected`: the image or the request can never succeed (a permanent, recorded reason).
Anything else is an unexpected error and is retried like a transient failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from handlers.common.contracts import ObjectRef


@dataclass(frozen=True)
class RegistrationRequest:
    obj: ObjectRef
    user_id: str
    properties: dict[str, str]
    image: bytes | None = None
    """The image bytes, for gateways with `needs_bytes`; others read the image from S3 themselves."""


@dataclass(frozen=True)
class Registration:
    face_ids: tuple[str, ...] = ()
    image_id: str | None = None
    external_image_id: str | None = None
    already_registered: bool = False
    details: dict[str, Any] = field(default_factory=dict)


class GatewayBusy(Exception):
    """Throttled / unavailable / timed out. `retry_after` (seconds) when the gateway said how long to wait.

    `may_have_registered` is False only when the gateway refused the request before doing anything (a
    throttling answer to the only attempt): a timeout or a server error may hide a registration that
    succeeded, which the next attempt then looks for (`Gateway.find_registration`).

    `throttled`: the gateway refused for its rate (HTTP 429, ThrottlingException), not because it is down: a
    paced indexer then waits about as long as the rate needs (backoff.py), not an exponential guess.

    `api`: the paced API that answered (pacing.py), when a gateway operation makes several calls."""

    def __init__(
        self,
        reason: str,
        retry_after: float | None = None,
        *,
        may_have_registered: bool = True,
        throttled: bool = False,
        api: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.api = api
        self.retry_after = retry_after
        self.may_have_registered = may_have_registered
        self.throttled = throttled


class RegistrationUnknown(Exception):
    """`find_registration` cannot tell: the image it would match by can no longer be read (deleted)."""


class GatewayRejected(Exception):
    """A permanent refusal. `code` is the short recorded reason (e.g. `no-face`), `details` extra facts."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details or {}


class Gateway(Protocol):
    name: str
    needs_bytes: bool
    registers_per_image: bool
    """True: each image is its own registration (Rekognition faces), so a newer version of a key replaces the
    older version's registration. False: the registration is the user's (HTTP API: 409 for a second image),
    and a newer version carries it on; superseding an older version must not deregister the user."""

    def register(self, request: RegistrationRequest) -> Registration: ...

    def find_registration(self, request: RegistrationRequest) -> Registration | None:
        """The registrations of this image for this user that already exist (a worker died after `register`
        succeeded and before the history recorded it), or None. A gateway whose `register` is safe to repeat
        (HTTP: 409 already registered) answers None. May raise `GatewayBusy`, or `RegistrationUnknown`
        when the image can no longer be read."""
        ...

    def deregister(self, user_id: str, face_ids: tuple[str, ...], image_id: str | None) -> None:
        """Remove a registration; succeeds when there is nothing (left) to remove."""
        ...
