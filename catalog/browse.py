"""Walking a database's live tables page by page, in plan order (schema, then name)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from catalog.documents import Document
from catalog.search import SearchIndex


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
