"""How long a message waits before its next attempt.

`retry_delay`: exponential in the number of deliveries so far (SQS's ApproximateReceiveCount plus the
deliveries of earlier copies, see batch.py), with "equal jitter" so throttled messages do not come back in
lock-step, never less than what the gateway asked for (Retry-After) and capped below SQS's 12-hour visibility
limit. Used for everything that is not the gateway's rate: outages, timeouts, errors, and throttling when no
rate is configured.

`paced_delay`: a message refused for the gateway's *rate* while the rate is known (GATEWAY_RATE_PER_SECOND)
waits for what the gateway needs, not an exponential guess: the Retry-After (or how long the pacer's book is
taken) plus its place among the messages waiting with it, at the rate. A burst of 429s then leaves no tail of
long delays behind an idle gateway; the paced workers, not the delays, keep the calls to the rate.
"""

from __future__ import annotations

import math
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


def paced_delay(position: int, *, rate_per_second: float, retry_after: float | None = None) -> int:
    """Seconds until the next attempt of the `position`-th (1 = first) throttled message of a batch, for a
    gateway taking `rate_per_second`: after the gateway's Retry-After, one slot per message ahead of it."""
    if rate_per_second <= 0:
        raise ValueError(f"rate_per_second must be > 0, got {rate_per_second}")
    delay = (retry_after or 0.0) + max(position, 1) / rate_per_second
    return int(min(max(1, math.ceil(delay)), VISIBILITY_CEILING))
