"""The embedded search adapter: a tantivy index in a local directory.

A writable TantivyIndex (the indexer's) holds the directory's one IndexWriter, serialised by an
asyncio.Lock; every write commits and reloads its reader before returning, so a write is durable
and visible once the call returns. A read-only one (each gateway process's) holds no writer, so
any number of processes can read while one writes. It reloads when a query names a scope it has
not seen: the store makes a scope live only after all of its documents were committed, so the
first reload after a scope appears sees every one of them. tantivy's calls block, so they run
in worker threads.

The index is derived data: when the directory holds an index built with another schema (an older
version of this program), it is recreated empty and a warning says to re-crawl, which refills it.
When the directory is removed or replaced under a running indexer, its next write (or the
indexer's index watch, through `ensure`) opens a new, empty index there; the watch then finds
the live documents missing and has them re-crawled. A reader that cannot reload answers
IndexLostError (a 503), not an error of tantivy's.
"""

from __future__ import annotations

import asyncio
import logging
from base64 import b64encode
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import orjson
import tantivy
from tantivy import FieldType, Occur, Order, Query

from catalog.documents import (
    NEVER_RETIRED,
    Document,
    DocumentKind,
    Scope,
    TermField,
    column_terms,
    document_from_json,
    document_json,
    name_analysis,
    referenced_relations,
    relation_key,
    table_analysis,
)
from catalog.errors import IndexLostError, PermanentError
from catalog.memory import release_free_memory
from catalog.models import Crawl
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

# Public, as are build_schema, to_tantivy and TERMS_*: bench.extract_floor times tantivy alone.
WRITER_HEAP_BYTES = 128_000_000
# How far search looks past a page for hits tied with its last one (see _ranked): at first, and
# at most.
_FIRST_TIE_CANDIDATES = 100
_MAX_TIE_CANDIDATES = 10_000
# Keyword fields that facets count and suggestions aggregate: text fast fields.
_FAST_KEYWORDS = {*FACET_FIELDS, "name_display"}
# The analysed fields' terms (catalog.documents, computed once per name) reach tantivy as one
# string per field, joined by NUL, which no identifier holds; this tokenizer splits them again in
# Rust. A Python list per field made converting a document cost three times as much.
TERMS_TOKENIZER = "nul_separated"
_TERM_SEPARATOR = "\x00"
TERMS_ANALYZER = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(r"[^\x00]+")).build()


def build_schema() -> tantivy.Schema:
    """The index schema; public so bench.extract_floor builds the very index the adapter does."""
    builder = tantivy.SchemaBuilder()
    # "raw" keeps each value as one term: these are keywords. `references`: a table
    # document's foreign key targets (catalog.documents.referenced_relations).
    keywords = ["id", "ref", "tenant_id", *FACET_FIELDS, "name_display", "references"]
    for name in keywords:
        builder.add_text_field(
            name, tokenizer_name="raw", index_option="basic", fast=name in _FAST_KEYWORDS
        )
    # Already split and lower-cased in Python (catalog.documents.name_analysis): the engine only
    # cuts them apart (TERMS_TOKENIZER).
    for name in TermField:
        builder.add_text_field(name, tokenizer_name=TERMS_TOKENIZER, index_option="basic")
    # Fast fields: ordinal orders and ranges table pages and breaks ties; generation and retired
    # say which scopes see a document (catalog.documents.Scope).
    builder.add_unsigned_field("ordinal", indexed=True, fast=True)
    # Orders equal scores (catalog.documents.tie_rank) before the ordinal does.
    builder.add_unsigned_field("tie_rank", fast=True)
    builder.add_unsigned_field("generation", indexed=True, fast=True)
    builder.add_unsigned_field("retired", indexed=True, fast=True)
    # The whole Document as JSON, payload included: what search and browsing give back.
    builder.add_bytes_field("source", stored=True)
    return builder.build()


def to_tantivy(document: Document) -> str:
    """A Document as the adapter writes it, as JSON for IndexWriter.add_json; public so
    bench.extract_floor converts alike.

    JSON, not Document.from_dict: tantivy parses it in Rust, and no Python-owned tantivy
    document is built field by field and freed again. Freeing them alone was 8% of a crawl's
    Python time, and a MariaDB crawl of 10,000 tables took 0.86x as long (docs/benchmarks.md).
    """
    values: dict[str, object] = {
        "id": document.id,
        "database_id": document.database_id,
        "tenant_id": document.tenant_id,
        "ref": document.ref,
        "kind": document.kind,
        "schema": document.schema,
        "table_type": document.table_type,
        "ordinal": document.ordinal,
        "tie_rank": document.tie_rank,
        "generation": document.generation,
        "retired": document.retired,
        # The whole Document, payload included: what search and browsing give back. A bytes
        # field takes base64 in JSON.
        "source": b64encode(document_json(document)).decode("ascii"),
        **_name_values(document.name),
    }
    if document.kind is DocumentKind.TABLE:
        values[TermField.COLUMN_TERMS] = _TERM_SEPARATOR.join(column_terms(document))
        if references := referenced_relations(document):
            values["references"] = references
    else:
        values.update(_table_values(document.table))
    if document.data_type is not None:
        values["data_type"] = document.data_type
    # The analysed fields' keys are TermFields (a StrEnum): orjson writes them by value.
    return orjson.dumps(values, option=orjson.OPT_NON_STR_KEYS).decode()


@lru_cache(maxsize=4_096)
def _table_values(table: str) -> dict[str, str]:
    """The fields a column document's table name fills, as tantivy takes them."""
    return {field: _TERM_SEPARATOR.join(terms) for field, terms in table_analysis(table).items()}


@lru_cache(maxsize=65_536)
def _name_values(name: str) -> dict[str, str]:
    """The fields a document's name fills, as tantivy takes them (see TERMS_TOKENIZER)."""
    analysed = {field: _TERM_SEPARATOR.join(terms) for field, terms in name_analysis(name).items()}
    return {"name_display": name, **analysed}


def _from_tantivy(doc: tantivy.Document) -> Document:
    return document_from_json(doc.get_first("source"))


Candidate = tuple[float, int, int, tantivy.DocAddress]  # score, tie rank, ordinal, address


def _order(candidate: Candidate) -> tuple[float, int, int]:
    return (-candidate[0], candidate[1], candidate[2])


def _ranked(searcher: tantivy.Searcher, query: Query, window: int) -> list[Candidate]:
    """The best `window` hits by (score desc, tie rank, ordinal), and any tied with the last.

    tantivy orders equal scores by where documents sit in segments, and the constant-score
    clauses make ties common. So hits tied with the last one are fetched too (the fetch grows
    while the tie runs on, up to _MAX_TIE_CANDIDATES) and ordered by tie rank and ordinal.
    Running the query costs far more than collecting a hundred hits of it, so the first run
    collects that many: most ties end there, and a second run is rare.
    """
    fetch = max(window, _FIRST_TIE_CANDIDATES)
    while True:
        hits = searcher.search(query, fetch, count=False).hits
        tie_runs_on = len(hits) == fetch and hits[-1][0] == hits[window - 1][0]
        if not tie_runs_on or fetch >= _MAX_TIE_CANDIDATES:
            break
        fetch = min(fetch * 4, _MAX_TIE_CANDIDATES)
    addresses = [address for _, address in hits]
    ranks = searcher.fast_field_values("tie_rank", addresses)
    ordinals = searcher.fast_field_values("ordinal", addresses)
    candidates = [
        (score, rank, ordinal, address)
        for (score, address), rank, ordinal in zip(hits, ranks, ordinals, strict=True)
    ]
    return _through_ties(sorted(candidates, key=_order), window)


def _through_ties(ranked: list[Candidate], count: int) -> list[Candidate]:
    """The first `count` candidates and those sharing the last one's place but for the id: the
    id decides inside that group, and ids are only known once the documents are read."""
    if len(ranked) <= count:
        return ranked
    edge = _order(ranked[count - 1])
    return [c for c in ranked if _order(c) <= edge]


def _facets_of(documents: Iterable[Document]) -> Facets:
    """Facet counts over these documents: what the engine's terms aggregation counts."""
    listed = list(documents)
    # A document without a value (a table's data_type) is not counted, as in the engine.
    return {
        field: facet_counts(
            Counter(str(v) for d in listed if (v := getattr(d, field)) is not None).items()
        )
        for field in FACET_FIELDS
    }


def _page(searcher: tantivy.Searcher, query: Query, search: SearchQuery) -> list[SearchHit]:
    """One page in the stable order: everything up to the page's end is ranked (the depth is
    bounded by MAX_SEARCH_DEPTH), then the hits after `search.after` are kept."""
    candidates = _ranked(searcher, query, search.depth + search.limit)
    after = search.after
    if after is not None:
        # Hits sharing the position's place but for the id may fall either side of it: read them.
        place = after.key()[:3]
        candidates = [c for c in candidates if _order(c) >= place]
        sharing = sum(1 for c in candidates if _order(c) == place)
        candidates = _through_ties(candidates, search.limit + sharing)
    else:
        candidates = _through_ties(candidates, search.limit)
    hits = [
        SearchHit(document=_from_tantivy(searcher.doc(address)), score=float(score))
        for score, _, _, address in candidates
    ]
    hits.sort(key=SearchHit.key)
    if after is not None:
        hits = [hit for hit in hits if hit.key() > after.key()]
    return hits[: search.limit]


class TantivyIndex:
    def __init__(self, path: Path, *, writable: bool = True) -> None:
        self._path = path
        self._writable = writable
        self._schema = build_schema()
        self._index: tantivy.Index | None = None
        self._writer: tantivy.IndexWriter | None = None
        # The directory the index was opened in (device, inode): another one means it was replaced.
        self._directory: tuple[int, int] | None = None
        self._write_lock = asyncio.Lock()
        # Read-only: the scopes the reader has reloaded since first seeing (see the docstring).
        self._seen_scopes: set[str] = set()
        self._reload_lock = asyncio.Lock()

    async def open(self) -> None:
        if self._index is None:
            self._index, self._writer = await asyncio.to_thread(self._open_blocking)

    async def ensure(self) -> bool:
        if not self._writable:
            return False  # only the indexer, which writes, may create the index
        async with self._write_lock:
            return await asyncio.to_thread(self._reopen_if_replaced)

    def _missing(self) -> bool:
        try:
            found = self._path.stat()
        except FileNotFoundError:
            return True
        replaced = self._directory != (found.st_dev, found.st_ino)
        return replaced or not (self._path / "meta.json").exists()

    def _reopen_if_replaced(self) -> bool:
        """Open a new index if the directory went away or was replaced (under the write lock)."""
        if self._index is None or not self._missing():
            return False
        log.warning(
            "the search index in %s is gone; a new, empty one was created there: the databases"
            " it held are re-crawled",
            self._path,
        )
        self._writer = None  # its files went with the directory; dropping it frees the rest
        self._index, self._writer = self._open_blocking()
        return True

    def _open_blocking(self) -> tuple[tantivy.Index, tantivy.IndexWriter | None]:
        self._path.mkdir(parents=True, exist_ok=True)
        found = self._path.stat()
        self._directory = (found.st_dev, found.st_ino)
        try:
            index = tantivy.Index(self._schema, path=str(self._path), reuse=True)
        except ValueError:
            if not self._writable:
                raise PermanentError(
                    f"the search index in {self._path} has an older schema: start the indexer,"
                    " which recreates it, then re-crawl"
                ) from None
            # Built by another version with other fields: rebuild it from the crawls.
            log.warning(
                "the search index in %s has an older schema; it was recreated empty: "
                "re-crawl each database (POST /v1/databases/{id}/crawls) to fill it",
                self._path,
            )
            index = tantivy.Index(self._schema, path=str(self._path), reuse=False)
        index.register_tokenizer(TERMS_TOKENIZER, TERMS_ANALYZER)
        # Readers move only when we reload after a commit, so no write is seen half-way.
        index.config_reader(reload_policy="manual")
        if not self._writable:
            return index, None
        return index, index.writer(heap_size=WRITER_HEAP_BYTES)

    async def _current(self, scopes: Sequence[str]) -> tantivy.Index:
        """The index, reloaded first if a read-only reader meets a scope it has not seen."""
        index = self._opened()
        if self._writable or self._seen_scopes.issuperset(scopes):
            return index
        async with self._reload_lock:
            if not self._seen_scopes.issuperset(scopes):
                try:
                    await asyncio.to_thread(index.reload)
                except ValueError as exc:  # its files are gone: the directory was removed
                    raise IndexLostError(
                        f"the search index in {self._path} is missing; the indexer recreates it"
                    ) from exc
                self._seen_scopes.update(scopes)
        return index

    async def documents_by_id(self, ids: Sequence[str]) -> list[Document]:
        if not ids:
            return []
        index = self._opened()
        query = self._any_of("id", ids)

        def run() -> list[Document]:
            searcher = index.searcher()
            result = searcher.search(query, len(ids))
            return [_from_tantivy(searcher.doc(address)) for _, address in result.hits]

        return await asyncio.to_thread(run)

    async def document_counts(self, scopes: Sequence[str]) -> dict[str, int]:
        if self._writable and self._index is not None and self._missing():
            # Its files are still open here, but the directory readers open is gone or new.
            raise IndexLostError(f"the search index in {self._path} is gone")
        index = await self._current(scopes)
        queries = {scope: self._in_scopes([scope]) for scope in scopes}

        def run() -> dict[str, int]:
            searcher = index.searcher()
            counts = {scope: searcher.search(query, 1).count for scope, query in queries.items()}
            return {scope: count for scope, count in counts.items() if count}

        return await asyncio.to_thread(run)

    async def ping(self) -> None:
        """Embedded: nothing to reach once opened."""

    async def crawl_started(self) -> None:
        """Nothing to pause: every upsert commits and is visible when it returns."""

    async def crawl_ended(self) -> None:
        """Nothing to restore (see crawl_started)."""

    async def upsert(self, documents: Sequence[Document]) -> None:
        # The last of a repeated id wins, as if each replaced the one before.
        latest = {document.id: document for document in documents}
        if not latest:
            return
        prepared = [to_tantivy(document) for document in latest.values()]

        def write(writer: tantivy.IndexWriter) -> None:
            # A delete hides only documents added before it: it replaces what an earlier
            # delivery of these ids wrote, not what this call adds. (One term each: a term-set
            # query's delete took several times as long.)
            for document_id in latest:
                writer.delete_documents_by_term("id", document_id)
            for doc in prepared:
                writer.add_json(doc)

        await self._write(write)

    async def supersede(self, live: str, generation: int, refs: Sequence[str]) -> None:
        scope = Scope.parse(live)
        database = self._term("database_id", scope.database_id)
        # Written by crawls between the live one and this one, which did not publish.
        unpublished = Query.boolean_query(
            [
                (Occur.Must, database),
                (Occur.Must, self._range("generation", scope.generation + 1, generation - 1)),
            ]
        )
        # Retired by such crawls, or by an earlier attempt of this one; and what it replaces.
        retiring = [
            (Occur.Should, self._range("retired", scope.generation + 1, NEVER_RETIRED - 1)),
        ]
        if refs:
            retiring.append((Occur.Should, self._any_of("ref", refs)))
        rewrite = Query.boolean_query(
            [
                (Occur.Must, database),
                (Occur.Must, self._range("generation", scope.base, scope.generation)),
                (Occur.Must, Query.boolean_query(retiring)),
            ]
        )
        replaced = set(refs)

        def write(writer: tantivy.IndexWriter) -> None:
            searcher = self._opened().searcher()
            found = searcher.search(rewrite, 1).count
            addresses = [a for _, a in searcher.search(rewrite, max(found, 1)).hits]
            documents = [_from_tantivy(searcher.doc(address)) for address in addresses]
            writer.delete_documents_by_query(unpublished)
            for document in documents:
                retired = generation if document.ref in replaced else NEVER_RETIRED
                writer.delete_documents_by_term("id", document.id)
                writer.add_json(to_tantivy(replace(document, retired=retired)))

        await self._write(write)

    async def delete_superseded(self, scope: str) -> None:
        seen = Scope.parse(scope)
        gone = Query.boolean_query(
            [
                (Occur.Should, self._range("generation", 0, seen.base - 1)),
                (Occur.Should, self._range("retired", 0, seen.generation)),
            ]
        )
        query = Query.boolean_query(
            [(Occur.Must, self._term("database_id", seen.database_id)), (Occur.Must, gone)]
        )
        await self._write(lambda writer: writer.delete_documents_by_query(query))

    async def record_crawl(self, crawl: Crawl, tenant_id: str, changes: int) -> None:
        """No dashboards read the embedded index: nothing to keep (see the port)."""

    async def delete_database(self, database_id: str) -> None:
        await self._write(
            lambda writer: writer.delete_documents_by_term("database_id", database_id)
        )

    async def search(self, query: SearchQuery) -> SearchPage:
        plan = match_plan(query.text, query.kind, query.abbreviations)
        if plan is None or not query.scopes or query.limit <= 0:
            return SearchPage(hits=[])
        index = await self._current(query.scopes)
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
            if not query.facets:
                return SearchPage(hits)
            if query.after is None and len(hits) < query.limit:
                # A first page with room to spare holds every hit: count them here instead of
                # running the query again (a quarter of a selective search's time).
                return SearchPage(hits, _facets_of(hit.document for hit in hits))
            return SearchPage(hits, self._facets(searcher, tantivy_query))

        return await asyncio.to_thread(run)

    def _filters(self, query: SearchQuery | SuggestQuery) -> list[tuple[Occur, Query]]:
        # Filters score 0 so only the match clauses decide the ranking.
        return [
            (Occur.Must, Query.const_score_query(self._in_scopes(query.scopes), 0.0)),
            *(
                (Occur.Must, Query.const_score_query(self._any_of(field, values), 0.0))
                for field, values in query.keyword_filters()
            ),
            *(
                (Occur.MustNot, self._any_of(field, values))
                for field, values in query.keyword_exclusions()
            ),
        ]

    def _in_scopes(self, scopes: Sequence[str]) -> Query:
        """Documents that any of these scopes sees (catalog.documents.Scope)."""
        alternatives = []
        for text in scopes:
            scope = Scope.parse(text)
            seen = [
                (Occur.Must, self._term("database_id", scope.database_id)),
                (Occur.Must, self._range("generation", scope.base, scope.generation)),
                (Occur.Must, self._range("retired", scope.generation + 1, NEVER_RETIRED)),
            ]
            alternatives.append((Occur.Should, Query.boolean_query(seen)))
        return Query.boolean_query(alternatives)

    def _range(self, field: str, lowest: int, highest: int) -> Query:
        """Unsigned values from `lowest` to `highest`, both included."""
        return Query.range_query(
            self._schema, field, FieldType.Unsigned, lower_bound=lowest, upper_bound=highest
        )

    def _any_of(self, field: str, values: Sequence[str]) -> Query:
        if len(values) == 1:
            return self._term(field, values[0])
        return Query.term_set_query(self._schema, field, list(values))

    def _best_of(self, alternatives: Sequence[TermClause]) -> Query:
        """The best-scoring alternative that matches: a dis_max of constant scores."""
        scored = [Query.const_score_query(self._clause(c), c.score) for c in alternatives]
        return Query.disjunction_max_query(scored)

    def _clause(self, clause: TermClause) -> Query:
        query = self._matching(clause)
        if clause.also is None:
            return query
        field, value = clause.also
        return Query.boolean_query([(Occur.Must, query), (Occur.Must, self._term(field, value))])

    def _matching(self, clause: TermClause) -> Query:
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
        index = await self._current(query.scopes)
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
        conditions = []
        if after_ordinal is not None:
            after = Query.range_query(
                self._schema,
                "ordinal",
                FieldType.Unsigned,
                lower_bound=after_ordinal,
                include_lower=False,
            )
            conditions.append(after)
        return await self._tables(scope, conditions, limit)

    async def table(self, scope: str, schema: str, name: str) -> Document | None:
        # A table document's name_display is its table's name (there is no `table` field).
        conditions = [self._term("schema", schema), self._term("name_display", name)]
        found = await self._tables(scope, conditions, 1)
        return found[0] if found else None

    async def tables_referencing(
        self, scope: str, schema: str, name: str, limit: int
    ) -> list[Document]:
        conditions = [self._term("references", relation_key(schema, name))]
        return await self._tables(scope, conditions, limit)

    async def _tables(self, scope: str, conditions: list[Query], limit: int) -> list[Document]:
        """Up to `limit` table documents of one scope that meet every condition, by ordinal."""
        if limit <= 0:
            return []
        index = await self._current([scope])
        kind = self._term("kind", str(DocumentKind.TABLE))
        query = Query.boolean_query(
            [(Occur.Must, q) for q in (self._in_scopes([scope]), kind, *conditions)]
        )

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
            await asyncio.to_thread(self._reopen_if_replaced)
            index, writer = self._opened(), self._writer
            if writer is None:
                raise RuntimeError("TantivyIndex written to read-only, before open(), or closed")

            def run() -> None:
                try:
                    operation(writer)
                    writer.commit()
                except BaseException:
                    # Drop the half-done operations so the next commit does not publish them.
                    writer.rollback()
                    raise
                index.reload()
                release_free_memory()

            await asyncio.to_thread(run)
