"""Tenancy at the door: resources are loaded only through the caller's tenant, and what
callers change is written to the audit log."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from catalog.errors import NotFoundError
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
