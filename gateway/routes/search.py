"""Ranked, typo-tolerant search and name suggestions over the live generations of databases."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from aiohttp import web

from catalog.documents import PARTITION, DocumentKind, Scope
from catalog.errors import ConflictError, InvalidInputError
from catalog.explain import explain
from catalog.metrics import SEARCH_DURATION
from catalog.models import TableType
from catalog.search import (
    FACET_FIELDS,
    MAX_SEARCH_DEPTH,
    MatchPlan,
    SearchHit,
    SearchPosition,
    SearchQuery,
    SuggestQuery,
    match_plan,
)
from gateway.access import tenant_database
from gateway.auth import caller
from gateway.cursors import decode_cursor, encode_cursor
from gateway.keys import ABBREVIATIONS, ANSWERS, INDEX, STORE
from gateway.params import bool_param, int_param, list_param, query_text
from gateway.schemas import (
    MatchedColumnOut,
    SearchFacets,
    SearchHitOut,
    SearchResults,
    SuggestionOut,
    Suggestions,
)

routes = web.RouteTableDef()

MAX_DATABASE_IDS = 100
# What `type` may ask for: the engines' relation types, and partitions (left out unless asked).
TABLE_TYPES = (*(str(table_type) for table_type in TableType), PARTITION)
_CURSOR_KEYS = ("score", "rank", "ordinal", "id", "depth", "query", "scopes")


def _kind(raw: str | None) -> DocumentKind | None:
    if raw in (None, "", "any"):
        return None
    try:
        return DocumentKind(raw)
    except ValueError:
        raise InvalidInputError("'kind' must be one of: table, column, any") from None


async def _scopes(request: web.Request, database_ids: tuple[str, ...]) -> tuple[str, ...]:
    """The live generations the caller may read: all their tenant's databases, or those named."""
    tenant_id = caller(request).tenant_id
    scopes = tuple(await request.app[STORE].live_scopes(tenant_id, database_ids or None))
    live = {Scope.parse(scope).database_id for scope in scopes}
    for database_id in database_ids:
        if database_id not in live:
            # Unknown, or another tenant's: a 404, not an empty result.
            await tenant_database(request, database_id)
    return scopes


def _fingerprint(value: Any) -> str:
    return hashlib.blake2b(json.dumps(value).encode(), digest_size=8).hexdigest()


def _after(cursor: str | None, query: str, scopes: str) -> SearchPosition | None:
    """Where the previous page ended; the cursor must come from the same search and catalog."""
    if cursor is None:
        return None
    position = decode_cursor(cursor, _CURSOR_KEYS)
    well_formed = (
        isinstance(position["score"], int | float)
        # JSON's NaN and Infinity parse, and an engine refuses them: a 500 once, on OpenSearch.
        and math.isfinite(position["score"])
        and isinstance(position["rank"], int)
        and 0 <= position["rank"] < 2**31
        and isinstance(position["ordinal"], int)
        and 0 <= position["ordinal"] < 2**63
        and isinstance(position["id"], str)
        and isinstance(position["depth"], int)
        and 0 < position["depth"] < MAX_SEARCH_DEPTH
    )
    if not well_formed or position["query"] != query:
        raise InvalidInputError("the cursor is not one this API issued for this search")
    if position["scopes"] != scopes:
        raise ConflictError("a crawl finished since the first page: search again without a cursor")
    return SearchPosition(
        float(position["score"]),
        position["rank"],
        position["ordinal"],
        position["id"],
        position["depth"],
    )


def _next_cursor(hit: SearchHit, depth: int, query: str, scopes: str) -> str:
    position = hit.position(depth)
    return encode_cursor(
        {
            "score": position.score,
            "rank": position.rank,
            "ordinal": position.ordinal,
            "id": position.id,
            "depth": position.depth,
            "query": query,
            "scopes": scopes,
        }
    )


@routes.get("/v1/search")
async def search(request: web.Request) -> web.Response:
    text = query_text(request.query.get("q", ""), "q")
    kind = _kind(request.query.get("kind"))
    limit = int_param(request, "limit", 10, 1, 100)
    schemas = list_param(request, "schema")
    table_types = list_param(request, "type")
    if unknown := set(table_types) - set(TABLE_TYPES):
        raise InvalidInputError(f"'type' must be one of: {', '.join(TABLE_TYPES)}; not {unknown}")
    data_types = list_param(request, "data_type")
    if data_types and kind is DocumentKind.TABLE:
        raise InvalidInputError("'data_type' filters columns; it cannot go with kind=table")
    database_ids = list_param(request, "database_id", max_items=MAX_DATABASE_IDS)
    # Counting facets runs the query a second time over every hit: only when asked.
    facets = bool_param(request, "facets", False)
    scopes = await _scopes(request, database_ids)
    tenant_id = caller(request).tenant_id
    answers = request.app[ANSWERS]
    key, answered = answers.lookup(request, tenant_id, scopes)
    if answered is not None:
        return answered
    query_print = _fingerprint([text, kind, schemas, table_types, data_types, database_ids])
    scopes_print = _fingerprint(sorted(scopes))
    after = _after(request.query.get("cursor"), query_print, scopes_print)
    depth = 0 if after is None else after.depth
    size = min(limit, MAX_SEARCH_DEPTH - depth)
    with SEARCH_DURATION.labels(kind=str(kind or "any")).time():
        page = await request.app[INDEX].search(
            # One hit more than the page tells whether another page follows.
            SearchQuery(
                text,
                scopes,
                kind,
                size + 1,
                schemas,
                table_types,
                data_types,
                after,
                facets=facets,
                tenant_id=tenant_id,
                abbreviations=request.app[ABBREVIATIONS],
            )
        )
    hits = page.hits[:size]
    depth += len(hits)
    more = len(page.hits) > size and depth < MAX_SEARCH_DEPTH
    plan = match_plan(text, kind, request.app[ABBREVIATIONS])
    out = SearchResults(
        query=text,
        hits=[_hit_out(hit, plan) for hit in hits] if plan else [],
        facets=SearchFacets.model_validate(
            {
                field: [{"value": f.value, "count": f.count} for f in page.facets.get(field, [])]
                for field in FACET_FIELDS
            }
        )
        if facets
        else None,
        next_cursor=_next_cursor(hits[-1], depth, query_print, scopes_print) if more else None,
    )
    return answers.answer(key, out.model_dump_json(by_alias=True).encode())


def _hit_out(hit: SearchHit, plan: MatchPlan) -> SearchHitOut:
    document = hit.document
    why = explain(document, plan)
    return SearchHitOut(
        kind=document.kind.value,
        score=hit.score,
        database_id=document.database_id,
        schema=document.schema,
        table=document.table,
        column=document.column,
        table_type=document.table_type,
        data_type=document.data_type,
        comment=document.comment,
        partitions=document.payload.get("partitions") if document.column is None else None,
        highlight=why.highlight,
        matched_columns=[
            MatchedColumnOut(name=c.name, data_type=c.data_type, highlight=c.highlight)
            for c in why.matched_columns
        ],
        match=why.match,
    )


@routes.get("/v1/suggest")
async def suggest(request: web.Request) -> web.Response:
    text = query_text(request.query.get("q", ""), "q")
    kind = _kind(request.query.get("kind"))
    limit = int_param(request, "limit", 10, 1, 50)
    database_ids = list_param(request, "database_id", max_items=MAX_DATABASE_IDS)
    scopes = await _scopes(request, database_ids)
    tenant_id = caller(request).tenant_id
    answers = request.app[ANSWERS]
    key, answered = answers.lookup(request, tenant_id, scopes)
    if answered is not None:
        return answered
    found = await request.app[INDEX].suggest(
        SuggestQuery(text, scopes, kind, limit, tenant_id=tenant_id)
    )
    out = Suggestions(
        query=text, suggestions=[SuggestionOut(name=s.name, count=s.count) for s in found]
    )
    return answers.answer(key, out.model_dump_json().encode())
