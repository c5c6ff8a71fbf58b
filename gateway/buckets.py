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

    def _tokens(self, key: str, now: float) -> float:
        """The key's tokens at `now`: what it had, refilled since, up to the burst."""
        tokens, last = self._buckets.get(key, (self._burst, now))
        return min(self._burst, tokens + (now - last) * self._rate)

    def _wait(self, tokens: float) -> float:
        return 0.0 if tokens >= 1 else (1 - tokens) / self._rate

    def peek(self, key: str) -> float:
        """0 if a token is there to spend, else the seconds until one is; spends nothing."""
        return self._wait(self._tokens(key, self._clock()))

    def take(self, key: str) -> float:
        """Spend one token; 0 if allowed, else the seconds until one is available."""
        now = self._clock()
        tokens = self._tokens(key, now)
        wait = self._wait(tokens)
        if not wait:
            tokens -= 1
        self._buckets.pop(key, None)  # re-inserted last: the most recently seen
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > _MAX_TRACKED:
            self._buckets.popitem(last=False)
        return wait
