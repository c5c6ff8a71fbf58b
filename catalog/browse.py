"""Walking a database's live tables page by page, in plan order (schema, then name)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from catalog.documents import Document, generation_scope
from catalog.errors import IndexLostError
from catalog.models import Database
from catalog.search import SearchIndex


def live_scope(database: Database) -> str | None:
    """The generation readers of the database see (None before its first crawl completes);
    IndexLostError while its documents are missing from the index, so that a reader gets a 503
    and never an empty answer that reads "no such table"."""
    if database.index_lost_at is not None:
        raise IndexLostError.for_databases([database.id])
    if database.live_generation is None:
        return None
    return generation_scope(database.id, database.live_generation, database.live_base)


async def table_pages(
    index: SearchIndex, scope: str, page_size: int = 500
) -> AsyncIterator[list[Document]]:
    """Every table document of one generation; memory holds one page at a time."""
    after: int | None = None
    while True:
        page = await index.tables_page(scope, after, page_size)
        if page:
            yield page
        if len(page) < page_size:
            return
        after = page[-1].ordinal
