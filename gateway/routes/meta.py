"""Health, readiness and the API's own documentation."""

from __future__ import annotations

from functools import cache
from importlib import resources

from aiohttp import web

from catalog.errors import TransientError
from gateway.asyncapi import asyncapi_document
from gateway.auth import REDOC_BUNDLE_PATH
from gateway.keys import CIPHER, INDEX, KEY_PROBE, SETTINGS, STORE
from gateway.openapi import REDOC_PAGE, openapi_document

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    for name, probe in (("store", request.app[STORE].ping), ("index", request.app[INDEX].ping)):
        try:
            await probe()
            checks[name] = "ok"
        except TransientError:
            checks[name] = "unavailable"
    if checks["store"] == "ok":
        # Keys that open no stored password would fail every crawl and connection test.
        probe = request.app[KEY_PROBE]
        try:
            opens = await probe.keys_open_passwords(request.app[STORE], request.app[CIPHER])
            checks["secret_keys"] = "ok" if opens else "cannot decrypt stored passwords"
        except TransientError:
            checks["store"] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    return web.json_response(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


@routes.get("/asyncapi.json")
async def asyncapi(request: web.Request) -> web.Response:
    return web.json_response(asyncapi_document(request.app[SETTINGS].nats_prefix))


# Everything the reference page needs comes from the gateway; ReDoc's menu would also fetch its
# maker's logo from a CDN, which this policy stops (the page stays whole without it).
_REDOC_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline';"
    " font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


@routes.get("/redoc")
async def redoc(request: web.Request) -> web.Response:
    return web.Response(
        text=REDOC_PAGE,
        content_type="text/html",
        headers={"Content-Security-Policy": _REDOC_POLICY},
    )


@cache
def _redoc_bundle() -> bytes:
    return (resources.files("gateway") / "static" / "redoc.standalone.js").read_bytes()


@routes.get(REDOC_BUNDLE_PATH)
async def redoc_bundle(request: web.Request) -> web.Response:
    return web.Response(
        body=_redoc_bundle(),
        content_type="application/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )
