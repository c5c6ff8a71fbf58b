"""Who is calling; and for admins: tenants, API tokens and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from catalog.errors import ForbiddenError, InvalidInputError, NotFoundError
from catalog.ids import new_id
from catalog.models import DEFAULT_TENANT, Tenant
from catalog.principal import Principal, Role
from catalog.tokens import new_token, token_hash
from gateway.access import audit
from gateway.auth import caller, require
from gateway.cursors import after_cursor, page_after
from gateway.keys import STORE, TOKENS
from gateway.params import int_param, read_body
from gateway.schemas import (
    AuditEventOut,
    AuditList,
    CallerOut,
    TenantIn,
    TenantList,
    TenantOut,
    TokenIn,
    TokenInfoOut,
    TokenList,
    TokenOut,
)

routes = web.RouteTableDef()


@routes.get("/v1/me")
async def me(request: web.Request) -> web.Response:
    """The caller as the catalog sees them: a client checks a token with it, and shows only
    the actions the role allows."""
    principal = caller(request)
    out = CallerOut(subject=principal.subject, tenant_id=principal.tenant_id, role=principal.role)
    return web.json_response(out.model_dump(mode="json"))


def _operator(request: web.Request) -> Principal:
    """An admin of the operator's tenant: the only callers that span tenants."""
    principal = require(request, Role.ADMIN)
    if principal.tenant_id != DEFAULT_TENANT:
        raise ForbiddenError("only the operator's admins manage tenants")
    return principal


@routes.post("/v1/tenants")
async def create_tenant(request: web.Request) -> web.Response:
    _operator(request)
    body = await read_body(request, TenantIn)
    tenant = Tenant(new_id("tenant"), body.name, datetime.now(UTC))
    await request.app[STORE].add_tenant(tenant)
    await audit(request, "tenant.created", tenant_id=tenant.id, name=tenant.name)
    return web.json_response(
        TenantOut.model_validate(tenant, from_attributes=True).model_dump(mode="json"), status=201
    )


@routes.get("/v1/tenants")
async def list_tenants(request: web.Request) -> web.Response:
    _operator(request)
    limit = int_param(request, "limit", 100, 1, 500)
    after = after_cursor(request.query.get("cursor"), str)
    tenants, next_cursor = page_after(
        await request.app[STORE].list_tenants(after, limit + 1), limit
    )
    out = TenantList(
        items=[TenantOut.model_validate(t, from_attributes=True) for t in tenants],
        next_cursor=next_cursor,
    )
    return web.json_response(out.model_dump(mode="json"))


@routes.post("/v1/tokens")
async def create_token(request: web.Request) -> web.Response:
    principal = require(request, Role.ADMIN)
    body = await read_body(request, TokenIn)
    tenant_id = body.tenant_id or principal.tenant_id
    if tenant_id != principal.tenant_id:
        _operator(request)
    if body.expires_at is not None and body.expires_at <= datetime.now(UTC):
        raise InvalidInputError("'expires_at' must be in the future")
    store = request.app[STORE]
    await store.get_tenant(tenant_id)  # 404 for a tenant that does not exist
    token = new_token()
    token_id = await store.add_token(
        token_hash(token), body.name, Role(body.role), tenant_id, expires_at=body.expires_at
    )
    await audit(
        request, "token.created", token_id=token_id, name=body.name, role=body.role,
        tenant_id=tenant_id,
    )  # fmt: skip
    out = TokenOut(
        token=token,
        id=token_id,
        name=body.name,
        role=body.role,
        tenant_id=tenant_id,
        expires_at=body.expires_at,
    )
    return web.json_response(out.model_dump(mode="json"), status=201)


@routes.get("/v1/tokens")
async def list_tokens(request: web.Request) -> web.Response:
    principal = require(request, Role.ADMIN)
    limit = int_param(request, "limit", 100, 1, 500)
    after = after_cursor(request.query.get("cursor"), str)
    tokens, next_cursor = page_after(
        await request.app[STORE].list_tokens(principal.tenant_id, after, limit + 1), limit
    )
    out = TokenList(
        items=[TokenInfoOut.model_validate(t, from_attributes=True) for t in tokens],
        next_cursor=next_cursor,
    )
    return web.json_response(out.model_dump(mode="json"))


@routes.delete("/v1/tokens/{token_id}")
async def revoke_token(request: web.Request) -> web.Response:
    """Revoke one of the tenant's tokens; this process forgets it at once, the others within
    the token cache's ten seconds."""
    principal = require(request, Role.ADMIN)
    token_id = request.match_info["token_id"]
    if not await request.app[STORE].revoke_token(principal.tenant_id, token_id):
        raise NotFoundError(f"no token with id {token_id!r}")
    request.app[TOKENS].forget(f"token:{token_id}")
    await audit(request, "token.revoked", token_id=token_id)
    return web.Response(status=204)


@routes.get("/v1/audit")
async def list_audit(request: web.Request) -> web.Response:
    principal = require(request, Role.ADMIN)
    limit = int_param(request, "limit", 100, 1, 500)
    after = after_cursor(request.query.get("cursor"), int)
    events, next_cursor = page_after(
        await request.app[STORE].list_audit(principal.tenant_id, after, limit + 1), limit
    )
    out = AuditList(
        items=[AuditEventOut.model_validate(e, from_attributes=True) for e in events],
        next_cursor=next_cursor,
    )
    return web.json_response(out.model_dump(mode="json"))
