"""Per-caller rate limits: a token bucket for each authenticated principal, in this process.

Several gateway replicas each keep their own buckets, so the limit a caller sees is per replica;
a shared limiter (e.g. at the load balancer) is the tool for a global one.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler

from catalog.errors import RateLimitedError
from gateway.auth import PUBLIC_PATHS, caller

_MAX_TRACKED = 100_000  # callers remembered at once; the least recently seen are forgotten


class TokenBuckets:
    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

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


def rate_limit_middleware(buckets: TokenBuckets) -> Callable[..., object]:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in PUBLIC_PATHS:
            principal = caller(request)
            wait = buckets.take(f"{principal.tenant_id}/{principal.subject}")
            if wait:
                raise RateLimitedError("too many requests; slow down", retry_after=wait)
        return await handler(request)

    return middleware
