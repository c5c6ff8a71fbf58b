"""The embedded search adapter: a tantivy index in a local directory.

One IndexWriter per object, serialised by an asyncio.Lock; every write commits and reloads the
reader before returning, so a write is durable and visible once the call returns. tantivy's calls
block, so they run in worker threads.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import tantivy
from tantivy import FieldType, Occur, Order, Query

from catalog.documents import Document, DocumentKind, document_from_dict, document_to_dict
from catalog.identifiers import identifier_parts
from catalog.search import (
    EXACT_NAME_BOOST,
    EXACT_TERM_SCORE,
    PREFIX_SCORE,
    SearchHit,
    SearchQuery,
    fuzzy_tiers,
)

_WRITER_HEAP_BYTES = 128_000_000
# How far search looks past `limit` for hits tied with the last one (see _top_hits).
_MAX_TIE_CANDIDATES = 10_000


def _build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    # "raw" keeps each value as one term: these are keywords, and name_terms are already split
    # and lower-cased in Python (catalog.identifiers), so the engine does no analysis of its own.
    builder.add_text_field("id", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("database_id", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("scope", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("kind", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("name", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("name_terms", tokenizer_name="raw", index_option="basic")
    # Fast fields: ordinal orders and ranges table pages, generation ranges deletes.
    builder.add_unsigned_field("ordinal", indexed=True, fast=True)
    builder.add_unsigned_field("generation", indexed=True, fast=True)
    # The whole Document as JSON, payload included: what search and browsing give back.
    builder.add_bytes_field("source", stored=True)
    return builder.build()


def _to_tantivy(document: Document) -> tantivy.Document:
    doc = tantivy.Document()
    doc.add_text("id", document.id)
    doc.add_text("database_id", document.database_id)
    doc.add_text("scope", document.scope)
    doc.add_text("kind", str(document.kind))
    doc.add_text("name", document.name.lower())
    for term in document.name_terms:
        doc.add_text("name_terms", term)
    doc.add_unsigned("ordinal", document.ordinal)
    doc.add_unsigned("generation", document.generation)
    doc.add_bytes("source", json.dumps(document_to_dict(document), ensure_ascii=False).encode())
    return doc


def _from_tantivy(doc: tantivy.Document) -> Document:
    return document_from_dict(json.loads(doc.get_first("source")))


def _top_hits(index: tantivy.Index, query: Query, limit: int) -> list[SearchHit]:
    """The best `limit` hits by score, ties broken by ordinal then id, as OpenSearch sorts them.

    tantivy orders equal scores by where documents sit in segments, and the constant-score
    clauses make ties common. So hits tied with the last one kept are fetched too (the window
    grows while the tie runs on, up to _MAX_TIE_CANDIDATES), ordered by ordinal, and cut.
    """
    searcher = index.searcher()
    fetch = limit
    while True:
        hits = searcher.search(query, fetch, count=False).hits
        tie_runs_on = len(hits) == fetch and hits[-1][0] == hits[limit - 1][0]
        if not tie_runs_on or fetch >= _MAX_TIE_CANDIDATES:
            break
        fetch = min(fetch * 4, _MAX_TIE_CANDIDATES)
    ordinals = searcher.fast_field_values("ordinal", [address for _, address in hits])
    ranked = sorted(zip(hits, ordinals, strict=True), key=lambda entry: (-entry[0][0], entry[1]))
    if len(ranked) > limit:
        # Keep the whole group that shares the last kept (score, ordinal); id decides inside it.
        (edge_score, _), edge_ordinal = ranked[limit - 1]
        ranked = [
            ((score, address), ordinal)
            for (score, address), ordinal in ranked
            if (-score, ordinal) <= (-edge_score, edge_ordinal)
        ]
    found = [
        SearchHit(document=_from_tantivy(searcher.doc(address)), score=float(score))
        for (score, address), _ in ranked
    ]
    found.sort(key=lambda hit: (-hit.score, hit.document.ordinal, hit.document.id))
    return found[:limit]


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
        if tantivy.Index.exists(str(self._path)):
            index = tantivy.Index.open(str(self._path))
        else:
            index = tantivy.Index(self._schema, path=str(self._path))
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

    async def search(self, query: SearchQuery) -> list[SearchHit]:
        parts = identifier_parts(query.text)
        if not parts or not query.scopes or query.limit <= 0:
            return []
        index = self._opened()
        tantivy_query = self._search_query(query, parts)
        return await asyncio.to_thread(_top_hits, index, tantivy_query, query.limit)

    def _search_query(self, query: SearchQuery, parts: list[str]) -> Query:
        # Filters score 0 so only the match clauses below decide the ranking.
        filters = [Query.term_set_query(self._schema, "scope", list(query.scopes))]
        if query.kind is not None:
            filters.append(self._term("kind", str(query.kind)))
        clauses = [(Occur.Must, Query.const_score_query(f, 0.0)) for f in filters]
        # Every part must match a name term; the part scores its best kind of match (dis_max),
        # because tantivy gives every fuzzy or prefix hit the same score and cannot rank them.
        for part in parts:
            alternatives = [
                Query.const_score_query(self._term("name_terms", part), EXACT_TERM_SCORE),
                Query.const_score_query(
                    Query.fuzzy_term_query(
                        self._schema, "name_terms", part, distance=0, prefix=True
                    ),
                    PREFIX_SCORE,
                ),
            ]
            for distance, score in fuzzy_tiers(part):
                alternatives.append(
                    Query.const_score_query(
                        Query.fuzzy_term_query(
                            self._schema,
                            "name_terms",
                            part,
                            distance=distance,
                            transposition_cost_one=True,
                        ),
                        score,
                    )
                )
            clauses.append((Occur.Must, Query.disjunction_max_query(alternatives)))
        # The whole text equal to the whole name: a bonus on top of the parts.
        exact_name = self._term("name", query.text.lower())
        clauses.append((Occur.Should, Query.const_score_query(exact_name, EXACT_NAME_BOOST)))
        return Query.boolean_query(clauses)

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
