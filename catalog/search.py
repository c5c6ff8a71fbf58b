"""The search port: what the gateway and the indexer need from a search engine.

Two adapters implement it (catalog/adapters/tantivy_index.py, catalog/adapters/opensearch_index.py)
and pass one contract suite (tests/integration/test_search_contract.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from catalog.documents import Document, DocumentKind

# Ranking, the same in every adapter: an exact whole name beats all parts exact beats prefix
# beats one edit beats two. Each query part scores its best kind of match; the whole-name bonus
# comes once. Whole numbers, so sums are exact in f32 and equal scores really are equal.
EXACT_NAME_BOOST = 20.0
EXACT_TERM_SCORE = 8.0
PREFIX_SCORE = 4.0
FUZZY_SCORES = {1: 2.0, 2: 1.0}  # by edit distance


def fuzzy_distance(part: str) -> int:
    """Edits allowed for a query part: none for very short parts, more for longer ones."""
    if len(part) <= 2:
        return 0
    return 1 if len(part) <= 5 else 2


def fuzzy_tiers(part: str) -> list[tuple[int, float]]:
    """(edit distance, score) for each fuzzy clause of a query part, closest first."""
    return [(d, FUZZY_SCORES[d]) for d in range(1, fuzzy_distance(part) + 1)]


@dataclass(frozen=True)
class SearchQuery:
    text: str
    # Which (database, generation) pairs may answer: readers only see complete crawls.
    scopes: tuple[str, ...]
    kind: DocumentKind | None = None
    limit: int = 10


@dataclass(frozen=True)
class SearchHit:
    document: Document
    score: float


class SearchIndex(Protocol):
    async def open(self) -> None:
        """Create the index if it does not exist. Idempotent."""

    async def ping(self) -> None:
        """Raise TransientError when the engine cannot answer."""

    async def upsert(self, documents: Sequence[Document]) -> None:
        """Write documents durably (replacing any with the same id) before returning."""

    async def delete_generations_before(self, database_id: str, generation: int) -> None:
        """Remove what older crawls of a database left, and make the index current for readers."""

    async def delete_database(self, database_id: str) -> None: ...

    async def search(self, query: SearchQuery) -> list[SearchHit]: ...

    async def tables_page(
        self, scope: str, after_ordinal: int | None, limit: int
    ) -> list[Document]:
        """Table documents of one generation in plan order, strictly after `after_ordinal`."""

    async def close(self) -> None: ...
