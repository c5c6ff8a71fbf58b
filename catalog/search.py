"""The search port: what the gateway and the indexer need from a search engine.

Two adapters implement it (catalog/adapters/tantivy_index.py, catalog/adapters/opensearch_index.py)
and pass one contract suite (tests/integration/test_search_contract.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from catalog.documents import Document, DocumentKind


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
