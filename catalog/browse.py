"""Walking a database's live tables page by page, in plan order (schema, then name), and
what refers to one of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

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


# The most foreign keys a table's referenced_by lists: enough for any table a person reads.
MAX_REFERENCED_BY = 500


@dataclass(frozen=True)
class Reference:
    """A foreign key of table `schema`.`table` that points at another table (or its own)."""

    schema: str
    table: str
    name: str
    columns: list[str]
    ref_columns: list[str]


async def referenced_by(index: SearchIndex, scope: str, schema: str, name: str) -> list[Reference]:
    """The foreign keys of the scope's tables, its own included, that point at `schema`.`name`:
    by the referencing table's schema and name, then the key's name; the first
    MAX_REFERENCED_BY."""
    # Each table found holds one such key at least, and they come by schema and name: the
    # first MAX_REFERENCED_BY tables hold the first MAX_REFERENCED_BY keys.
    tables = await index.tables_referencing(scope, schema, name, MAX_REFERENCED_BY)
    found = [
        Reference(t.schema, t.table, key["name"], list(key["columns"]), list(key["ref_columns"]))
        for t in tables
        for key in t.payload.get("foreign_keys", ())
        if (key["ref_schema"], key["ref_table"]) == (schema, name)
    ]
    found.sort(key=lambda r: (r.schema, r.table, r.name))
    return found[:MAX_REFERENCED_BY]
