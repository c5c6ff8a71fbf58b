"""Health, readiness and the API's own documentation."""

from __future__ import annotations

from aiohttp import web

from catalog.errors import TransientError
from gateway.asyncapi import asyncapi_document
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


@routes.get("/redoc")
async def redoc(request: web.Request) -> web.Response:
    return web.Response(text=REDOC_PAGE, content_type="text/html")
