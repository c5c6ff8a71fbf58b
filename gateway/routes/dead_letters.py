"""Messages the workers terminated instead of retrying forever: counted and visible."""

from __future__ import annotations

from aiohttp import web

from catalog.models import DEFAULT_TENANT
from catalog.principal import Role
from gateway.auth import require
from gateway.cursors import after_cursor, page_after
from gateway.keys import STORE
from gateway.params import int_param
from gateway.schemas import DeadLetterList, DeadLetterOut

routes = web.RouteTableDef()


@routes.get("/v1/dead-letters")
async def list_dead_letters(request: web.Request) -> web.Response:
    limit = int_param(request, "limit", 100, 1, 500)
    after = after_cursor(request.query.get("cursor"), int)
    principal = require(request, Role.ADMIN)
    # The operator's admins see every dead letter, malformed ones (no tenant) included.
    tenant = None if principal.tenant_id == DEFAULT_TENANT else principal.tenant_id
    letters = await request.app[STORE].list_dead_letters(
        tenant, request.query.get("crawl_id") or None, after, limit + 1
    )
    page, next_cursor = page_after(letters, limit)
    out = DeadLetterList(
        items=[DeadLetterOut.model_validate(letter, from_attributes=True) for letter in page],
        next_cursor=next_cursor,
    )
    return web.json_response(out.model_dump(mode="json"))
