"""How long a message waits before its next attempt.

Exponential in the number of deliveries so far (SQS's ApproximateReceiveCount plus the deliveries of earlier
copies, see batch.py), with "equal jitter" so throttled messages do not come back in lock-step, never less
than what the gateway asked for (Retry-After) and capped below SQS's 12-hour visibility limit.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from handlers.throttled_indexer.settings import MAX_VISIBILITY_SECONDS

# A little under 12 h: ChangeMessageVisibility counts from now, and the limit counts from the receive.
VISIBILITY_CEILING = MAX_VISIBILITY_SECONDS - 300


def retry_delay(
    deliveries: int,
    *,
    base_seconds: int,
    max_seconds: int,
    retry_after: float | None = None,
    rng: Callable[[], float] = random.random,
) -> int:
    """Seconds until the next attempt after `deliveries` failed deliveries (1 = the first one failed)."""
    exponent = min(max(deliveries, 1) - 1, 30)
    ceiling = min(base_seconds * (2**exponent), max_seconds, VISIBILITY_CEILING)
    delay = ceiling / 2 + rng() * ceiling / 2
    if retry_after is not None:
        delay = max(delay, retry_after)
    return int(min(delay, VISIBILITY_CEILING))
