"""Per-caller rate limits: a token bucket for each authenticated principal, in this process;
and one per client address for failed authentications (gateway/auth.py).

Several gateway processes each keep their own buckets, so the limit a caller sees is per
process: `catalog up` runs one per CPU behind one port, and the kernel hands each connection to
one of them, so a caller spreading requests over N connections may reach up to N times the
limit. A shared limiter (e.g. at the load balancer) is the tool for a global one.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler

from catalog.errors import RateLimitedError
from gateway.auth import caller, is_public
from gateway.buckets import TokenBuckets


def rate_limit_middleware(buckets: TokenBuckets) -> Callable[..., object]:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_public(request):
            principal = caller(request)
            wait = buckets.take(f"{principal.tenant_id}/{principal.subject}")
            if wait:
                raise RateLimitedError("too many requests; slow down", retry_after=wait)
        return await handler(request)

    return middleware
