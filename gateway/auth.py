"""Bearer-token authentication for every route but the public ones."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from catalog.errors import AuthenticationError
from catalog.tokens import token_hash
from gateway.keys import STORE

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/redoc"})


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("send 'Authorization: Bearer <token>'")
    role = await request.app[STORE].token_role(token_hash(token.strip()))
    if role is None:
        raise AuthenticationError("the bearer token is not valid")
    return await handler(request)
