"""S3 event sequencers: increasing under S3's documented comparison, in both lengths AWS writes."""

from __future__ import annotations

import itertools
import time


class S3Sequencers:
    """Event sequencers as S3 writes them, increasing under S3's documented comparison.

    S3 User Guide, "Event message structure": sequencers of one key order its events; they "can be of
    different lengths. So, to compare these values, first right pad the shorter value with zeros, and then do
    a lexicographical comparison." AWS's samples have 18 upper-case digits in notifications
    ("0055AED6DCD90281E5") and 16 lower-case ones in EventBridge events ("617f0837b476e463"). Here each
    event's value is 18 digits, "00" + seconds at start (8) + a counter that steps by 0x40 (8); when its last
    two digits are zeros (every fourth event) they are left off, so 16- and 18-digit values mix and right
    padding gives back exactly the 18-digit value: every next sequencer is greater under the rule.
    """

    STEP = 0x40

    def __init__(self, start_seconds: int | None = None) -> None:
        self._base = (int(time.time()) if start_seconds is None else start_seconds) << 32
        self._count = itertools.count(1)

    def next(self) -> int:
        return self._base + next(self._count) * self.STEP

    @staticmethod
    def render(value: int, *, lowercase: bool = False) -> str:
        text = f"{value:018X}"
        if text.endswith("00"):
            text = text[:-2]
        return text.lower() if lowercase else text
