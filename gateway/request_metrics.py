"""Counts and times every request (catalog.metrics), outermost of the middlewares, so problem
answers, refused tokens and rate-limited requests are counted with the status they got."""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.typedefs import Handler

from catalog.metrics import HTTP_DURATION, HTTP_REQUESTS

# Paths no route matched (or not with that method), and methods the API does not use: one label
# each, whatever was asked, so a scanner cannot grow the series.
_UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@web.middleware
async def request_metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500  # if the handler raises past every other middleware
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = _route(request)
        method = request.method if request.method in _METHODS else "other"
        HTTP_REQUESTS.labels(route, method, str(status)).inc()
        HTTP_DURATION.labels(route, method).observe(time.perf_counter() - started)


def _route(request: web.Request) -> str:
    """The matched route's pattern (/v1/databases/{database_id}), never the path itself."""
    info = request.match_info
    if info.http_exception is not None or info.route.resource is None:
        return _UNMATCHED
    return info.route.resource.canonical
