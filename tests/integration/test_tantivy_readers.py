"""Several processes on one tantivy index: the indexer writes, read-only gateways read."""

from __future__ import annotations

import pytest
import tantivy

from catalog.adapters.tantivy_index import TantivyIndex
from catalog.documents import documents_for_table, generation_scope
from catalog.errors import PermanentError
from catalog.models import DEFAULT_TENANT
from catalog.search import SearchQuery, SuggestQuery
from tests.factories import table


def generation(number: int, name: str) -> list:
    return documents_for_table(
        "db_1", number, 0, table("public", name, "id"), tenant_id=DEFAULT_TENANT
    )


def search(name: str, number: int) -> SearchQuery:
    return SearchQuery(name, (generation_scope("db_1", number),), tenant_id=DEFAULT_TENANT)


async def test_a_read_only_index_sees_each_new_generation_the_writer_committed(tmp_path):
    writer = TantivyIndex(tmp_path)
    await writer.open()
    reader = TantivyIndex(tmp_path, writable=False)
    await reader.open()
    try:
        await writer.upsert(generation(1, "orders"))
        page = await reader.search(search("orders", 1))
        assert [(h.document.table, h.document.column) for h in page.hits] == [("orders", None)]
        # Generation 2 is committed after the reader last reloaded; naming it reloads.
        await writer.upsert(generation(2, "invoices"))
        page = await reader.search(search("invoices", 2))
        assert [h.document.table for h in page.hits] == ["invoices"]
        suggested = await reader.suggest(
            SuggestQuery("invo", (generation_scope("db_1", 2),), tenant_id=DEFAULT_TENANT)
        )
        assert [s.name for s in suggested] == ["invoices"]
        tables = await reader.tables_page(generation_scope("db_1", 2), None, 10)
        assert [d.table for d in tables] == ["invoices"]
        with pytest.raises(RuntimeError, match="read-only"):
            await reader.upsert(generation(3, "refunds"))
    finally:
        await reader.close()
        await writer.close()


async def test_a_read_only_index_refuses_an_index_of_another_schema(tmp_path):
    other = tantivy.SchemaBuilder().add_text_field("title", stored=True).build()
    tantivy.Index(other, path=str(tmp_path))
    reader = TantivyIndex(tmp_path, writable=False)
    with pytest.raises(PermanentError, match="older schema: start the indexer"):
        await reader.open()
