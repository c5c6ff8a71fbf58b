"""Ranked, typo-tolerant search over the live generations of registered databases."""

from __future__ import annotations

from aiohttp import web

from catalog.documents import DocumentKind
from catalog.errors import InvalidInputError
from catalog.search import SearchQuery
from gateway.keys import INDEX, STORE
from gateway.params import int_param
from gateway.schemas import SearchHitOut, SearchResults

routes = web.RouteTableDef()

MAX_QUERY_LENGTH = 200


def _kind(raw: str | None) -> DocumentKind | None:
    if raw in (None, "", "any"):
        return None
    try:
        return DocumentKind(raw)
    except ValueError:
        raise InvalidInputError("'kind' must be one of: table, column, any") from None


@routes.get("/v1/search")
async def search(request: web.Request) -> web.Response:
    text = request.query.get("q", "").strip()
    if not text:
        raise InvalidInputError("'q' is required")
    if len(text) > MAX_QUERY_LENGTH:
        raise InvalidInputError(f"'q' must be at most {MAX_QUERY_LENGTH} characters")
    kind = _kind(request.query.get("kind"))
    limit = int_param(request, "limit", 10, 1, 100)
    store = request.app[STORE]
    database_ids = request.query.getall("database_id", []) or None
    for database_id in database_ids or ():
        await store.get_database(database_id)  # an unknown id is a 404, not an empty result
    scopes = tuple(await store.live_scopes(database_ids))
    hits = await request.app[INDEX].search(SearchQuery(text, scopes, kind, limit))
    out = SearchResults(
        query=text,
        hits=[
            SearchHitOut(
                kind=hit.document.kind.value,
                score=hit.score,
                database_id=hit.document.database_id,
                schema=hit.document.schema,
                table=hit.document.table,
                column=hit.document.column,
                table_type=hit.document.table_type,
                data_type=hit.document.data_type,
                comment=hit.document.comment,
            )
            for hit in hits
        ],
    )
    return web.json_response(out.model_dump(mode="json", by_alias=True))
