"""The production search adapter: OpenSearch through opensearch-py's async client.

Written to the documented OpenSearch API. Identifier terms are computed in Python
(catalog.documents.document_terms) and indexed as keywords, so no engine analyzer shapes
relevance. Driver responses and errors stay inside this module.

Opening an existing index adds the fields this version maps (an additive mapping update);
documents written before it lack them until their database is re-crawled.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import TransportError

from catalog.documents import (
    Document,
    DocumentKind,
    document_from_dict,
    document_terms,
    document_to_dict,
)
from catalog.errors import PermanentError, TransientError
from catalog.search import (
    FACET_FIELDS,
    FACET_SIZE,
    SUGGEST_CANDIDATES,
    Match,
    SearchHit,
    SearchPage,
    SearchQuery,
    Suggestion,
    SuggestQuery,
    TermClause,
    facet_counts,
    match_plan,
    merge_suggestions,
    suggest_tiers,
)

# delete_by_query over a whole large generation can outlast the client's default 10 s timeout.
_DELETE_TIMEOUT_SECONDS = 300

_KEYWORD = {"type": "keyword"}
INDEX_BODY: dict[str, Any] = {
    "settings": {
        "analysis": {"normalizer": {"lowercase": {"type": "custom", "filter": ["lowercase"]}}}
    },
    "mappings": {
        # A field we did not plan for is a bug, not something to guess a type for.
        "dynamic": "strict",
        "properties": {
            "id": _KEYWORD,
            "kind": _KEYWORD,
            "database_id": _KEYWORD,
            "tenant_id": _KEYWORD,
            "generation": {"type": "long"},
            "scope": _KEYWORD,
            "ordinal": {"type": "long"},
            "schema": _KEYWORD,
            "table": _KEYWORD,
            "column": _KEYWORD,
            "table_type": _KEYWORD,
            "data_type": _KEYWORD,
            "comment": {"type": "text"},
            # The whole name, lower-cased, for the exact-name bonus.
            "name": {"type": "keyword", "normalizer": "lowercase"},
            # identifier_terms(name): one keyword per term, for term, prefix and fuzzy queries.
            "name_terms": _KEYWORD,
            # inner_suffixes(name): a substring of a word is a prefix of one of these.
            "name_substrings": _KEYWORD,
            # compact_name(name): suggestions complete names from their start.
            "name_compact": _KEYWORD,
            # Table documents: identifier_terms of every column's name.
            "column_terms": _KEYWORD,
            # The name as written, for suggestions (a terms aggregation returns it).
            "name_display": _KEYWORD,
            # Shown to readers, never searched: kept in _source only.
            "payload": {"type": "object", "enabled": False},
        },
    },
}


def _is_transient(status: object) -> bool:
    return status == 429 or (isinstance(status, int) and status >= 500)


@contextmanager
def _translate_errors(action: str) -> Iterator[None]:
    """Map driver errors to catalog errors; messages carry no URL (it may hold credentials)."""
    try:
        yield
    except OpenSearchConnectionError as exc:
        raise TransientError(f"OpenSearch unreachable during {action}") from exc
    except TransportError as exc:
        if _is_transient(exc.status_code):
            raise TransientError(f"OpenSearch busy during {action}: {exc.status_code}") from exc
        raise PermanentError(
            f"OpenSearch rejected {action}: {exc.status_code} {exc.error}"
        ) from exc


def _to_source(document: Document) -> dict[str, Any]:
    source = document_to_dict(document) | {"scope": document.scope, "name_display": document.name}
    return source | {str(field): terms for field, terms in document_terms(document).items()}


def _clause(clause: TermClause) -> dict[str, Any]:
    if clause.match is Match.EXACT:
        return {"term": {clause.field: clause.value}}
    if clause.match is Match.PREFIX:
        return {"prefix": {clause.field: clause.value}}
    fuzzy = {"value": clause.value, "fuzziness": clause.distance, "transpositions": True}
    return {"fuzzy": {clause.field: fuzzy}}


def _best_of(alternatives: Sequence[TermClause]) -> dict[str, Any]:
    """The best-scoring alternative that matches: a dis_max of constant scores."""
    scored = [{"constant_score": {"filter": _clause(c), "boost": c.score}} for c in alternatives]
    return {"dis_max": {"queries": scored}}


def _filters(query: SearchQuery | SuggestQuery) -> list[dict[str, Any]]:
    return [{"terms": {field: list(values)}} for field, values in query.keyword_filters()]


def _search_body(query: SearchQuery) -> dict[str, Any] | None:
    plan = match_plan(query.text, query.kind)
    if plan is None:
        return None
    body: dict[str, Any] = {
        "size": query.limit,
        "query": {
            "bool": {
                # Filters do not score; only the match clauses below decide the ranking.
                "filter": _filters(query),
                # Each part scores its best kind of match; bonuses add when they match.
                "must": [_best_of(group) for group in plan.parts],
                "should": [_best_of(group) for group in plan.bonuses],
            }
        },
        # The stable order: ties broken by plan order, then id.
        "sort": [{"_score": "desc"}, {"ordinal": "asc"}, {"id": "asc"}],
        "track_scores": True,
    }
    if query.after is not None:
        body["search_after"] = [query.after.score, query.after.ordinal, query.after.id]
    if query.facets:
        body["aggs"] = {
            field: {"terms": {"field": field, "size": FACET_SIZE}} for field in FACET_FIELDS
        }
    return body


def _suggest_body(query: SuggestQuery, tiers: list[tuple[TermClause, ...]]) -> dict[str, Any]:
    matches = [{"bool": {"filter": [_clause(clause) for clause in tier]}} for tier in tiers]
    names = {"terms": {"field": "name_display", "size": SUGGEST_CANDIDATES}}
    return {
        "size": 0,
        "query": {
            "bool": {
                "filter": [
                    *_filters(query),
                    {"bool": {"should": matches, "minimum_should_match": 1}},
                ]
            }
        },
        # One request: each tier is a filter aggregation over the names.
        "aggs": {
            f"tier{i}": {"filter": match, "aggs": {"names": names}}
            for i, match in enumerate(matches)
        },
    }


def _buckets(aggregation: dict[str, Any]) -> list[tuple[str, int]]:
    return [(bucket["key"], bucket["doc_count"]) for bucket in aggregation["buckets"]]


class OpenSearchIndex:
    def __init__(self, url: str, index: str) -> None:
        self._index = index
        self._client = AsyncOpenSearch(hosts=[url])

    async def open(self) -> None:
        with _translate_errors("open"):
            if await self._client.indices.exists(index=self._index):
                # Adds fields newer versions map; fails clearly if a field changed its type.
                await self._client.indices.put_mapping(
                    index=self._index, body=INDEX_BODY["mappings"]
                )
                return
            try:
                await self._client.indices.create(index=self._index, body=INDEX_BODY)
            except TransportError as exc:
                # Another worker created it between our check and our create.
                if exc.error != "resource_already_exists_exception":
                    raise

    async def ping(self) -> None:
        # The client's ping() answers False instead of raising when the cluster is unreachable.
        with _translate_errors("ping"):
            reachable = await self._client.ping()
        if not reachable:
            raise TransientError("OpenSearch did not answer a ping")

    async def upsert(self, documents: Sequence[Document]) -> None:
        if not documents:
            return
        body: list[dict[str, Any]] = []
        for document in documents:
            # The deterministic id makes a repeated batch overwrite instead of duplicate.
            body.append({"index": {"_id": document.id}})
            body.append(_to_source(document))
        with _translate_errors("bulk upsert"):
            response = await self._client.bulk(body=body, index=self._index)
        if response["errors"]:
            self._raise_item_errors(response["items"])

    @staticmethod
    def _raise_item_errors(items: list[dict[str, Any]]) -> None:
        failed = [result for item in items for result in item.values() if "error" in result]
        if not failed:
            return
        first = failed[0]["error"]
        message = (
            f"OpenSearch bulk upsert: {len(failed)} of {len(items)} documents failed "
            f"({first.get('type')}: {first.get('reason')})"
        )
        if any(_is_transient(result.get("status")) for result in failed):
            raise TransientError(message)
        raise PermanentError(message)

    async def delete_generations_before(self, database_id: str, generation: int) -> None:
        await self._delete_where(
            [
                {"term": {"database_id": database_id}},
                {"range": {"generation": {"lt": generation}}},
            ],
            "delete of older generations",
        )

    async def delete_database(self, database_id: str) -> None:
        await self._delete_where([{"term": {"database_id": database_id}}], "delete of a database")

    async def _delete_where(self, filters: list[dict[str, Any]], action: str) -> None:
        with _translate_errors(action):
            # delete_by_query only sees what a refresh has published; refresh first so recent
            # writes are deleted too, and refresh after so readers see the result.
            await self._client.indices.refresh(index=self._index)
            response = await self._client.delete_by_query(
                index=self._index,
                body={"query": {"bool": {"filter": filters}}},
                # A document rewritten meanwhile belongs to a newer write: leave it alone.
                conflicts="proceed",
                refresh=True,
                request_timeout=_DELETE_TIMEOUT_SECONDS,
            )
        if response.get("failures"):
            raise TransientError(
                f"OpenSearch {action}: {len(response['failures'])} failures, retry"
            )

    async def search(self, query: SearchQuery) -> SearchPage:
        body = _search_body(query)
        if body is None or not query.scopes or query.limit <= 0:
            return SearchPage(hits=[])
        with _translate_errors("search"):
            response = await self._client.search(index=self._index, body=body)
        hits = [
            SearchHit(document=document_from_dict(hit["_source"]), score=float(hit["_score"]))
            for hit in response["hits"]["hits"]
        ]
        aggregations = response.get("aggregations", {})
        facets = {
            field: facet_counts(_buckets(aggregations[field]))
            for field in FACET_FIELDS
            if field in aggregations
        }
        return SearchPage(hits, facets)

    async def suggest(self, query: SuggestQuery) -> list[Suggestion]:
        tiers = suggest_tiers(query.text)
        if not tiers or not query.scopes or query.limit <= 0:
            return []
        with _translate_errors("suggest"):
            response = await self._client.search(
                index=self._index, body=_suggest_body(query, tiers)
            )
        aggregations = response["aggregations"]
        found = [_buckets(aggregations[f"tier{i}"]["names"]) for i in range(len(tiers))]
        return merge_suggestions(found, query.limit)

    async def tables_page(
        self, scope: str, after_ordinal: int | None, limit: int
    ) -> list[Document]:
        if limit <= 0:
            return []
        filters: list[dict[str, Any]] = [
            {"term": {"scope": scope}},
            {"term": {"kind": str(DocumentKind.TABLE)}},
        ]
        if after_ordinal is not None:
            filters.append({"range": {"ordinal": {"gt": after_ordinal}}})
        # A cursor on ordinal, not from/size: a deep page costs the same as the first.
        body = {"size": limit, "query": {"bool": {"filter": filters}}, "sort": [{"ordinal": "asc"}]}
        with _translate_errors("tables page"):
            response = await self._client.search(index=self._index, body=body)
        return [document_from_dict(hit["_source"]) for hit in response["hits"]["hits"]]

    async def close(self) -> None:
        await self._client.close()
