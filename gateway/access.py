"""Tenancy at the door: resources are loaded only through the caller's tenant, and what
callers change is written to the audit log."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from catalog.browse import live_scope
from catalog.errors import ConflictError, NotFoundError
from catalog.models import Crawl, Database
from gateway.auth import caller
from gateway.keys import STORE


async def tenant_database(request: web.Request, database_id: str) -> Database:
    """The caller's database; another tenant's id is a 404, exactly like one that never was."""
    try:
        database = await request.app[STORE].get_database(database_id)
    except NotFoundError:
        database = None
    return _owned(request, database_id, database)


async def tenant_database_status(
    request: web.Request, database_id: str
) -> tuple[Database, Crawl | None]:
    """The caller's database and its latest crawl, read together (see tenant_database)."""
    try:
        database, crawl = await request.app[STORE].database_status(database_id)
    except NotFoundError:
        database, crawl = None, None
    return _owned(request, database_id, database), crawl


async def crawled_database(request: web.Request) -> tuple[Database, str]:
    """The caller's database of the route's `database_id` and its live scope; a 409 until a
    crawl has completed, so an uncrawled database never looks like an empty one."""
    database, crawl = await tenant_database_status(request, request.match_info["database_id"])
    scope = live_scope(database)
    if scope is None:
        state = "none" if crawl is None else str(crawl.state)
        raise ConflictError(
            f"no crawl of this database has completed yet (the latest is {state}); "
            f"see GET /v1/databases/{database.id} for its progress"
        )
    return database, scope


def _owned(request: web.Request, database_id: str, database: Database | None) -> Database:
    if database is None or database.tenant_id != caller(request).tenant_id:
        raise NotFoundError(f"no database with id {database_id!r}")
    return database


async def audit(
    request: web.Request, action: str, database_id: str | None = None, **detail: Any
) -> None:
    """Record who did what; `detail` must never hold a secret (callers pass names and ids)."""
    principal = caller(request)
    await request.app[STORE].add_audit(
        principal.tenant_id, principal.subject, action, database_id, detail
    )
