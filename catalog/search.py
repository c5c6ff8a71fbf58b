"""The search port: what the gateway and the indexer need from a search engine.

Two adapters implement it (catalog/adapters/tantivy_index.py, catalog/adapters/opensearch_index.py)
and pass one contract suite (tests/integration/test_search_contract.py) and one relevance suite
(tests/relevance/). Both build their queries from the clauses below, so they rank alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache
from typing import Protocol

from catalog.abbreviations import BUILTIN, Abbreviations
from catalog.documents import PARTITION, Document, DocumentKind, TermField
from catalog.errors import InvalidInputError
from catalog.identifiers import MIN_SUBSTRING_LENGTH, identifier_parts
from catalog.inflections import inflections
from catalog.models import Crawl

# Ranking, the same in every adapter. Each query part scores its best kind of match (a tier);
# bonuses add once for the whole name. Engines give every prefix or fuzzy hit the same score,
# so tiers are constant scores chosen here. Whole numbers, so sums are exact in f32 and equal
# scores really are equal.
EXACT_TERM_SCORE = 32.0  # a part of the name, or the whole name, equals the query part
INFLECTION_SCORE = 28.0  # ... is its plural or singular (catalog.inflections)
ABBREVIATION_SCORE = 24.0  # ... its abbreviation or expansion (catalog.abbreviations)
PREFIX_SCORE = 16.0  # ... starts with it
SUBSTRING_SCORE = 12.0  # ... contains it inside a word
FUZZY_SCORES = {1: 8.0, 2: 4.0}  # ... is this many edits away
# Table documents also match through their columns' names, below every match of their own name.
COLUMN_EXACT_SCORE = 3.0
COLUMN_OTHER_FORM_SCORE = 2.0  # a column named in the other number, or abbreviated
COLUMN_PREFIX_SCORE = 1.0
# Bonuses: the text is the whole name; or covers it, separators and case aside ("orders 2019"
# for orders_2019), below that so typed underscores still count; or would after a typo or two,
# too small to lift a part's match over the next tier (a typo never beats a prefix).
EXACT_NAME_BOOST = 80.0
COMPACT_NAME_BOOST = 40.0
# The whole name but for a word's number ("order items" for order_item), or an abbreviation
# ("order quantity" for order_qty): above a name that merely holds every word, below the exact
# name.
INFLECTED_NAME_BOOST = 36.0
ABBREVIATED_NAME_BOOST = 32.0
# A column document matches a word by its table's name, below its own name's matches but a
# typo; and when its table's and its own name together are the query (`invoice notes`), it
# ranks right below the exact names.
TABLE_PART_SCORE = 20.0
TABLE_INFLECTION_SCORE = 18.0
TABLE_ABBREVIATION_SCORE = 17.0
QUALIFIED_NAME_BOOST = 40.0
COMPACT_FUZZY_BOOSTS = {1: 3.0, 2: 2.0}  # by edit distance

# Search pages reach this many hits deep at most; past that, refine the query.
MAX_SEARCH_DEPTH = 1_000
# Facet counts are over every hit of the query and filters; each facet lists its top buckets.
# Documents without a value (tables have no data_type) are not counted in that facet.
FACET_FIELDS = ("database_id", "schema", "kind", "table_type", "data_type")
FACET_SIZE = 50
# Distinct names each suggestion tier collects before the best are picked.
SUGGEST_CANDIDATES = 50


def fuzzy_distance(part: str) -> int:
    """Edits allowed for a query part: none for very short parts, more for longer ones."""
    if len(part) <= 2:
        return 0
    return 1 if len(part) <= 5 else 2


def fuzzy_tiers(part: str) -> list[tuple[int, float]]:
    """(edit distance, score) for each fuzzy clause of a query part, closest first."""
    return [(d, FUZZY_SCORES[d]) for d in range(1, fuzzy_distance(part) + 1)]


class Match(StrEnum):
    EXACT = "exact"
    PREFIX = "prefix"
    FUZZY = "fuzzy"  # within `distance` edits, a transposition counting as one


class Reason(StrEnum):
    """Why a hit matched, best first (a hit's `match`)."""

    EXACT = "exact"  # its whole name is the query, case and separators aside
    INFLECTION = "inflection"  # ... but for a plural or singular
    ABBREVIATION = "abbreviation"  # ... but for an abbreviation (catalog.abbreviations)
    PART = "part"  # parts of its name are the query's words
    PREFIX = "prefix"  # ... start with them
    SUBSTRING = "substring"  # ... contain them
    TYPO = "typo"  # ... are a typo or two away from them


@dataclass(frozen=True)
class TermClause:
    """A term of `field` that equals, starts with, or is within `distance` edits of `value`.

    Adapters translate clauses into engine queries, each scoring its constant `score`;
    catalog.explain evaluates the same clauses in Python to say why a hit matched (`reason`).
    `field` is an analysed field (TermField), or the keyword field `kind`.
    """

    field: str
    match: Match
    value: str
    score: float = 0.0
    distance: int = 0
    reason: Reason | None = None
    # And this field must hold this term too (a column's name, and its table's).
    also: tuple[TermField, str] | None = None


@dataclass(frozen=True)
class MatchPlan:
    """A query as groups of alternative clauses; each group scores its best match (a dis_max).

    Every group of `parts` must match; the `bonuses` add when they match. Each group lists its
    clauses best score first (stable among equals), the order catalog.explain tries them in.
    """

    parts: tuple[tuple[TermClause, ...], ...]
    bonuses: tuple[tuple[TermClause, ...], ...]


@dataclass(frozen=True)
class _Word:
    """A part of the query, with its other number and its abbreviations or expansions (of
    either number: `users` finds `usr`), worked out once for every clause that needs them."""

    part: str
    forms: tuple[str, ...]
    short: tuple[str, ...]

    @classmethod
    def of(cls, part: str, abbreviations: Abbreviations) -> _Word:
        forms = inflections(part)
        short = {alt for form in (part, *forms) for alt in abbreviations.of_part(form)}
        return cls(part, forms, tuple(sorted(short - {part, *forms})))


def _part_clauses(word: _Word, kind: DocumentKind | None) -> tuple[TermClause, ...]:
    name_terms, column_terms = TermField.NAME_TERMS, TermField.COLUMN_TERMS
    part, forms, short = word.part, word.forms, word.short
    clauses = [
        TermClause(name_terms, Match.EXACT, part, EXACT_TERM_SCORE, reason=Reason.PART),
        *(
            TermClause(name_terms, Match.EXACT, form, INFLECTION_SCORE, reason=Reason.INFLECTION)
            for form in forms
        ),
        *(
            TermClause(name_terms, Match.EXACT, alt, ABBREVIATION_SCORE, reason=Reason.ABBREVIATION)
            for alt in short
        ),
        TermClause(name_terms, Match.PREFIX, part, PREFIX_SCORE, reason=Reason.PREFIX),
    ]
    if len(part) >= MIN_SUBSTRING_LENGTH:
        substrings = TermField.NAME_SUBSTRINGS
        clauses.append(
            TermClause(substrings, Match.PREFIX, part, SUBSTRING_SCORE, reason=Reason.SUBSTRING)
        )
    clauses.extend(
        TermClause(name_terms, Match.FUZZY, part, score, distance, Reason.TYPO)
        for distance, score in fuzzy_tiers(part)
    )
    if kind is not DocumentKind.COLUMN:  # only table documents hold column terms
        clauses.append(
            TermClause(column_terms, Match.EXACT, part, COLUMN_EXACT_SCORE, reason=Reason.PART)
        )
        clauses.extend(
            TermClause(column_terms, Match.EXACT, other, COLUMN_OTHER_FORM_SCORE, reason=why)
            for why, others in ((Reason.INFLECTION, forms), (Reason.ABBREVIATION, short))
            for other in others
        )
        clauses.append(
            TermClause(column_terms, Match.PREFIX, part, COLUMN_PREFIX_SCORE, reason=Reason.PREFIX)
        )
    return tuple(clauses)


def _table_clauses(word: _Word) -> tuple[TermClause, ...]:
    """A column document's table named by this part of the query (with its other words naming
    the column): below any match of the column's own name but a typo."""
    part, forms, short = word.part, word.forms, word.short
    field = TermField.TABLE_TERMS
    return (
        TermClause(field, Match.EXACT, part, TABLE_PART_SCORE, reason=Reason.PART),
        *(
            TermClause(field, Match.EXACT, f, TABLE_INFLECTION_SCORE, reason=Reason.INFLECTION)
            for f in forms
        ),
        *(
            TermClause(field, Match.EXACT, a, TABLE_ABBREVIATION_SCORE, reason=Reason.ABBREVIATION)
            for a in short
        ),
    )


def _spellings(words: list[_Word]) -> list[tuple[str, Reason]]:
    """The query's parts run together, with each part in turn in its other number or
    abbreviated, and with every part abbreviated that can be (`transaction timestamp`:
    `txnts`): each spelling once, with why it differs from the typed one."""
    parts = [word.part for word in words]
    spellings = {"".join(parts): Reason.EXACT}
    for i, word in enumerate(words):
        for reason, alternatives in (
            (Reason.INFLECTION, word.forms),
            (Reason.ABBREVIATION, word.short),
        ):
            for alt in alternatives:
                spellings.setdefault("".join([*parts[:i], alt, *parts[i + 1 :]]), reason)
    if sum(1 for word in words if word.short) > 1:
        every = [word.short[0] if word.short else word.part for word in words]
        spellings.setdefault("".join(every), Reason.ABBREVIATION)
    return list(spellings.items())


_SPELLING_BOOSTS = {
    Reason.EXACT: COMPACT_NAME_BOOST,
    Reason.INFLECTION: INFLECTED_NAME_BOOST,
    Reason.ABBREVIATION: ABBREVIATED_NAME_BOOST,
}


def _whole_name(spellings: list[tuple[str, Reason]]) -> tuple[TermClause, ...]:
    """The name run together: as typed, in another spelling, or a typo or two away."""
    field = TermField.NAME_COMPACT
    compact = spellings[0][0]
    return (
        *(
            TermClause(field, Match.EXACT, text, _SPELLING_BOOSTS[why], reason=why)
            for text, why in spellings
        ),
        *(
            TermClause(field, Match.FUZZY, compact, COMPACT_FUZZY_BOOSTS[d], d, Reason.TYPO)
            for d in range(1, fuzzy_distance(compact) + 1)
        ),
    )


def _qualified_name(parts: list[str]) -> tuple[TermClause, ...]:
    """A column whose table's compact name and its own are the query's words, cut in two, in
    either order (`invoice notes`, `notes invoice`), each side also with its last word in the
    other number (`patient birth date` for patients.birth_date)."""
    clauses = []
    for cut in range(1, len(parts)):
        for table, column in ((parts[:cut], parts[cut:]), (parts[cut:], parts[:cut])):
            for table_side, table_why in _numbers(table):
                for column_side, column_why in _numbers(column):
                    why = (
                        Reason.EXACT
                        if table_why is column_why is Reason.EXACT
                        else Reason.INFLECTION
                    )
                    clauses.append(
                        TermClause(
                            TermField.NAME_COMPACT,
                            Match.EXACT,
                            column_side,
                            QUALIFIED_NAME_BOOST,
                            reason=why,
                            also=(TermField.TABLE_COMPACT, table_side),
                        )
                    )
    return tuple(clauses)


def _numbers(words: list[str]) -> list[tuple[str, Reason]]:
    """Words run together as typed, and with the last in its other number."""
    head = "".join(words[:-1])
    return [
        ("".join(words), Reason.EXACT),
        *((head + form, Reason.INFLECTION) for form in inflections(words[-1])),
    ]


# A search's adapter and its route both need the plan; building it is a tenth of a distinct
# search's Python time, so the second asks the cache. Plans are immutable.
@lru_cache(maxsize=1_024)
def match_plan(
    text: str, kind: DocumentKind | None = None, abbreviations: Abbreviations = BUILTIN
) -> MatchPlan | None:
    """The clauses of a query, or None when the text has no identifier parts to look for."""
    parts = identifier_parts(text)
    if not parts:
        return None
    exact_name = TermClause(
        TermField.NAME, Match.EXACT, text.lower(), EXACT_NAME_BOOST, reason=Reason.EXACT
    )
    words = [_Word.of(part, abbreviations) for part in parts]
    spellings = _spellings(words)
    groups = [_part_clauses(word, kind) for word in words]
    bonuses = [(exact_name,), _whole_name(spellings)]
    if len(parts) > 1 and kind is not DocumentKind.TABLE:
        # Words may name a column's table as well as the column, in any order; but a column
        # must match one word by its own name (a table always may): a group that only
        # filters, scoring nothing, of all but the two-typo clauses, whose automata are the
        # costliest to run a second time.
        table = TermClause("kind", Match.EXACT, str(DocumentKind.TABLE))
        own = (
            table,
            *(
                replace(c, score=0.0, reason=None)
                for group in groups
                for c in group
                if c.distance < 2 and c.field is not TermField.COLUMN_TERMS
            ),
        )
        groups = [
            (*group, *_table_clauses(word)) for word, group in zip(words, groups, strict=True)
        ]
        groups.append(own)
        bonuses.append(_qualified_name(parts))
    return MatchPlan(parts=_best_first(groups), bonuses=_best_first(bonuses))


def _best_first(groups: Iterable[Sequence[TermClause]]) -> tuple[tuple[TermClause, ...], ...]:
    return tuple(tuple(sorted(group, key=lambda clause: -clause.score)) for group in groups)


SortKey = tuple[float, int, int, str]  # -score, tie rank, ordinal, id


@dataclass(frozen=True)
class SearchPosition:
    """Where a page ended in the stable order (score desc, tie rank, ordinal and id asc)."""

    score: float
    rank: int  # catalog.documents.tie_rank
    ordinal: int
    id: str
    depth: int  # hits served up to and including this one

    def key(self) -> SortKey:
        return sort_key(self.score, self.rank, self.ordinal, self.id)


def sort_key(
    score: float, rank: int, ordinal: int, document_id: str
) -> tuple[float, int, int, str]:
    """The stable order of hits, as a key that sorts ascending: equal scores by tie rank
    (catalog.documents.tie_rank), then plan order."""
    return (-score, rank, ordinal, document_id)


@dataclass(frozen=True)
class SearchQuery:
    text: str
    # Which scopes (catalog.documents.Scope, as text) may answer: readers only see complete
    # crawls.
    scopes: tuple[str, ...]
    kind: DocumentKind | None = None
    limit: int = 10
    # Keyword filters; several values of one filter mean any of them.
    schemas: tuple[str, ...] = ()
    table_types: tuple[str, ...] = ()
    data_types: tuple[str, ...] = ()
    # Continue after this hit (search_after); None for the first page.
    after: SearchPosition | None = None
    # Also count every hit per FACET_FIELDS value.
    facets: bool = False
    # The caller's tenant: documents of any other are never returned, whatever the scopes say.
    tenant_id: str | None = None
    # The abbreviations the query's words are also looked up as (the operator's, if any).
    abbreviations: Abbreviations = BUILTIN

    def __post_init__(self) -> None:
        # Bounds what an engine without search_after (tantivy) must collect for one page.
        if self.after is not None and not 0 < self.after.depth <= MAX_SEARCH_DEPTH:
            raise InvalidInputError(f"search pages reach at most {MAX_SEARCH_DEPTH} hits deep")

    @property
    def depth(self) -> int:
        """Hits served before this page."""
        return 0 if self.after is None else self.after.depth

    def keyword_filters(self) -> list[tuple[str, tuple[str, ...]]]:
        return keyword_filters(
            self.kind,
            self.tenant_id,
            self.schemas,
            self.table_types,
            self.data_types,
        )

    def keyword_exclusions(self) -> list[tuple[str, tuple[str, ...]]]:
        return keyword_exclusions(self.table_types)


def keyword_exclusions(table_types: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
    """(field, none of these values) pairs no hit may have: partitions and their columns fold
    into their partitioned table, unless asked for by type."""
    return [] if PARTITION in table_types else [("table_type", (PARTITION,))]


def keyword_filters(
    kind: DocumentKind | None,
    tenant_id: str | None,
    schemas: tuple[str, ...] = (),
    table_types: tuple[str, ...] = (),
    data_types: tuple[str, ...] = (),
) -> list[tuple[str, tuple[str, ...]]]:
    """(field, any of these values) pairs every hit must satisfy, besides being in one of the
    query's scopes (which adapters filter on as catalog.documents.Scope says)."""
    wanted = [
        ("tenant_id", () if tenant_id is None else (tenant_id,)),
        ("kind", () if kind is None else (str(kind),)),
        ("schema", schemas),
        ("table_type", table_types),
        ("data_type", data_types),
    ]
    return [(name, values) for name, values in wanted if values]


@dataclass(frozen=True)
class SearchHit:
    document: Document
    score: float

    def key(self) -> SortKey:
        document = self.document
        return sort_key(self.score, document.tie_rank, document.ordinal, document.id)

    def position(self, depth: int) -> SearchPosition:
        document = self.document
        return SearchPosition(self.score, document.tie_rank, document.ordinal, document.id, depth)


@dataclass(frozen=True)
class FacetCount:
    value: str
    count: int


Facets = dict[str, list[FacetCount]]


def facet_counts(buckets: Iterable[tuple[str, int]]) -> list[FacetCount]:
    """One facet's buckets, most hits first, then by value, cut to FACET_SIZE."""
    ordered = sorted(buckets, key=lambda bucket: (-bucket[1], bucket[0]))
    return [FacetCount(value, count) for value, count in ordered[:FACET_SIZE]]


@dataclass(frozen=True)
class SearchPage:
    hits: list[SearchHit]
    facets: Facets = field(default_factory=dict)


@dataclass(frozen=True)
class SuggestQuery:
    text: str
    scopes: tuple[str, ...]
    kind: DocumentKind | None = None
    limit: int = 10
    tenant_id: str | None = None

    def keyword_filters(self) -> list[tuple[str, tuple[str, ...]]]:
        return keyword_filters(self.kind, self.tenant_id)

    def keyword_exclusions(self) -> list[tuple[str, tuple[str, ...]]]:
        return keyword_exclusions(())


@dataclass(frozen=True)
class Suggestion:
    name: str
    count: int  # live tables and columns with this name


def suggest_tiers(text: str) -> list[tuple[TermClause, ...]]:
    """Which names complete `text`, best tier first; every clause of a tier must match.

    The name typed in full; names that start with what was typed (separators and case aside);
    names with a part that does (`region` → SalesRegion).
    """
    parts = identifier_parts(text)
    if not parts:
        return []
    compact = "".join(parts)
    *whole_parts, last = parts
    return [
        (TermClause(TermField.NAME_COMPACT, Match.EXACT, compact),),
        (TermClause(TermField.NAME_COMPACT, Match.PREFIX, compact),),
        (
            *(TermClause(TermField.NAME_TERMS, Match.EXACT, part) for part in whole_parts),
            TermClause(TermField.NAME_TERMS, Match.PREFIX, last),
        ),
    ]


def merge_suggestions(tiers: Sequence[Iterable[tuple[str, int]]], limit: int) -> list[Suggestion]:
    """(name, count) buckets of each tier into one list: tier first, then most used, shortest."""
    seen: dict[str, Suggestion] = {}
    for buckets in tiers:
        for name, count in sorted(buckets, key=lambda b: (-b[1], len(b[0]), b[0])):
            if len(seen) == limit:
                return list(seen.values())
            seen.setdefault(name, Suggestion(name, count))
    return list(seen.values())


class SearchIndex(Protocol):
    async def open(self) -> None:
        """Create the index if it does not exist. Idempotent."""

    async def ping(self) -> None:
        """Raise TransientError when the engine cannot answer."""

    async def ensure(self) -> bool:
        """Create the index again if it went missing under us (deleted, its directory removed);
        True if it had to. Only a process that writes creates it. Reads of a missing index raise
        IndexLostError, never an empty answer."""

    async def documents_by_id(self, ids: Sequence[str]) -> list[Document]:
        """The documents with these ids that exist, in no particular order."""

    async def document_counts(self, scopes: Sequence[str]) -> dict[str, int]:
        """How many documents each of these scopes (catalog.documents.Scope) has; a scope with
        none is left out. How the catalog notices documents it was sure of have gone."""

    async def upsert(self, documents: Sequence[Document]) -> None:
        """Write documents durably (replacing any with the same id) before returning."""

    async def supersede(self, live: str, generation: int, refs: Sequence[str]) -> None:
        """Make an incremental crawl's generation whole on top of the `live` scope it was
        planned on, before the store publishes it, without changing what readers of `live`
        see: documents past `live` that crawls which did not publish left are deleted (written
        by them) or restored (retired by them); then the live documents of the relations
        `refs` retire at `generation`. Durable and visible when it returns; idempotent."""

    async def delete_superseded(self, scope: str) -> None:
        """Remove a database's documents that the published `scope` and later ones no longer
        see (written before its base, or retired by it), and make the index current for
        readers."""

    async def delete_database(self, database_id: str) -> None: ...

    async def record_crawl(self, crawl: Crawl, tenant_id: str, changes: int) -> None:
        """Keep one document per ended crawl (complete, failed or held, with the schema
        changes it found) where dashboards read them: OpenSearch's `<index>-crawls`. An engine
        that no dashboard reads (tantivy) keeps none. Idempotent: the crawl's id is the key."""

    async def search(self, query: SearchQuery) -> SearchPage:
        """Up to `limit` hits in the stable order, after `query.after`, and facets if asked."""

    async def suggest(self, query: SuggestQuery) -> list[Suggestion]:
        """Distinct names completing the text (see suggest_tiers), best first."""

    async def tables_page(
        self, scope: str, after_ordinal: int | None, limit: int
    ) -> list[Document]:
        """Table documents of one scope by ordinal, strictly after `after_ordinal`."""

    async def table(self, scope: str, schema: str, name: str) -> Document | None:
        """The table document of `schema`.`name` (exact, case-sensitive) that the scope sees."""

    async def tables_referencing(
        self, scope: str, schema: str, name: str, limit: int
    ) -> list[Document]:
        """Table documents of the scope with a foreign key to `schema`.`name` (their
        `references`, catalog.documents.referenced_relations), itself included if it refers to
        itself; the first `limit` by ordinal, that is by schema, then name."""

    async def crawl_started(self) -> None:
        """A crawl is about to write: an engine that refreshes on a timer (OpenSearch) may stop
        refreshing until crawl_ended. Called before each batch writes; several crawls in several
        processes run at once, so it is idempotent and assumes nothing of other calls."""

    async def crawl_ended(self) -> None:
        """Make every write so far visible to readers, and restore refreshing if it was off.
        Called when a crawl ends (before the store publishes, holds or fails it) and when a
        batch fails. An engine whose writes are visible when upsert returns does nothing."""

    async def close(self) -> None: ...
