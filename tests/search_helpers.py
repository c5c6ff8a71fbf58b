"""Writing generations into any search adapter the way a crawl does, for tests and benchmarks."""

from __future__ import annotations

from collections.abc import Sequence

from catalog.documents import Document, documents_for_table, generation_scope
from catalog.models import Table
from catalog.search import SearchHit, SearchIndex, SearchQuery

TENANT = "tenant"  # the owner of every document these helpers write


def generation_documents(
    database_id: str, generation: int, tables: Sequence[Table]
) -> list[Document]:
    """Documents of tables in plan order; ordinals are spaced so paging must use ranges."""
    return [
        document
        for ordinal, table in enumerate(tables)
        for document in documents_for_table(
            database_id, generation, ordinal * 10, table, tenant_id=TENANT
        )
    ]


async def crawl(
    index: SearchIndex, database_id: str, generation: int, tables: Sequence[Table]
) -> list[Document]:
    """Write one generation in two batches, then finish it; returns the documents written.

    Finishing (`delete_superseded`) is what makes writes visible to readers: on OpenSearch it
    refreshes, and a bare bulk write is not searchable until the next refresh.
    """
    documents = generation_documents(database_id, generation, tables)
    half = len(documents) // 2
    await index.upsert(documents[half:])  # batches may land in any order
    await index.upsert(documents[:half])
    await index.delete_superseded(generation_scope(database_id, generation))
    return documents


async def found(index: SearchIndex, query: SearchQuery) -> list[SearchHit]:
    return (await index.search(query)).hits
