"""The embedded search adapter: a tantivy index in a local directory.

One IndexWriter per object, serialised by an asyncio.Lock; every write commits and reloads the
reader before returning, so a write is durable and visible once the call returns. tantivy's calls
block, so they run in worker threads.

The index is derived data: when the directory holds an index built with another schema (an older
version of this program), it is recreated empty and a warning says to re-crawl, which refills it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import tantivy
from tantivy import FieldType, Occur, Order, Query

from catalog.documents import (
    Document,
    DocumentKind,
    TermField,
    document_from_dict,
    document_terms,
    document_to_dict,
)
from catalog.search import (
    FACET_FIELDS,
    FACET_SIZE,
    SUGGEST_CANDIDATES,
    Facets,
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

log = logging.getLogger(__name__)

_WRITER_HEAP_BYTES = 128_000_000
# How far search looks past a page for hits tied with its last one (see _ranked).
_MAX_TIE_CANDIDATES = 10_000
# Keyword fields that facets count and suggestions aggregate: text fast fields.
_FAST_KEYWORDS = {*FACET_FIELDS, "name_display"}


def _build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    # "raw" keeps each value as one term: these are keywords, and the analysed fields are already
    # split and lower-cased in Python (catalog.documents.document_terms), so the engine does no
    # analysis of its own.
    keywords = ["id", "scope", "tenant_id", "data_type", *FACET_FIELDS, "name_display", *TermField]
    for name in keywords:
        builder.add_text_field(
            name, tokenizer_name="raw", index_option="basic", fast=name in _FAST_KEYWORDS
        )
    # Fast fields: ordinal orders and ranges table pages and breaks ties, generation ranges deletes.
    builder.add_unsigned_field("ordinal", indexed=True, fast=True)
    builder.add_unsigned_field("generation", indexed=True, fast=True)
    # The whole Document as JSON, payload included: what search and browsing give back.
    builder.add_bytes_field("source", stored=True)
    return builder.build()


def _to_tantivy(document: Document) -> tantivy.Document:
    doc = tantivy.Document()
    keywords = {
        "id": document.id,
        "database_id": document.database_id,
        "tenant_id": document.tenant_id,
        "scope": document.scope,
        "kind": str(document.kind),
        "schema": document.schema,
        "table_type": document.table_type,
        "data_type": document.data_type,
        "name_display": document.name,
    }
    for name, value in keywords.items():
        if value is not None:
            doc.add_text(name, value)
    for field, terms in document_terms(document).items():
        for term in terms:
            doc.add_text(field, term)
    doc.add_unsigned("ordinal", document.ordinal)
    doc.add_unsigned("generation", document.generation)
    doc.add_bytes("source", json.dumps(document_to_dict(document), ensure_ascii=False).encode())
    return doc


def _from_tantivy(doc: tantivy.Document) -> Document:
    return document_from_dict(json.loads(doc.get_first("source")))


Candidate = tuple[float, int, tantivy.DocAddress]  # score, ordinal, address


def _ranked(searcher: tantivy.Searcher, query: Query, window: int) -> list[Candidate]:
    """The best `window` hits by (score desc, ordinal asc), and any tied with the last of them.

    tantivy orders equal scores by where documents sit in segments, and the constant-score
    clauses make ties common. So hits tied with the last one are fetched too (the fetch grows
    while the tie runs on, up to _MAX_TIE_CANDIDATES) and ordered by ordinal.
    """
    fetch = window
    while True:
        hits = searcher.search(query, fetch, count=False).hits
        tie_runs_on = len(hits) == fetch and hits[-1][0] == hits[window - 1][0]
        if not tie_runs_on or fetch >= _MAX_TIE_CANDIDATES:
            break
        fetch = min(fetch * 4, _MAX_TIE_CANDIDATES)
    ordinals = searcher.fast_field_values("ordinal", [address for _, address in hits])
    candidates = [
        (score, ordinal, address) for (score, address), ordinal in zip(hits, ordinals, strict=True)
    ]
    ranked = sorted(candidates, key=lambda candidate: (-candidate[0], candidate[1]))
    return _through_ties(ranked, window)


def _through_ties(ranked: list[Candidate], count: int) -> list[Candidate]:
    """The first `count` candidates and those sharing the last one's (score, ordinal): the id
    decides inside that group, and ids are only known once the documents are read."""
    if len(ranked) <= count:
        return ranked
    edge = (-ranked[count - 1][0], ranked[count - 1][1])
    return [c for c in ranked if (-c[0], c[1]) <= edge]


def _page(searcher: tantivy.Searcher, query: Query, search: SearchQuery) -> list[SearchHit]:
    """One page in the stable order: everything up to the page's end is ranked (the depth is
    bounded by MAX_SEARCH_DEPTH), then the hits after `search.after` are kept."""
    candidates = _ranked(searcher, query, search.depth + search.limit)
    after = search.after
    if after is not None:
        # Hits sharing the position's (score, ordinal) may fall either side of it: read them.
        candidates = [c for c in candidates if (-c[0], c[1]) >= after.key()[:2]]
        sharing = sum(1 for c in candidates if (-c[0], c[1]) == after.key()[:2])
        candidates = _through_ties(candidates, search.limit + sharing)
    else:
        candidates = _through_ties(candidates, search.limit)
    hits = [
        SearchHit(document=_from_tantivy(searcher.doc(address)), score=float(score))
        for score, _, address in candidates
    ]
    hits.sort(key=SearchHit.key)
    if after is not None:
        hits = [hit for hit in hits if hit.key() > after.key()]
    return hits[: search.limit]


class TantivyIndex:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._schema = _build_schema()
        self._index: tantivy.Index | None = None
        self._writer: tantivy.IndexWriter | None = None
        self._write_lock = asyncio.Lock()

    async def open(self) -> None:
        if self._index is None:
            self._index, self._writer = await asyncio.to_thread(self._open_blocking)

    def _open_blocking(self) -> tuple[tantivy.Index, tantivy.IndexWriter]:
        self._path.mkdir(parents=True, exist_ok=True)
        try:
            index = tantivy.Index(self._schema, path=str(self._path), reuse=True)
        except ValueError:
            # Built by another version with other fields: rebuild it from the crawls.
            log.warning(
                "the search index in %s has an older schema; it was recreated empty: "
                "re-crawl each database (POST /v1/databases/{id}/crawls) to fill it",
                self._path,
            )
            index = tantivy.Index(self._schema, path=str(self._path), reuse=False)
        # Readers move only when we reload after a commit, so no write is seen half-way.
        index.config_reader(reload_policy="manual")
        return index, index.writer(heap_size=_WRITER_HEAP_BYTES)

    async def ping(self) -> None:
        """Embedded: nothing to reach once opened."""

    async def upsert(self, documents: Sequence[Document]) -> None:
        if not documents:
            return
        prepared = [_to_tantivy(document) for document in documents]

        def write(writer: tantivy.IndexWriter) -> None:
            for document, doc in zip(documents, prepared, strict=True):
                # A delete hides only documents added before it, so a repeated id keeps the last.
                writer.delete_documents_by_term("id", document.id)
                writer.add_document(doc)

        await self._write(write)

    async def delete_generations_before(self, database_id: str, generation: int) -> None:
        older = Query.range_query(
            self._schema,
            "generation",
            FieldType.Unsigned,
            upper_bound=generation,
            include_upper=False,
        )
        query = Query.boolean_query(
            [(Occur.Must, self._term("database_id", database_id)), (Occur.Must, older)]
        )
        await self._write(lambda writer: writer.delete_documents_by_query(query))

    async def delete_database(self, database_id: str) -> None:
        await self._write(
            lambda writer: writer.delete_documents_by_term("database_id", database_id)
        )

    async def search(self, query: SearchQuery) -> SearchPage:
        plan = match_plan(query.text, query.kind)
        if plan is None or not query.scopes or query.limit <= 0:
            return SearchPage(hits=[])
        index = self._opened()
        tantivy_query = Query.boolean_query(
            [
                *self._filters(query),
                *((Occur.Must, self._best_of(group)) for group in plan.parts),
                *((Occur.Should, self._best_of(group)) for group in plan.bonuses),
            ]
        )

        def run() -> SearchPage:
            searcher = index.searcher()
            hits = _page(searcher, tantivy_query, query)
            return SearchPage(hits, self._facets(searcher, tantivy_query) if query.facets else {})

        return await asyncio.to_thread(run)

    def _filters(self, query: SearchQuery | SuggestQuery) -> list[tuple[Occur, Query]]:
        # Filters score 0 so only the match clauses decide the ranking.
        return [
            (Occur.Must, Query.const_score_query(self._any_of(field, values), 0.0))
            for field, values in query.keyword_filters()
        ]

    def _any_of(self, field: str, values: Sequence[str]) -> Query:
        if len(values) == 1:
            return self._term(field, values[0])
        return Query.term_set_query(self._schema, field, list(values))

    def _best_of(self, alternatives: Sequence[TermClause]) -> Query:
        """The best-scoring alternative that matches: a dis_max of constant scores."""
        scored = [Query.const_score_query(self._clause(c), c.score) for c in alternatives]
        return Query.disjunction_max_query(scored)

    def _clause(self, clause: TermClause) -> Query:
        if clause.match is Match.EXACT:
            return self._term(clause.field, clause.value)
        if clause.match is Match.PREFIX:
            return Query.fuzzy_term_query(
                self._schema, clause.field, clause.value, distance=0, prefix=True
            )
        return Query.fuzzy_term_query(
            self._schema,
            clause.field,
            clause.value,
            distance=clause.distance,
            transposition_cost_one=True,
        )

    def _facets(self, searcher: tantivy.Searcher, query: Query) -> Facets:
        aggregations = {
            field: {"terms": {"field": field, "size": FACET_SIZE}} for field in FACET_FIELDS
        }
        result = searcher.aggregate(query, aggregations)
        return {
            field: facet_counts((b["key"], b["doc_count"]) for b in result[field]["buckets"])
            for field in FACET_FIELDS
        }

    async def suggest(self, query: SuggestQuery) -> list[Suggestion]:
        tiers = suggest_tiers(query.text)
        if not tiers or not query.scopes or query.limit <= 0:
            return []
        index = self._opened()
        filters = self._filters(query)
        names = {"names": {"terms": {"field": "name_display", "size": SUGGEST_CANDIDATES}}}

        def run() -> list[Suggestion]:
            searcher = index.searcher()
            found: list[list[tuple[str, int]]] = []
            for tier in tiers:
                clauses = [(Occur.Must, self._clause(clause)) for clause in tier]
                result = searcher.aggregate(Query.boolean_query([*filters, *clauses]), names)
                found.append([(b["key"], b["doc_count"]) for b in result["names"]["buckets"]])
                # Later tiers only fill up: stop once the better ones have enough names.
                if len(merge_suggestions(found, query.limit)) == query.limit:
                    break
            return merge_suggestions(found, query.limit)

        return await asyncio.to_thread(run)

    async def tables_page(
        self, scope: str, after_ordinal: int | None, limit: int
    ) -> list[Document]:
        if limit <= 0:
            return []
        index = self._opened()
        clauses = [
            (Occur.Must, self._term("scope", scope)),
            (Occur.Must, self._term("kind", str(DocumentKind.TABLE))),
        ]
        if after_ordinal is not None:
            after = Query.range_query(
                self._schema,
                "ordinal",
                FieldType.Unsigned,
                lower_bound=after_ordinal,
                include_lower=False,
            )
            clauses.append((Occur.Must, after))
        query = Query.boolean_query(clauses)

        def run() -> list[Document]:
            searcher = index.searcher()
            result = searcher.search(query, limit, order_by_field="ordinal", order=Order.Asc)
            return [_from_tantivy(searcher.doc(address)) for _, address in result.hits]

        return await asyncio.to_thread(run)

    async def close(self) -> None:
        async with self._write_lock:
            writer, self._writer, self._index = self._writer, None, None
            if writer is not None:
                # Consumes the writer: merges finish and the directory lock is released.
                await asyncio.to_thread(writer.wait_merging_threads)

    def _term(self, field: str, value: str) -> Query:
        return Query.term_query(self._schema, field, value)

    def _opened(self) -> tantivy.Index:
        if self._index is None:
            raise RuntimeError("TantivyIndex used before open() or after close()")
        return self._index

    async def _write(self, operation: Callable[[tantivy.IndexWriter], object]) -> None:
        """Run one write under the lock, then commit and reload so it is durable and visible."""
        async with self._write_lock:
            index, writer = self._opened(), self._writer
            if writer is None:
                raise RuntimeError("TantivyIndex used before open() or after close()")

            def run() -> None:
                try:
                    operation(writer)
                    writer.commit()
                except BaseException:
                    # Drop the half-done operations so the next commit does not publish them.
                    writer.rollback()
                    raise
                index.reload()

            await asyncio.to_thread(run)
