"""The seed's read routes, in the seed's shapes, answered from the index."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from catalog.browse import table_pages
from catalog.documents import Document, DocumentKind
from catalog.principal import Role
from catalog.search import SearchQuery
from gateway.access import crawled_database
from gateway.auth import require
from gateway.keys import ABBREVIATIONS, INDEX
from gateway.params import query_text

routes = web.RouteTableDef()

SEED_SEARCH_LIMIT = 10


def _seed_columns(doc: Document) -> list[dict[str, Any]]:
    return [{"column_name": c["name"], "data_type": c["data_type"]} for c in doc.payload["columns"]]


async def _chained(
    first: list[Document], rest: AsyncIterator[list[Document]]
) -> AsyncIterator[list[Document]]:
    yield first
    async for page in rest:
        yield page


@routes.get("/search/{database_id}/{table_name}")
async def seed_search(request: web.Request) -> web.Response:
    """Tables whose names match `table_name` (exact first, typos tolerated), with columns."""
    require(request, Role.READER)
    database, scope = await crawled_database(request)
    query = SearchQuery(
        query_text(request.match_info["table_name"], "table_name"),
        (scope,),
        DocumentKind.TABLE,
        SEED_SEARCH_LIMIT,
        tenant_id=database.tenant_id,
        abbreviations=request.app[ABBREVIATIONS],
    )
    tables: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for hit in (await request.app[INDEX].search(query)).hits:
        tables.setdefault(hit.document.schema, {})[hit.document.table] = _seed_columns(hit.document)
    if not tables:
        # The sketch's answer, body and all (FastAPI's HTTPException shape).
        return web.json_response({"detail": "Table not found"}, status=404)
    return web.json_response({"database_name": database.target.dbname, "tables": tables})


@routes.get("/{database_id}")
async def seed_schema(request: web.Request) -> web.StreamResponse:
    """The whole schema, streamed a page at a time so memory stays flat for huge catalogs."""
    require(request, Role.READER)
    database, scope = await crawled_database(request)
    pages = table_pages(request.app[INDEX], scope)
    # The first page is read before the response starts, so an index that cannot answer is
    # still a problem-details error, not a truncated body.
    first = await anext(pages, [])
    response = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
    await response.prepare(request)
    await response.write(
        b'{"database_name":%s,"tables":{' % json.dumps(database.target.dbname).encode()
    )
    current_schema: str | None = None
    async for page in _chained(first, pages):
        chunk: list[str] = []
        for doc in page:
            if doc.schema != current_schema:
                opener = "" if current_schema is None else "},"
                chunk.append(f"{opener}{json.dumps(doc.schema)}:{{")
                current_schema = doc.schema
            else:
                chunk.append(",")
            chunk.append(f"{json.dumps(doc.table)}:{json.dumps(_seed_columns(doc))}")
        await response.write("".join(chunk).encode())
    if current_schema is not None:
        await response.write(b"}")
    await response.write(b"}}")
    await response.write_eof()
    return response
