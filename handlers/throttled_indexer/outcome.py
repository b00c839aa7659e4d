"""What processing one queue message came to, and how the batch should treat the message."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Attempt:
    """Facts about this delivery of a message that change how failures are handled."""

    receive_count: int
    max_receive_count: int
    lease_seconds: int
    """How long a claim must outlive this invocation (time left + a margin)."""

    @property
    def last(self) -> bool:
        """The redrive policy moves the message to the DLQ if this delivery fails too."""
        return self.receive_count >= self.max_receive_count


@dataclass(frozen=True)
class Outcome:
    label: str
    """For logs and metrics: indexed, skipped:stale, invalid:no-face, deleted, retry:busy, ..."""
    done: bool
    """True: the message is finished (deleted from the queue); False: it is retried later."""
    reason: str = ""
    busy: bool = False
    """The gateway is throttled or unavailable: no further gateway calls in this batch."""
    retry_after: float | None = None
    """The least delay before the next attempt, when known (Retry-After, a colleague's lease)."""
    throttled: bool = False
    """Busy because of the gateway's rate (429 / ThrottlingException / the pacer's book), not an outage."""

    @classmethod
    def finished(cls, label: str, reason: str = "") -> Outcome:
        return cls(label=label, done=True, reason=reason)

    @classmethod
    def retry(
        cls,
        label: str,
        reason: str,
        *,
        busy: bool = False,
        retry_after: float | None = None,
        throttled: bool = False,
    ) -> Outcome:
        return cls(
            label=label, done=False, reason=reason, busy=busy, retry_after=retry_after, throttled=throttled
        )

    @classmethod
    def gateway_busy(cls, reason: str, retry_after: float | None, throttled: bool) -> Outcome:
        """`retry:busy`: the gateway answered busy (GatewayBusy)."""
        return cls.retry("retry:busy", reason, busy=True, retry_after=retry_after, throttled=throttled)


def metric_name(label: str) -> str:
    """`skipped:duplicate` -> `SkippedDuplicate`: one EMF counter per outcome label."""
    return "".join(part.capitalize() for part in label.replace(":", "-").split("-"))
