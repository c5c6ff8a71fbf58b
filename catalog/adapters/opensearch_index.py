"""The production search adapter: OpenSearch through opensearch-py's async client.

Written to the documented OpenSearch API. Identifier terms are computed in Python
(catalog.documents.document_terms) and indexed as keywords, so no engine analyzer shapes
relevance. Driver responses and errors stay inside this module.

Opening an existing index adds the fields this version maps (an additive mapping update);
documents written before it lack them until their database is re-crawled.

Bulk writes (upsert). A call is all or error: it returns once every document is acknowledged,
and raises otherwise, so the worker acks its message only after the writes are durable. The
documents go out in chunks cut by count and by bytes (`BulkOptions.chunk_size`,
`max_chunk_bytes`, the names of opensearch-py's bulk helpers), `concurrency` chunks in flight.
A chunk refused whole with 429, 502, 503 or 504, or the documents of it refused one by one with
those statuses, are sent again after an exponential backoff with full jitter (so chunks refused
together do not come back together), up to `max_retries` times; then TransientError (the worker
naks the message and retries it later). A document rejected for good (a 4xx other than 429)
fails the call at once, never swallowed: PermanentError, or TransientError if others of its
request were refused for now (the mapping this adapter always had); any other 5xx raises
TransientError. The first chunk to fail cancels the others in flight. The client's
transport first retries 502/503/504 and dropped connections itself, immediately (its default);
this module's retries with backoff come on top. opensearch-py's `async_streaming_bulk` is not
used: it sends one chunk at a time and retries 429 only, without jitter.

Refresh during crawls (crawl_started, crawl_ended: see catalog.search.SearchIndex). The
index, shared by every database and every indexer process, stops refreshing on a timer while
crawls write: each crawl batch calls crawl_started, which sets `index.refresh_interval` to "-1"
unless it is already, and first records the value it replaces (unset included) in the mapping's
`_meta` (`catalog_resting_refresh_interval`), where any process can read it back. crawl_ended,
called when a crawl ends (before the store publishes, holds or fails it) and when a batch fails,
restores the recorded value if the interval is "-1", then refreshes the index, so a finishing
crawl's documents are visible before readers are switched to them. With several crawls at once,
the first to end restores the interval while the others run; each of their next batches turns it
off again. Nothing readers see depends on the timer: every publish and every delete refreshes
explicitly. If a crawl ends where no handler sees it (a worker killed for good, the index down
while a batch fails), the interval stays "-1" until any later crawl ends. A "-1" nobody
recorded (set by hand) is left alone; the resting value is whatever the index had before a
crawl turned refresh off, so change it while no crawl runs.

A lost index. If the index is deleted under a running catalog, reads answer IndexLostError (a
503), never a 500; `ensure` (each batch, and the indexer's index watch) creates it again, and
the watch has the databases it held re-crawled. An index template with the index's settings and
mappings, put on open, makes even a bulk write that races the deletion (and so creates the
index on its own) create it with the right mappings.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import TransportError

from catalog.dashboards import CRAWLS_SUFFIX
from catalog.documents import (
    NEVER_RETIRED,
    Document,
    DocumentKind,
    Scope,
    document_from_dict,
    document_terms,
    document_to_dict,
    referenced_relations,
    relation_key,
)
from catalog.errors import IndexLostError, PermanentError, TransientError
from catalog.models import Crawl
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

# Refused for now, not for good: the request, or the refused documents of it, are sent again.
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Only what upsert reads of a bulk response, so a large chunk's answer stays small.
_BULK_FILTER_PATH = "errors,items.*.status,items.*.error"
# Scopes counted per request (document_counts): one filters bucket each.
_COUNT_CHUNK = 1000
# Documents read and written back per request when a crawl retires what it replaced.
_REWRITE_PAGE = 2_000
# Refs per terms query when retiring (OpenSearch takes up to 65,536 terms by default).
_REFS_PER_PASS = 10_000
# Where crawl_started records the refresh interval it replaced, for whichever process restores it.
RESTING_REFRESH_KEY = "catalog_resting_refresh_interval"


@dataclass(frozen=True)
class BulkOptions:
    """How upsert sends documents; the names are those of opensearch-py's bulk helpers."""

    chunk_size: int = 500  # documents per bulk request at most
    max_chunk_bytes: int = 5 * 2**20  # request body bytes at most (a bigger document goes alone)
    concurrency: int = 4  # bulk requests in flight per upsert call
    max_retries: int = 6  # sends again of a refused request or of its refused documents
    initial_backoff: float = 0.5  # seconds before the first retry, doubling, with full jitter
    max_backoff: float = 20.0
    request_timeout: float = 60.0  # per bulk request; a busy cluster answers slowly

    def __post_init__(self) -> None:
        if self.chunk_size < 1 or self.max_chunk_bytes < 1 or self.concurrency < 1:
            raise ValueError("chunk_size, max_chunk_bytes and concurrency must be positive")

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1, 2, ...): full jitter."""
        return random.uniform(0, min(self.max_backoff, self.initial_backoff * 2 ** (retry - 1)))


@dataclass
class BulkStats:
    """What upsert has sent so far, for tests and benchmarks."""

    requests: int = 0  # bulk requests, retries included
    retries: int = 0  # requests that re-sent a refused request or its refused documents
    documents: int = 0  # documents acknowledged


# One bulk action: the action line and the source line, serialized.
_Action = tuple[bytes, bytes]


def _chunks(actions: Iterable[_Action], size: int, max_bytes: int) -> Iterator[list[_Action]]:
    """Consecutive actions, at most `size` and `max_bytes` (newlines included) per chunk."""
    chunk: list[_Action] = []
    chunk_bytes = 0
    for action in actions:
        action_bytes = len(action[0]) + len(action[1]) + 2
        if chunk and (len(chunk) == size or chunk_bytes + action_bytes > max_bytes):
            yield chunk
            chunk, chunk_bytes = [], 0
        chunk.append(action)
        chunk_bytes += action_bytes
    if chunk:
        yield chunk


def _bulk_body(chunk: Sequence[_Action]) -> bytes:
    return b"".join(line + b"\n" for action in chunk for line in action)


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
            # Which scopes see a document (catalog.documents.Scope): the crawl that wrote it and
            # the one that retired it. Written before retirement was mapped: never retired.
            "generation": {"type": "long"},
            "retired": {"type": "long"},
            "ref": _KEYWORD,
            "ordinal": {"type": "long"},
            # Orders equal scores before the ordinal does (catalog.documents.tie_rank).
            "tie_rank": {"type": "integer"},
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
            # Column documents: their table's name terms, and its compact name.
            "table_terms": _KEYWORD,
            "table_compact": _KEYWORD,
            # The name as written, for suggestions (a terms aggregation returns it).
            "name_display": _KEYWORD,
            # Shown to readers, never searched: kept in _source only.
            "payload": {"type": "object", "enabled": False},
            # Table documents: their payload's estimates again, for dashboards to aggregate.
            "row_estimate": {"type": "long"},
            "size_bytes": {"type": "long"},
            # Table documents: the tables their foreign keys point at
            # (catalog.documents.referenced_relations); absent when they have none.
            "references": _KEYWORD,
        },
    },
}
# One document per ended crawl, for dashboards (record_crawl), in `<index>` + CRAWLS_SUFFIX.
_DATE = {"type": "date"}
CRAWLS_BODY: dict[str, Any] = {
    "mappings": {
        "dynamic": "strict",
        "properties": {
            "crawl_id": _KEYWORD,
            "database_id": _KEYWORD,
            "tenant_id": _KEYWORD,
            "state": _KEYWORD,  # complete, failed or held
            "mode": _KEYWORD,  # full or incremental; absent when it failed before its plan
            "error_class": _KEYWORD,
            "generation": {"type": "long"},
            "requested_at": _DATE,
            "started_at": _DATE,
            "finished_at": _DATE,
            "duration_seconds": {"type": "double"},
            "tables": {"type": "long"},
            "columns": {"type": "long"},
            "changes": {"type": "long"},
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
        raise _translated(action, exc) from exc


def _reason(exc: TransportError) -> str:
    """The engine's own words for a refusal (type and reason, which name the field at fault),
    or the error type alone when the body has no more."""
    error = exc.info.get("error") if isinstance(exc.info, dict) else None
    if not isinstance(error, dict):
        return str(exc.error)
    cause = (error.get("root_cause") or [error])[0]
    return f"{cause.get('type')}: {cause.get('reason')}"


def _translated(action: str, exc: TransportError) -> TransientError | PermanentError:
    if exc.error == "index_not_found_exception":
        return IndexLostError(
            f"the search index is missing (during {action}); the indexer recreates it"
        )
    if _is_transient(exc.status_code):
        return TransientError(f"OpenSearch busy during {action}: {exc.status_code}")
    return PermanentError(f"OpenSearch rejected {action}: {exc.status_code} {_reason(exc)}")


def _item_error_message(failed: list[dict[str, Any]], sent: int) -> str:
    first = failed[0].get("error") or {}
    if not isinstance(first, dict):
        first = {"reason": first}
    return (
        f"OpenSearch bulk upsert: {len(failed)} of {sent} documents failed "
        f"({first.get('type')}: {first.get('reason')})"
    )


def _most_telling(group: BaseExceptionGroup) -> BaseException:
    """The error a failed upsert raises: a transient one (worth retrying the whole call, as for
    one request's documents), or else a permanent one, or else whatever it was."""
    errors = list(group.exceptions)
    for kind in (TransientError, PermanentError):
        for error in errors:
            if isinstance(error, kind):
                return error
    return errors[0]


def _to_source(document: Document) -> dict[str, Any]:
    source = document_to_dict(document) | {
        "name_display": document.name,
        "tie_rank": document.tie_rank,
    }
    if document.kind is DocumentKind.TABLE:
        estimates = ("row_estimate", "size_bytes")
        source |= {name: document.payload.get(name) for name in estimates}
        if references := referenced_relations(document):
            source["references"] = references
    return source | {str(field): terms for field, terms in document_terms(document).items()}


def crawl_record(crawl: Crawl, tenant_id: str, changes: int) -> dict[str, Any]:
    """A crawl's document in `<index>-crawls`."""
    return {
        "crawl_id": crawl.id,
        "database_id": crawl.database_id,
        "tenant_id": tenant_id,
        "state": crawl.state.value,
        "mode": crawl.mode,
        "error_class": crawl.error_class,
        "generation": crawl.generation,
        "requested_at": crawl.requested_at.isoformat(),
        "started_at": crawl.started_at.isoformat() if crawl.started_at else None,
        "finished_at": crawl.finished_at.isoformat() if crawl.finished_at else None,
        "duration_seconds": crawl.duration_seconds,
        "tables": crawl.tables,
        "columns": crawl.columns,
        "changes": changes,
    }


def _clause(clause: TermClause) -> dict[str, Any]:
    query = _matching(clause)
    if clause.also is None:
        return query
    field, value = clause.also
    return {"bool": {"filter": [query, {"term": {field: value}}]}}


def _matching(clause: TermClause) -> dict[str, Any]:
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
    return [
        _in_scopes(query.scopes),
        *({"terms": {field: list(values)}} for field, values in query.keyword_filters()),
        *(
            {"bool": {"must_not": [{"terms": {field: list(values)}}]}}
            for field, values in query.keyword_exclusions()
        ),
    ]


def _in_scope(text: str) -> dict[str, Any]:
    """Documents a scope sees (catalog.documents.Scope)."""
    scope = Scope.parse(text)
    return {
        "bool": {
            "filter": [{"term": {"database_id": scope.database_id}}, _written_in(scope)],
            # Not "retired > generation": a document written before retirement was mapped
            # has no value, and is not retired.
            "must_not": [{"range": {"retired": {"lte": scope.generation}}}],
        }
    }


def _written_in(scope: Scope) -> dict[str, Any]:
    """Documents written by the crawls a scope reads: its base to its generation."""
    return {"range": {"generation": {"gte": scope.base, "lte": scope.generation}}}


def _in_scopes(scopes: Sequence[str]) -> dict[str, Any]:
    return {"bool": {"should": [_in_scope(s) for s in scopes], "minimum_should_match": 1}}


def _search_body(query: SearchQuery) -> dict[str, Any] | None:
    plan = match_plan(query.text, query.kind, query.abbreviations)
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
        # The stable order: ties broken by tie rank, plan order, then id. A document written
        # before tie ranks were kept has none: it sorts after those that do.
        "sort": [
            {"_score": "desc"},
            {"tie_rank": {"order": "asc", "missing": "_last"}},
            {"ordinal": "asc"},
            {"id": "asc"},
        ],
        "track_scores": True,
    }
    if query.after is not None:
        after = query.after
        body["search_after"] = [after.score, after.rank, after.ordinal, after.id]
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
    def __init__(self, url: str, index: str, bulk: BulkOptions | None = None) -> None:
        self._index = index
        self._crawls = index + CRAWLS_SUFFIX
        self._client = AsyncOpenSearch(hosts=[url])
        self._bulk = bulk or BulkOptions()
        self.bulk_stats = BulkStats()

    async def open(self) -> None:
        # The crawl records' index is made by the first record_crawl, with these mappings even
        # if someone deleted it.
        for name, body in ((self._index, INDEX_BODY), (self._crawls, CRAWLS_BODY)):
            with _translate_errors(f"the template of index {name!r}"):
                await self._client.indices.put_index_template(
                    name=name, body={"index_patterns": [name], "template": body, "priority": 500}
                )
        with _translate_errors(f"the mapping of index {self._crawls!r}"):
            if await self._client.indices.exists(index=self._crawls):
                await self._client.indices.put_mapping(
                    index=self._crawls, body=CRAWLS_BODY["mappings"]
                )
        if not await self.ensure():
            with _translate_errors(f"the mapping of index {self._index!r}"):
                # Adds fields newer versions map; fails clearly if a field changed its type.
                await self._client.indices.put_mapping(
                    index=self._index, body=INDEX_BODY["mappings"]
                )

    async def ensure(self) -> bool:
        with _translate_errors(f"creating index {self._index!r}"):
            if await self._client.indices.exists(index=self._index):
                return False
            try:
                await self._client.indices.create(index=self._index, body=INDEX_BODY)
            except TransportError as exc:
                # Another worker created it between our check and our create.
                if exc.error != "resource_already_exists_exception":
                    raise
                return False
            return True

    async def documents_by_id(self, ids: Sequence[str]) -> list[Document]:
        if not ids:
            return []
        with _translate_errors("reading documents"):
            response = await self._client.mget(index=self._index, body={"ids": list(ids)})
        return [document_from_dict(d["_source"]) for d in response["docs"] if d.get("found")]

    async def document_counts(self, scopes: Sequence[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for start in range(0, len(scopes), _COUNT_CHUNK):
            chunk = list(scopes[start : start + _COUNT_CHUNK])
            body = {
                "size": 0,
                "query": _in_scopes(chunk),
                "aggs": {"scopes": {"filters": {"filters": {s: _in_scope(s) for s in chunk}}}},
            }
            with _translate_errors("counting documents"):
                response = await self._client.search(index=self._index, body=body)
            buckets = response["aggregations"]["scopes"]["buckets"]
            counts.update((s, b["doc_count"]) for s, b in buckets.items() if b["doc_count"])
        return counts

    async def ping(self) -> None:
        # The client's ping() answers False instead of raising when the cluster is unreachable.
        with _translate_errors("ping"):
            reachable = await self._client.ping()
        if not reachable:
            raise TransientError("OpenSearch did not answer a ping")

    async def upsert(self, documents: Sequence[Document]) -> None:
        if not documents:
            return
        dumps = self._client.transport.serializer.dumps
        # The deterministic id makes a repeated batch overwrite instead of duplicate.
        actions = (
            (
                dumps({"index": {"_id": document.id}}).encode(),
                dumps(_to_source(document)).encode(),
            )
            for document in documents
        )
        # One generator shared by the senders: each takes the next chunk when it is free.
        chunks = _chunks(actions, self._bulk.chunk_size, self._bulk.max_chunk_bytes)
        try:
            async with asyncio.TaskGroup() as senders:
                for _ in range(self._bulk.concurrency):
                    senders.create_task(self._send_chunks(chunks))
        except BaseExceptionGroup as group:
            # The first failure cancels the other senders: the call fails as a whole anyway.
            error = _most_telling(group)
            raise error from error.__cause__

    async def _send_chunks(self, chunks: Iterator[list[_Action]]) -> None:
        for chunk in chunks:
            await self._send_chunk(chunk)

    async def _send_chunk(self, chunk: list[_Action]) -> None:
        """Send one chunk until every document of it is acknowledged, or raise."""
        options = self._bulk
        pending = chunk
        for attempt in range(options.max_retries + 1):
            last_attempt = attempt == options.max_retries
            if attempt:
                self.bulk_stats.retries += 1
                await asyncio.sleep(options.backoff(attempt))
            self.bulk_stats.requests += 1
            try:
                response = await self._client.bulk(
                    body=_bulk_body(pending),
                    index=self._index,
                    filter_path=_BULK_FILTER_PATH,
                    request_timeout=options.request_timeout,
                )
            except OpenSearchConnectionError as exc:
                # The transport has retried the connection already; the worker retries later.
                raise TransientError("OpenSearch unreachable during bulk upsert") from exc
            except TransportError as exc:
                if exc.status_code in _RETRY_STATUSES and not last_attempt:
                    continue
                raise _translated("bulk upsert", exc) from exc
            results = [next(iter(item.values())) for item in response.get("items", [])]
            if len(results) != len(pending):
                raise TransientError(
                    f"OpenSearch bulk upsert: {len(results)} results for {len(pending)} documents"
                )
            refused = [
                (action, result)
                for action, result in zip(pending, results, strict=True)
                if not 200 <= result.get("status", 500) < 300
            ]
            self.bulk_stats.documents += len(pending) - len(refused)
            if not refused:
                return
            failed = [result for _, result in refused]
            statuses = {result.get("status") for result in failed}
            if statuses <= _RETRY_STATUSES and not last_attempt:
                pending = [action for action, _ in refused]
                continue
            message = _item_error_message(failed, len(pending))
            if any(_is_transient(status) for status in statuses):
                raise TransientError(message)
            # Rejected for good (a mapping error, a malformed document): retrying cannot help.
            raise PermanentError(message)
        raise TransientError(
            f"OpenSearch refused bulk upsert {options.max_retries + 1} times; retry later"
        )

    async def crawl_started(self) -> None:
        await self.ensure()  # deleted since the last batch: the watch re-crawls what it held
        with _translate_errors("turning refresh off for a crawl"):
            current = await self._refresh_interval()
            if current == "-1":
                return  # another crawl has turned it off already (or an operator has)
            meta = await self._meta()
            if RESTING_REFRESH_KEY not in meta or meta[RESTING_REFRESH_KEY] != current:
                await self._client.indices.put_mapping(
                    index=self._index, body={"_meta": meta | {RESTING_REFRESH_KEY: current}}
                )
            await self._put_refresh_interval("-1")

    async def crawl_ended(self) -> None:
        with _translate_errors("refreshing after a crawl"):
            if await self._refresh_interval() == "-1":
                meta = await self._meta()
                if RESTING_REFRESH_KEY in meta:
                    # None (it was unset) resets it to the engine's default.
                    await self._put_refresh_interval(meta[RESTING_REFRESH_KEY])
            await self._client.indices.refresh(index=self._index)

    async def _refresh_interval(self) -> str | None:
        response = await self._client.indices.get_settings(
            index=self._index, name="index.refresh_interval", flat_settings=True
        )
        for body in response.values():  # keyed by the concrete index, should ours be an alias
            return body.get("settings", {}).get("index.refresh_interval")
        return None

    async def _put_refresh_interval(self, value: str | None) -> None:
        await self._client.indices.put_settings(
            index=self._index, body={"index": {"refresh_interval": value}}
        )

    async def _meta(self) -> dict[str, Any]:
        response = await self._client.indices.get_mapping(index=self._index)
        for body in response.values():
            return dict(body.get("mappings", {}).get("_meta", {}))
        return {}

    async def supersede(self, live: str, generation: int, refs: Sequence[str]) -> None:
        scope = Scope.parse(live)
        database = {"term": {"database_id": scope.database_id}}
        # Written by crawls between the live one and this one, which did not publish.
        unpublished = {"range": {"generation": {"gt": scope.generation, "lt": generation}}}
        await self._delete_where([database, unpublished], "delete of unpublished documents")
        replaced = set(refs)
        # A terms query takes up to 65,536 values: refs go a slice at a time (each pass also
        # restores what unpublished crawls retired, which the first pass leaves none of).
        slices = [list(refs[i : i + _REFS_PER_PASS]) for i in range(0, len(refs), _REFS_PER_PASS)]
        for part in slices or [[]]:
            # Retired by such crawls, or by an earlier attempt of this one; and what it replaces.
            retiring: list[dict[str, Any]] = [
                {"range": {"retired": {"gt": scope.generation, "lt": NEVER_RETIRED}}}
            ]
            if part:
                retiring.append({"terms": {"ref": part}})
            query = {
                "bool": {
                    "filter": [
                        database,
                        _written_in(scope),
                        {"bool": {"should": retiring, "minimum_should_match": 1}},
                    ]
                }
            }
            await self._rewrite_retired(query, replaced, generation)
        with _translate_errors("retiring replaced documents"):
            await self._client.indices.refresh(index=self._index)

    async def _rewrite_retired(
        self, query: dict[str, Any], replaced: set[str], generation: int
    ) -> None:
        """Write back the documents `query` finds, retired at `generation` if their relation is
        among `replaced`, else not retired; read and written whole, a page at a time (an update
        script would need the painless module, which a node need not have)."""
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {"size": _REWRITE_PAGE, "query": query, "sort": [{"id": "asc"}]}
            if after is not None:
                body["search_after"] = after
            with _translate_errors("reading replaced documents"):
                hits = (await self._client.search(index=self._index, body=body))["hits"]["hits"]
            if not hits:
                return
            documents = [document_from_dict(hit["_source"]) for hit in hits]
            await self.upsert(
                [
                    replace(d, retired=generation if d.ref in replaced else NEVER_RETIRED)
                    for d in documents
                ]
            )
            after = hits[-1]["sort"]

    async def delete_superseded(self, scope: str) -> None:
        seen = Scope.parse(scope)
        gone = [
            {"range": {"generation": {"lt": seen.base}}},
            {"range": {"retired": {"lte": seen.generation}}},
        ]
        await self._delete_where(
            [
                {"term": {"database_id": seen.database_id}},
                {"bool": {"should": gone, "minimum_should_match": 1}},
            ],
            "delete of superseded documents",
        )

    async def record_crawl(self, crawl: Crawl, tenant_id: str, changes: int) -> None:
        with _translate_errors("recording a crawl for dashboards"):
            await self._client.index(
                index=self._crawls, id=crawl.id, body=crawl_record(crawl, tenant_id, changes)
            )

    async def delete_database(self, database_id: str) -> None:
        await self._delete_where([{"term": {"database_id": database_id}}], "delete of a database")
        with _translate_errors("deleting a database's crawl records"):
            # Its crawls went from the store: their records go too (none yet: nothing to do).
            await self._client.delete_by_query(
                index=self._crawls,
                body={"query": {"term": {"database_id": database_id}}},
                params={"ignore_unavailable": "true", "conflicts": "proceed"},
            )

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
        # A cursor on ordinal, not from/size: a deep page costs the same as the first.
        after = [] if after_ordinal is None else [{"range": {"ordinal": {"gt": after_ordinal}}}]
        return await self._tables(scope, after, limit, "tables page")

    async def table(self, scope: str, schema: str, name: str) -> Document | None:
        named = [{"term": {"schema": schema}}, {"term": {"table": name}}]
        found = await self._tables(scope, named, 1, "table lookup")
        return found[0] if found else None

    async def tables_referencing(
        self, scope: str, schema: str, name: str, limit: int
    ) -> list[Document]:
        referring = [{"term": {"references": relation_key(schema, name)}}]
        return await self._tables(scope, referring, limit, "referencing tables")

    async def _tables(
        self, scope: str, filters: list[dict[str, Any]], limit: int, action: str
    ) -> list[Document]:
        """Up to `limit` table documents of one scope that match every filter, by ordinal."""
        if limit <= 0:
            return []
        tables = [_in_scopes([scope]), {"term": {"kind": str(DocumentKind.TABLE)}}, *filters]
        body = {"size": limit, "query": {"bool": {"filter": tables}}, "sort": [{"ordinal": "asc"}]}
        with _translate_errors(action):
            response = await self._client.search(index=self._index, body=body)
        return [document_from_dict(hit["_source"]) for hit in response["hits"]["hits"]]

    async def close(self) -> None:
        await self._client.close()
