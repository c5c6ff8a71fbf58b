"""The production search adapter: OpenSearch through opensearch-py's async client.

Written to the documented OpenSearch API. Identifier terms are computed in Python
(catalog.identifiers) and indexed as keywords, so no engine analyzer shapes relevance.
Driver responses and errors stay inside this module.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import TransportError

from catalog.documents import Document, DocumentKind, document_from_dict, document_to_dict
from catalog.errors import PermanentError, TransientError
from catalog.identifiers import identifier_parts
from catalog.search import (
    EXACT_NAME_BOOST,
    EXACT_TERM_SCORE,
    PREFIX_SCORE,
    SearchHit,
    SearchQuery,
    fuzzy_tiers,
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
    return document_to_dict(document) | {
        "scope": document.scope,
        "name": document.name,
        "name_terms": document.name_terms,
    }


def _match_part(part: str) -> dict[str, Any]:
    """A query part matches a name term exactly, as a prefix, or within a few edits.

    dis_max keeps the best of the three, so an exact term is not also counted as its own prefix.
    """
    alternatives: list[dict[str, Any]] = [
        {"constant_score": {"filter": {"term": {"name_terms": part}}, "boost": EXACT_TERM_SCORE}},
        {"constant_score": {"filter": {"prefix": {"name_terms": part}}, "boost": PREFIX_SCORE}},
    ]
    for distance, score in fuzzy_tiers(part):
        fuzzy = {"value": part, "fuzziness": distance, "transpositions": True}
        alternatives.append(
            {"constant_score": {"filter": {"fuzzy": {"name_terms": fuzzy}}, "boost": score}}
        )
    return {"dis_max": {"queries": alternatives}}


def _search_body(query: SearchQuery, parts: list[str]) -> dict[str, Any]:
    filters: list[dict[str, Any]] = [{"terms": {"scope": list(query.scopes)}}]
    if query.kind is not None:
        filters.append({"term": {"kind": str(query.kind)}})
    exact_name = {"term": {"name": query.text.lower()}}
    return {
        "size": query.limit,
        "query": {
            "bool": {
                # Filters do not score; only the match clauses below decide the ranking.
                "filter": filters,
                "must": [_match_part(part) for part in parts],
                "should": [{"constant_score": {"filter": exact_name, "boost": EXACT_NAME_BOOST}}],
            }
        },
        # Ties broken by plan order, then id, so results are deterministic.
        "sort": [{"_score": "desc"}, {"ordinal": "asc"}, {"id": "asc"}],
        "track_scores": True,
    }


class OpenSearchIndex:
    def __init__(self, url: str, index: str) -> None:
        self._index = index
        self._client = AsyncOpenSearch(hosts=[url])

    async def open(self) -> None:
        with _translate_errors("open"):
            if await self._client.indices.exists(index=self._index):
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

    async def search(self, query: SearchQuery) -> list[SearchHit]:
        parts = identifier_parts(query.text)
        if not parts or not query.scopes or query.limit <= 0:
            return []
        with _translate_errors("search"):
            response = await self._client.search(index=self._index, body=_search_body(query, parts))
        return [
            SearchHit(document=document_from_dict(hit["_source"]), score=float(hit["_score"]))
            for hit in response["hits"]["hits"]
        ]

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
