"""Registering databases, their crawl status and their tables."""

from __future__ import annotations

from aiohttp import web

from catalog import services
from catalog.documents import Document, generation_scope
from catalog.errors import ConflictError, NotFoundError
from catalog.models import Database
from gateway.cursors import decode_cursor, encode_cursor
from gateway.keys import CIPHER, INDEX, POLICY, STORE
from gateway.params import int_param, read_body
from gateway.schemas import CredentialsIn, CredentialsOut, DatabaseIn, DatabaseList, DatabaseOut

routes = web.RouteTableDef()

MAX_PAGE = 500


@routes.post("/credentials")
async def add_credentials(request: web.Request) -> web.Response:
    """The seed's registration route, in the seed's shape."""
    body = await read_body(request, CredentialsIn)
    new = body.to_new_database()
    await request.app[POLICY].checked_address(new.target.host, new.target.port)
    database, _ = await services.register_database(request.app[STORE], request.app[CIPHER], new)
    out = CredentialsOut(message="Credentials added successfully", id=database.id)
    return web.json_response(out.model_dump())


@routes.post("/v1/databases")
async def create_database(request: web.Request) -> web.Response:
    body = await read_body(request, DatabaseIn)
    new = body.to_new()
    await request.app[POLICY].checked_address(new.target.host, new.target.port)
    database, crawl = await services.register_database(request.app[STORE], request.app[CIPHER], new)
    out = DatabaseOut.of(database, crawl)
    return web.json_response(
        out.model_dump(mode="json"),
        status=201,
        headers={"Location": f"/v1/databases/{database.id}"},
    )


@routes.get("/v1/databases")
async def list_databases(request: web.Request) -> web.Response:
    limit = int_param(request, "limit", 50, 1, MAX_PAGE)
    cursor = request.query.get("cursor")
    after = decode_cursor(cursor, ("after",))["after"] if cursor else None
    store = request.app[STORE]
    databases = await store.list_databases(after, limit + 1)
    crawls = await store.latest_crawls([db.id for db in databases[:limit]])
    items = [DatabaseOut.of(db, crawls.get(db.id)) for db in databases[:limit]]
    next_cursor = (
        encode_cursor({"after": databases[limit - 1].id}) if len(databases) > limit else None
    )
    return web.json_response(
        DatabaseList(items=items, next_cursor=next_cursor).model_dump(mode="json")
    )


@routes.get("/v1/databases/{database_id}")
async def get_database(request: web.Request) -> web.Response:
    store = request.app[STORE]
    database = await store.get_database(request.match_info["database_id"])
    crawl = await store.latest_crawl(database.id)
    return web.json_response(DatabaseOut.of(database, crawl).model_dump(mode="json"))


@routes.post("/v1/databases/{database_id}/crawls")
async def request_crawl(request: web.Request) -> web.Response:
    """Queue a re-crawl; while one is queued or running, that one is returned instead."""
    store = request.app[STORE]
    database = await store.get_database(request.match_info["database_id"])
    await services.request_crawl(store, database.id)
    out = DatabaseOut.of(
        await store.get_database(database.id), await store.latest_crawl(database.id)
    )
    return web.json_response(out.model_dump(mode="json"), status=202)


@routes.post("/v1/databases/{database_id}/crawls/{crawl_id}/confirm")
async def confirm_crawl(request: web.Request) -> web.Response:
    """Publish a crawl the fail-safe held: its fall in tables is real."""
    store = request.app[STORE]
    database = await store.get_database(request.match_info["database_id"])
    crawl = await store.get_crawl(request.match_info["crawl_id"])
    if crawl.database_id != database.id:
        raise NotFoundError(f"database {database.id} has no crawl {crawl.id}")
    await store.confirm_crawl(crawl.id)
    out = DatabaseOut.of(database, await store.latest_crawl(database.id))
    return web.json_response(out.model_dump(mode="json"), status=202)


def _page_start(database: Database, cursor: str | None) -> int | None:
    if not cursor:
        return None
    position = decode_cursor(cursor, ("g", "o"))
    if position["g"] != database.live_generation:
        raise ConflictError("the database was re-crawled since this cursor was issued; start again")
    return int(position["o"])


@routes.get("/v1/databases/{database_id}/tables")
async def list_tables(request: web.Request) -> web.Response:
    limit = int_param(request, "limit", 100, 1, MAX_PAGE)
    database = await request.app[STORE].get_database(request.match_info["database_id"])
    after = _page_start(database, request.query.get("cursor"))
    docs: list[Document] = []
    if database.live_generation is not None:
        scope = generation_scope(database.id, database.live_generation)
        docs = await request.app[INDEX].tables_page(scope, after, limit + 1)
    next_cursor = None
    if len(docs) > limit:
        docs = docs[:limit]
        next_cursor = encode_cursor({"g": database.live_generation, "o": docs[-1].ordinal})
    return web.json_response({"items": [d.payload for d in docs], "next_cursor": next_cursor})
