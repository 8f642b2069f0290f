"""Token buckets for Telegram's flood limits (about 1 message/s per chat, 30/s overall).

The clock is injected so that tests can freeze or step time instead of sleeping.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` stored; one token per message."""

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)
        self.updated = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait_time(self) -> float:
        """Seconds until one token is available (0 when one is available now)."""
        self._refill()
        if self.tokens >= 1:
            return 0.0
        return (1 - self.tokens) / self.rate

    def take(self) -> None:
        """Consume one token; callers check ``wait_time()`` first."""
        self._refill()
        self.tokens -= 1


def retry_after_seconds(wait: float) -> int:
    """Telegram's retry_after is a whole number of seconds, at least 1."""
    return max(1, math.ceil(wait))
