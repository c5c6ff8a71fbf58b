"""Token buckets: how many requests (or failures) a key may have now, refilled over time."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

_MAX_TRACKED = 100_000  # callers remembered at once; the least recently seen are forgotten


class TokenBuckets:
    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def peek(self, key: str) -> float:
        """0 if a token is there to spend, else the seconds until one is; spends nothing."""
        now = self._clock()
        tokens, last = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / self._rate

    def take(self, key: str) -> float:
        """Spend one token; 0 if allowed, else the seconds until one is available."""
        now = self._clock()
        tokens, last = self._buckets.pop(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self._rate
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > _MAX_TRACKED:
            self._buckets.popitem(last=False)
        return wait
