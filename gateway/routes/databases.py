"""Registering databases, changing and deleting them, their crawls and their tables."""

from __future__ import annotations

import dataclasses

from aiohttp import web

from catalog import services
from catalog.browse import live_scope, referenced_by
from catalog.crawlers import check_target
from catalog.credentials import IDENTITY_FIELDS, seal, stored_password
from catalog.documents import Document
from catalog.errors import (
    ConflictError,
    CrawlFailure,
    CredentialError,
    InvalidInputError,
    NotFoundError,
    PasswordRequiredError,
    TransientError,
)
from catalog.models import Database, NewDatabase, Target
from catalog.principal import Role
from gateway.access import audit, crawled_database, tenant_database, tenant_database_status
from gateway.auth import require
from gateway.cursors import after_cursor, decode_cursor, encode_cursor, page_after
from gateway.keys import CIPHER, CRAWLERS, INDEX, POLICY, SETTINGS, STORE
from gateway.params import int_param, read_body
from gateway.schemas import (
    AccessCheckOut,
    ConnectionTest,
    CrawlError,
    CrawlRequestIn,
    CredentialsIn,
    CredentialsOut,
    DatabaseIn,
    DatabaseList,
    DatabaseOut,
    DatabasePatch,
)

routes = web.RouteTableDef()

MAX_PAGE = 500


def _checked_interval(request: web.Request, seconds: int | None) -> int | None:
    shortest = request.app[SETTINGS].min_crawl_interval
    if seconds is not None and seconds < shortest:
        raise InvalidInputError(f"'crawl_interval' must be at least {shortest} seconds")
    return seconds


async def _register(request: web.Request, new: NewDatabase) -> tuple[Database, DatabaseOut]:
    """The one way in for both registration routes: guard, capacity, store, audit."""
    _checked_interval(request, new.crawl_interval)
    store = request.app[STORE]
    await request.app[POLICY].checked_address(new.target.host, new.target.port)
    limit = request.app[SETTINGS].max_crawls_per_tenant
    database, crawl = await services.register_database(store, request.app[CIPHER], new, limit)
    await audit(request, "database.registered", database.id, name=database.name)
    if database.crawl_interval is not None:  # the store set when its next crawl is due
        database = await store.get_database(database.id)
    return database, DatabaseOut.of(database, crawl)


@routes.post("/credentials")
async def add_credentials(request: web.Request) -> web.Response:
    """The seed's registration route, in the seed's shape."""
    principal = require(request, Role.EDITOR)
    body = await read_body(request, CredentialsIn)
    database, _ = await _register(request, body.to_new_database(principal.tenant_id))
    out = CredentialsOut(message="Credentials added successfully", id=database.id)
    return web.json_response(out.model_dump())


@routes.post("/v1/databases")
async def create_database(request: web.Request) -> web.Response:
    principal = require(request, Role.EDITOR)
    body = await read_body(request, DatabaseIn)
    database, out = await _register(request, body.to_new(principal.tenant_id))
    return web.json_response(
        out.model_dump(mode="json"),
        status=201,
        headers={"Location": f"/v1/databases/{database.id}"},
    )


@routes.get("/v1/databases")
async def list_databases(request: web.Request) -> web.Response:
    principal = require(request, Role.READER)
    limit = int_param(request, "limit", 50, 1, MAX_PAGE)
    after = after_cursor(request.query.get("cursor"), str)
    store = request.app[STORE]
    databases = await store.list_databases(principal.tenant_id, after, limit + 1)
    page, next_cursor = page_after(databases, limit)
    crawls = await store.latest_crawls([db.id for db in page])
    items = [DatabaseOut.of(db, crawls.get(db.id)) for db in page]
    return web.json_response(
        DatabaseList(items=items, next_cursor=next_cursor).model_dump(mode="json")
    )


@routes.get("/v1/databases/{database_id}")
async def get_database(request: web.Request) -> web.Response:
    require(request, Role.READER)
    database, crawl = await tenant_database_status(request, request.match_info["database_id"])
    return web.json_response(DatabaseOut.of(database, crawl).model_dump(mode="json"))


@routes.patch("/v1/databases/{database_id}")
async def change_database(request: web.Request) -> web.Response:
    """Change a database's name, connection or password; a re-crawl uses the new settings."""
    require(request, Role.EDITOR)
    database = await tenant_database(request, request.match_info["database_id"])
    body = await read_body(request, DatabasePatch)
    changes = body.model_dump(exclude_unset=True, exclude={"name", "password", "crawl_interval"})
    # An explicit null keeps a setting as it was (as for name); only ca_cert can be cleared.
    changes = {k: v for k, v in changes.items() if v is not None or k == "ca_cert"}
    target = dataclasses.replace(database.target, **changes)
    check_target(target)
    moved = [f for f in IDENTITY_FIELDS if getattr(target, f) != getattr(database.target, f)]
    if moved and body.password is None:
        # Else anyone who may edit could send the stored password to a server of their own.
        raise PasswordRequiredError(
            f"changing {', '.join(moved)} changes where the password is sent: give the "
            "password again in the same request"
        )
    await request.app[POLICY].checked_address(target.host, target.port)
    interval = database.crawl_interval
    if "crawl_interval" in body.model_fields_set:  # null stops the schedule
        interval = _checked_interval(request, body.crawl_interval)
    changed = dataclasses.replace(
        database, name=body.name or database.name, target=target, crawl_interval=interval
    )
    sealed = None
    if body.password is not None:
        password = body.password.get_secret_value()
        sealed = seal(request.app[CIPHER], password, database.id, target)
    store = request.app[STORE]
    await store.update_database(changed, sealed)
    # Field names only: the values may include a password.
    await audit(request, "database.changed", database.id, fields=sorted(body.model_fields_set))
    changed, crawl = await store.database_status(database.id)  # with its next crawl's time
    return web.json_response(DatabaseOut.of(changed, crawl).model_dump(mode="json"))


@routes.delete("/v1/databases/{database_id}")
async def delete_database(request: web.Request) -> web.Response:
    """Delete a database, its credentials and crawls; its documents leave the index shortly."""
    require(request, Role.EDITOR)
    database = await tenant_database(request, request.match_info["database_id"])
    await request.app[STORE].delete_database(database.id)
    await audit(request, "database.deleted", database.id, name=database.name)
    return web.Response(status=204)


async def _connection_test(request: web.Request, target: Target, password: str) -> ConnectionTest:
    """Connect as the crawler would and report what it can and cannot do; nothing secret."""
    try:
        async with request.app[CRAWLERS](target, password) as crawler:
            report = await crawler.check_access()
    except (CrawlFailure, TransientError) as exc:  # no secret in their messages
        return ConnectionTest(
            ok=False,
            server_version=None,
            checks=[],
            error=CrawlError(error_class=exc.error_class, message=str(exc)),
        )
    return ConnectionTest(
        ok=report.ok,
        server_version=report.server_version,
        checks=[AccessCheckOut(**dataclasses.asdict(c)) for c in report.checks],
        error=None,
    )


@routes.post("/v1/databases/{database_id}/test")
async def test_connection(request: web.Request) -> web.Response:
    """Connect with the stored credentials and report what the crawler can and cannot do."""
    require(request, Role.EDITOR)
    database = await tenant_database(request, request.match_info["database_id"])
    try:
        password = await stored_password(request.app[STORE], request.app[CIPHER], database)
    except CredentialError as exc:
        out = ConnectionTest(
            ok=False,
            server_version=None,
            checks=[],
            error=CrawlError(error_class="credential", message=str(exc)),
        )
    else:
        out = await _connection_test(request, database.target, password)
    await audit(request, "database.tested", database.id, ok=out.ok)
    return web.json_response(out.model_dump(mode="json"))


@routes.post("/v1/connection-tests")
async def test_new_connection(request: web.Request) -> web.Response:
    """Try credentials before registering them: the same checks, nothing stored. The target
    guard applies as for registration, so this reaches no server a registration could not."""
    require(request, Role.EDITOR)
    body = await read_body(request, DatabaseIn)
    target = body.target()
    await request.app[POLICY].checked_address(target.host, target.port)
    out = await _connection_test(request, target, body.password.get_secret_value())
    # Where and as whom (never the password): a trail for anyone guessing passwords through it.
    where = {"engine": target.engine.value, "host": target.host, "port": target.port}
    await audit(request, "connection.tested", **where, user=target.user, ok=out.ok)
    return web.json_response(out.model_dump(mode="json"))


@routes.post("/v1/databases/{database_id}/crawls")
async def request_crawl(request: web.Request) -> web.Response:
    """Queue a re-crawl: the queued crawl carries it, if there is one; else a new one, planned
    once the crawl already planned (if any) ends."""
    require(request, Role.EDITOR)
    store = request.app[STORE]
    database = await tenant_database(request, request.match_info["database_id"])
    body = await read_body(request, CrawlRequestIn, optional=True)
    limit = request.app[SETTINGS].max_crawls_per_tenant
    crawl = await services.request_crawl(store, database.id, limit, full=body.full)
    await audit(request, "crawl.requested", database.id, crawl_id=crawl.id, full=body.full)
    out = DatabaseOut.of(await store.get_database(database.id), crawl)
    return web.json_response(out.model_dump(mode="json"), status=202)


@routes.post("/v1/databases/{database_id}/crawls/{crawl_id}/confirm")
async def confirm_crawl(request: web.Request) -> web.Response:
    """Publish a crawl the fail-safe held: its fall in tables is real."""
    require(request, Role.EDITOR)
    store = request.app[STORE]
    database = await tenant_database(request, request.match_info["database_id"])
    crawl = await store.get_crawl(request.match_info["crawl_id"])
    if crawl.database_id != database.id:
        raise NotFoundError(f"database {database.id} has no crawl {crawl.id}")
    await store.confirm_crawl(crawl.id)
    await audit(request, "crawl.confirmed", database.id, crawl_id=crawl.id)
    out = DatabaseOut.of(database, await store.latest_crawl(database.id))
    return web.json_response(out.model_dump(mode="json"), status=202)


def _page_start(database: Database, cursor: str | None) -> int | None:
    if not cursor:
        return None
    position = decode_cursor(cursor, ("g", "o"), int)
    if position["g"] != database.live_generation:
        raise ConflictError("the database was re-crawled since this cursor was issued; start again")
    return int(position["o"])


@routes.get("/v1/databases/{database_id}/tables")
async def list_tables(request: web.Request) -> web.Response:
    require(request, Role.READER)
    limit = int_param(request, "limit", 100, 1, MAX_PAGE)
    database = await tenant_database(request, request.match_info["database_id"])
    after = _page_start(database, request.query.get("cursor"))
    docs: list[Document] = []
    if (scope := live_scope(database)) is not None:
        docs = await request.app[INDEX].tables_page(scope, after, limit + 1)
    next_cursor = None
    if len(docs) > limit:
        docs = docs[:limit]
        next_cursor = encode_cursor({"g": database.live_generation, "o": docs[-1].ordinal})
    return web.json_response({"items": [d.payload for d in docs], "next_cursor": next_cursor})


@routes.get("/v1/databases/{database_id}/tables/{schema}/{table}")
async def get_table(request: web.Request) -> web.Response:
    """One table of the last complete crawl, and the foreign keys that point at it."""
    require(request, Role.READER)
    database, scope = await crawled_database(request)
    # aiohttp has decoded each segment: a %2F in a name is a slash of that name.
    schema, name = request.match_info["schema"], request.match_info["table"]
    index = request.app[INDEX]
    found = await index.table(scope, schema, name)
    if found is None:
        raise NotFoundError(
            f"database {database.id} has no table {schema}.{name} in its last complete crawl"
        )
    references = await referenced_by(index, scope, schema, name)
    return web.json_response(
        {
            **found.payload,
            "database_id": database.id,
            "referenced_by": [dataclasses.asdict(r) for r in references],
        }
    )
