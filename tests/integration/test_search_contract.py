"""One contract suite, run unchanged against both search adapters (tests/integration/conftest.py).

Writes are published the way a crawl's finish step publishes them (tests.search_helpers.crawl).
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import replace

import pytest
import tantivy
from opensearchpy import AsyncOpenSearch

from catalog.adapters import opensearch_index
from catalog.adapters.opensearch_index import INDEX_BODY, OpenSearchIndex
from catalog.adapters.tantivy_index import TantivyIndex
from catalog.documents import Document, DocumentKind, documents_for_table, generation_scope
from catalog.errors import IndexLostError, PermanentError, TransientError
from catalog.models import Column, ForeignKey, Table, TableType
from catalog.search import SearchIndex, SearchQuery, SuggestQuery
from tests.search_helpers import TENANT, crawl, found, generation_documents

DB_A = "db-a"
DB_B = "db-b"
SCOPE_A1 = generation_scope(DB_A, 1)
SCOPE_A2 = generation_scope(DB_A, 2)
SCOPE_B1 = generation_scope(DB_B, 1)


def _column(name: str, position: int, data_type: str = "integer") -> Column:
    return Column(name=name, position=position, data_type=data_type, nullable=position > 1)


def _table(name: str, *columns: str, comment: str | None = None) -> Table:
    return Table(
        schema="public",
        name=name,
        type=TableType.TABLE,
        columns=tuple(_column(column, i + 1) for i, column in enumerate(columns)),
        comment=comment,
        primary_key=("id",) if "id" in columns else (),
        row_estimate=1000,
    )


# Plan order is the list order; ordinals are spaced so paging must use ranges, not positions.
SHOP_TABLES = [
    _table("customer_orders", "id", "order_date", "total_amount", comment="One row per order"),
    _table("customer_orders_archive", "id", "archived_at"),
    _table("customers", "id", "full_name"),
    _table("orders", "id"),
    _table("orders_2019", "id"),
    _table("SalesRegion", "id", "regionName"),
    _table("shipments", "id", "carrier"),
]


def tables_of(documents: Sequence[Document]) -> list[Document]:
    return [document for document in documents if document.kind is DocumentKind.TABLE]


async def all_pages(index: SearchIndex, scope: str, limit: int) -> list[list[Document]]:
    pages: list[list[Document]] = []
    after: int | None = None
    while page := await index.tables_page(scope, after, limit):
        pages.append(page)
        after = page[-1].ordinal
    return pages


async def names(index: SearchIndex, text: str, kind: DocumentKind | None = None) -> list[str]:
    hits = await found(index, SearchQuery(text=text, scopes=(SCOPE_A1,), kind=kind))
    return [hit.document.name for hit in hits]


@pytest.fixture
async def shop(search_index: SearchIndex) -> list[Document]:
    return await crawl(search_index, DB_A, 1, SHOP_TABLES)


# --- browsing -------------------------------------------------------------------------------


async def test_tables_page_pages_in_ordinal_order_without_gaps_or_overlap(search_index, shop):
    pages = await all_pages(search_index, SCOPE_A1, limit=3)

    assert [len(page) for page in pages] == [3, 3, 1]
    flat = [document for page in pages for document in page]
    assert flat == tables_of(shop)  # ordinal order, no column documents, nothing missing
    assert [document.ordinal for document in flat] == [0, 10, 20, 30, 40, 50, 60]


async def test_tables_page_after_an_ordinal_between_tables(search_index, shop):
    page = await search_index.tables_page(SCOPE_A1, 25, 2)

    assert [document.table for document in page] == ["orders", "orders_2019"]
    assert await search_index.tables_page(SCOPE_A1, 60, 10) == []
    assert await search_index.tables_page(generation_scope(DB_A, 99), None, 10) == []


async def test_payload_round_trips(search_index, shop):
    stored = {
        document.id: document for document in await search_index.tables_page(SCOPE_A1, None, 100)
    }
    hits = await found(
        search_index, SearchQuery(text="total_amount", scopes=(SCOPE_A1,), kind=DocumentKind.COLUMN)
    )
    stored |= {hit.document.id: hit.document for hit in hits}

    expected = [document for document in shop if document.id in stored]
    assert len(expected) == len(SHOP_TABLES) + 1
    for document in expected:
        # Payloads travel as JSON: tuples come back as lists.
        assert stored[document.id].payload == json.loads(json.dumps(document.payload))
    customer_orders = stored[shop[0].id]
    assert customer_orders.comment == "One row per order"
    assert customer_orders.payload["columns"][2]["name"] == "total_amount"


async def test_upserting_twice_keeps_one_copy(search_index, shop):
    await crawl(search_index, DB_A, 1, SHOP_TABLES)
    # The same id twice in one batch also leaves one document.
    await search_index.upsert(tables_of(shop)[:1] * 2)
    await search_index.delete_superseded(SCOPE_A1)

    tables = await search_index.tables_page(SCOPE_A1, None, 100)
    assert len(tables) == len(SHOP_TABLES)
    assert len({document.id for document in tables}) == len(SHOP_TABLES)
    assert (await names(search_index, "customer_orders", kind=DocumentKind.TABLE)).count(
        "customer_orders"
    ) == 1


async def test_reopening_keeps_documents(search_index, index_factory, shop):
    await search_index.open()  # idempotent
    await search_index.close()

    reopened = index_factory()
    await reopened.open()
    try:
        assert await reopened.tables_page(SCOPE_A1, None, 100) == tables_of(shop)
        await reopened.ping()
    finally:
        await reopened.close()


# --- one table, and the tables that refer to it ---------------------------------------------

# The unit tests' fake keeps this part of the contract too.
WITH_THE_FAKE = pytest.mark.parametrize(
    "index_factory", ["tantivy", "opensearch", "memory"], indirect=True
)


def _keyed(schema: str, name: str, *keys: tuple[str, str, str, tuple[str, ...]]) -> Table:
    """A table in `schema` with a foreign key (name, ref_schema, ref_table, columns) per key,
    each to the referenced table's id."""
    columns = dict.fromkeys(["id", *(c for *_, cs in keys for c in cs)])
    foreign_keys = tuple(
        ForeignKey(key, cs, ref_schema, ref_table, ("id",) * len(cs))
        for key, ref_schema, ref_table, cs in keys
    )
    return replace(_table(name, *columns), schema=schema, foreign_keys=foreign_keys)


# In plan order (schema, then name). Names hold dots, quotes, a slash and a space: ("a", "b.c")
# and ("a.b", "c") are two tables. employees refers to itself; invoices to customers twice.
KEYED_TABLES = [
    _keyed("a", "b.c", ("to_c", "a.b", "c", ("c_id",))),
    _keyed("a.b", "c"),
    _keyed("public", "customers"),
    _keyed("public", "employees", ("employees_manager", "public", "employees", ("manager_id",))),
    _keyed(
        "public",
        "invoices",
        ("invoices_billed_to", "public", "customers", ("billed_to",)),
        ("invoices_order", "public", "orders", ("order_id",)),
        ("invoices_shipped_to", "public", "customers", ("shipped_to",)),
    ),
    _keyed("public", "orders", ("orders_customer", "public", "customers", ("customer_id",))),
    _keyed('we"ird', "x y/z", ("weird_customer", "public", "customers", ("customer_id",))),
]


def labels(documents: Sequence[Document]) -> list[tuple[str, str]]:
    return [(document.schema, document.table) for document in documents]


@WITH_THE_FAKE
async def test_table_finds_exactly_that_table_of_the_scope(search_index):
    keyed = tables_of(await crawl(search_index, DB_A, 1, KEYED_TABLES))
    other = await crawl(search_index, DB_B, 1, [_keyed("public", "customers")])

    def as_json(payload: dict) -> dict:
        return json.loads(json.dumps(payload))  # tuples read back as lists

    for written in keyed:
        found = await search_index.table(SCOPE_A1, written.schema, written.table)
        assert found is not None
        assert found == written
        assert as_json(found.payload) == as_json(written.payload)
    db_b_customers = await search_index.table(SCOPE_B1, "public", "customers")
    assert db_b_customers == other[0]
    # Exact and case-sensitive, tables only, in that scope only.
    for schema, name in [
        ("public", "Customers"),
        ("Public", "customers"),
        ("public", "customer"),
        ("public", "customer_id"),  # a column
        ("a", "c"),
        ("a.b", "b.c"),
        ("", ""),
    ]:
        assert await search_index.table(SCOPE_A1, schema, name) is None, (schema, name)
    assert await search_index.table(SCOPE_A2, "public", "customers") is None


@WITH_THE_FAKE
async def test_tables_referencing_lists_the_tables_with_a_key_to_that_table(search_index):
    await crawl(search_index, DB_A, 1, KEYED_TABLES)
    # Another database's table that refers to a public.customers is not db-a's concern.
    await crawl(search_index, DB_B, 1, KEYED_TABLES[-1:])

    def referencing(schema: str, name: str, limit: int = 10):
        return search_index.tables_referencing(SCOPE_A1, schema, name, limit)

    customers = await referencing("public", "customers")
    assert labels(customers) == [("public", "invoices"), ("public", "orders"), ('we"ird', "x y/z")]
    assert [key["name"] for key in customers[0].payload["foreign_keys"]] == [
        "invoices_billed_to",
        "invoices_order",
        "invoices_shipped_to",
    ]
    assert labels(await referencing("public", "customers", 2)) == labels(customers[:2])
    assert await referencing("public", "customers", 0) == []
    assert labels(await referencing("public", "employees")) == [("public", "employees")]
    assert labels(await referencing("public", "orders")) == [("public", "invoices")]
    assert labels(await referencing("a.b", "c")) == [("a", "b.c")]
    assert await referencing("a", "b.c") == []
    assert await referencing("public", "Customers") == []
    assert await referencing("public", "invoices") == []
    assert await search_index.tables_referencing(SCOPE_A2, "public", "customers", 10) == []


@WITH_THE_FAKE
async def test_an_incremental_generation_finds_tables_older_crawls_wrote(search_index):
    """Documents a generation kept from older crawls have those crawls' ids: found by the scope,
    never by computing an id."""
    first = [
        document
        for n, t in enumerate(KEYED_TABLES)
        for document in relation_documents(DB_A, 1, (n + 1) * 10, f"r{n}", t)
    ]
    await search_index.upsert(first)
    await search_index.delete_superseded(SCOPE_A1)
    # Generation 2 reads orders again (its key dropped) and finds we"ird.x y/z dropped.
    orders = next(n for n, t in enumerate(KEYED_TABLES) if t.name == "orders")
    unkeyed = replace(KEYED_TABLES[orders], foreign_keys=())
    await search_index.upsert(relation_documents(DB_A, 2, (orders + 1) * 10, f"r{orders}", unkeyed))
    await search_index.supersede(SCOPE_A1, 2, [f"r{orders}", f"r{len(KEYED_TABLES) - 1}"])
    two = generation_scope(DB_A, 2, base=1)

    customers = await search_index.table(two, "public", "customers")
    assert customers is not None
    assert customers.generation == 1
    assert (await search_index.table(two, "public", "orders")).generation == 2
    assert (await search_index.table(SCOPE_A1, "public", "orders")).generation == 1
    assert await search_index.table(two, 'we"ird', "x y/z") is None
    assert await search_index.table(SCOPE_A1, 'we"ird', "x y/z") is not None
    found = await search_index.tables_referencing(two, "public", "customers", 10)
    assert labels(found) == [("public", "invoices")]
    assert found[0].generation == 1
    before = await search_index.tables_referencing(SCOPE_A1, "public", "customers", 10)
    assert labels(before) == [("public", "invoices"), ("public", "orders"), ('we"ird', "x y/z")]


# --- generations and deletes ----------------------------------------------------------------


async def test_delete_superseded_removes_only_older_generations_of_that_database(
    search_index,
):
    await crawl(search_index, DB_B, 1, SHOP_TABLES[:2])
    await crawl(search_index, DB_A, 1, SHOP_TABLES)
    assert len(await search_index.tables_page(SCOPE_A1, None, 100)) == len(SHOP_TABLES)

    # Generation 2 renamed a table; only the upsert so far, then the finish step.
    generation_2 = [*SHOP_TABLES[:3], _table("clients", "id")]
    await search_index.upsert(generation_documents(DB_A, 2, generation_2))
    await search_index.delete_superseded(SCOPE_A2)

    assert await search_index.tables_page(SCOPE_A1, None, 100) == []
    page_a2 = await search_index.tables_page(SCOPE_A2, None, 100)
    assert [document.table for document in page_a2] == [t.name for t in generation_2]
    page_b1 = await search_index.tables_page(SCOPE_B1, None, 100)
    assert [document.table for document in page_b1] == [
        "customer_orders",
        "customer_orders_archive",
    ]
    # Column documents of the old generation are gone too.
    old_columns = SearchQuery(text="full_name", scopes=(SCOPE_A1,), kind=DocumentKind.COLUMN)
    assert await found(search_index, old_columns) == []


def scope_of(document: Document) -> str:
    return generation_scope(document.database_id, document.generation)


def relation_documents(database_id: str, generation: int, ordinal: int, ref: str, t: Table):
    return documents_for_table(
        database_id, generation, ordinal, replace(t, ref=ref), tenant_id=TENANT
    )


async def incremental_world(search_index):
    """db-a's generation 1 (full: tables r0..r3 of SHOP_TABLES, ordinals 10, 20...), and db-b's."""
    await crawl(search_index, DB_B, 1, SHOP_TABLES[:1])
    first = [
        doc
        for n, t in enumerate(SHOP_TABLES[:4])
        for doc in relation_documents(DB_A, 1, (n + 1) * 10, f"r{n}", t)
    ]
    await search_index.upsert(first)
    await search_index.delete_superseded(SCOPE_A1)
    return [t.name for t in SHOP_TABLES[:4]]


async def test_an_incremental_generation_keeps_what_it_did_not_replace(search_index):
    names = await incremental_world(search_index)
    # Generation 2 replaces r1 (a new column), drops r3 and adds r9; r0 and r2 stay as written.
    altered = replace(SHOP_TABLES[1], columns=(*SHOP_TABLES[1].columns, _column("note", 99)))
    await search_index.upsert(
        [
            *relation_documents(DB_A, 2, 20, "r1", altered),
            *relation_documents(DB_A, 2, 15, "r9", _table("zeta", "id")),
        ]
    )
    two = generation_scope(DB_A, 2, base=1)
    await search_index.supersede(SCOPE_A1, 2, ["r1", "r3"])
    # Readers of generation 1 see no difference; those of 2 see it whole, and nothing else.
    assert [d.table for d in await search_index.tables_page(SCOPE_A1, None, 100)] == names
    new = await search_index.tables_page(two, None, 100)
    assert [(d.table, d.generation) for d in new] == [
        (names[0], 1),
        ("zeta", 2),
        (names[1], 2),
        (names[2], 1),
    ]
    assert new[2].column_names[-1] == "note"
    counts = await search_index.document_counts([SCOPE_A1, two])
    first = sum(1 + len(t.columns) for t in SHOP_TABLES[:4])
    # Less r3 (a table and its columns), plus r1's new column and zeta (a table, one column).
    assert counts == {SCOPE_A1: first, two: first - 1 - len(SHOP_TABLES[3].columns) + 1 + 2}
    assert await names_in(search_index, two, "zeta") == ["zeta"]
    assert names[3] not in await names_in(search_index, two, names[3])
    assert names[3] in await names_in(search_index, SCOPE_A1, names[3])
    # Published: what only generation 1 saw goes; generation 2 reads the same as before.
    await search_index.supersede(SCOPE_A1, 2, ["r1", "r3"])  # a message handled twice
    await search_index.delete_superseded(two)
    assert await search_index.tables_page(two, None, 100) == new
    assert await search_index.tables_page(SCOPE_A1, None, 100) == [new[0], new[3]]
    assert await search_index.tables_page(SCOPE_B1, None, 100) != []  # another database: kept


async def test_supersede_undoes_what_a_crawl_that_never_published_left(search_index):
    names = await incremental_world(search_index)
    # Generation 2 wrote r1 again and retired the old r1 and r2, then died unpublished.
    await search_index.upsert(relation_documents(DB_A, 2, 20, "r1", _table("dead", "id")))
    await search_index.supersede(SCOPE_A1, 2, ["r1", "r2"])
    # Generation 3 replaces only r0.
    await search_index.upsert(relation_documents(DB_A, 3, 10, "r0", _table("alpha", "id")))
    await search_index.supersede(SCOPE_A1, 3, ["r0"])
    three = generation_scope(DB_A, 3, base=1)
    assert [d.table for d in await search_index.tables_page(three, None, 100)] == [
        "alpha",
        *names[1:],
    ]
    assert await names_in(search_index, three, "dead") == []
    await search_index.delete_superseded(three)
    assert [d.table for d in await search_index.tables_page(three, None, 100)] == [
        "alpha",
        *names[1:],
    ]


async def test_delete_database_removes_all_its_documents(search_index):
    await crawl(search_index, DB_A, 1, SHOP_TABLES)
    await crawl(search_index, DB_B, 1, SHOP_TABLES[:1])
    await search_index.upsert(generation_documents(DB_A, 2, SHOP_TABLES[:2]))  # an unfinished crawl

    await search_index.delete_database(DB_A)

    for scope in (SCOPE_A1, SCOPE_A2):
        assert await search_index.tables_page(scope, None, 100) == []
    hits = await found(
        search_index, SearchQuery(text="customer_orders", scopes=(SCOPE_A1, SCOPE_A2, SCOPE_B1))
    )
    assert hits
    assert {hit.document.database_id for hit in hits} == {DB_B}


# --- search relevance -----------------------------------------------------------------------


async def test_exact_name_ranks_first_among_similar_names(search_index, shop):
    hits = await found(
        search_index,
        SearchQuery(text="customer_orders", scopes=(SCOPE_A1,), kind=DocumentKind.TABLE),
    )

    assert [hit.document.table for hit in hits] == ["customer_orders", "customer_orders_archive"]
    assert hits[0].score > hits[1].score
    assert all(isinstance(hit.score, float) for hit in hits)


async def test_ranking_exact_name_then_exact_parts_then_prefix_then_fuzzy(search_index):
    tables = [_table(name) for name in ("card", "cartography", "cart_items", "cart", "parts")]
    await crawl(search_index, DB_A, 1, tables)

    hits = await found(search_index, SearchQuery(text="cart", scopes=(SCOPE_A1,)))

    assert [hit.document.table for hit in hits] == ["cart", "cart_items", "cartography", "card"]
    scores = [hit.score for hit in hits]
    assert scores == sorted(set(scores), reverse=True)  # strictly decreasing


async def test_ties_are_broken_by_plan_order(search_index, shop):
    found = await names(search_index, "orders", kind=DocumentKind.TABLE)

    assert found == ["orders", "customer_orders", "customer_orders_archive", "orders_2019"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("custmer_orders", "customer_orders"),  # one typo in one part
        ("custmer", "customer_orders"),
        ("cutsomer orders", "customer_orders"),  # a transposition costs one edit
        ("cust", "customer_orders"),  # prefix without wildcards
        ("region", "SalesRegion"),  # camelCase part
        ("sales region", "SalesRegion"),
        ("salesregion", "SalesRegion"),  # the whole name, lower-cased
        ("orders 2019", "orders_2019"),  # digits are their own part
        ("CUSTOMER_ORDERS", "customer_orders"),  # case-insensitive
        ("Customer Orders", "customer_orders"),
    ],
)
async def test_search_finds(search_index, shop, text, expected):
    found = await names(search_index, text, kind=DocumentKind.TABLE)

    assert found[0] == expected


async def test_search_without_a_match(search_index, shop):
    assert await names(search_index, "invoices") == []
    assert await names(search_index, "orders 2020") == []  # every part must match
    assert await names(search_index, "ix") == []  # parts of two letters allow no typo ("id")
    assert await names(search_index, "__ --") == []  # no identifier parts at all


async def test_case_does_not_change_scores(search_index, shop):
    lower = await found(search_index, SearchQuery(text="salesregion", scopes=(SCOPE_A1,)))
    upper = await found(search_index, SearchQuery(text="SALESREGION", scopes=(SCOPE_A1,)))

    assert [(hit.document.id, hit.score) for hit in upper] == [
        (hit.document.id, hit.score) for hit in lower
    ]


async def test_kind_filter(search_index, shop):
    columns = await found(
        search_index, SearchQuery(text="order_date", scopes=(SCOPE_A1,), kind=DocumentKind.COLUMN)
    )
    assert [(hit.document.table, hit.document.column) for hit in columns] == [
        ("customer_orders", "order_date")
    ]
    assert columns[0].document.data_type == "integer"
    # A table matches through its columns' names (catalog.search.COLUMN_EXACT_SCORE), but only
    # its own document comes back, never a column's.
    tables = await found(
        search_index, SearchQuery(text="order_date", scopes=(SCOPE_A1,), kind=DocumentKind.TABLE)
    )
    assert [(hit.document.kind, hit.document.table) for hit in tables] == [
        (DocumentKind.TABLE, "customer_orders")
    ]

    both = await found(search_index, SearchQuery(text="region", scopes=(SCOPE_A1,)))
    assert {hit.document.kind for hit in both} == {DocumentKind.TABLE, DocumentKind.COLUMN}


async def test_scopes_filter(search_index, shop):
    await crawl(search_index, DB_B, 1, SHOP_TABLES[:1])
    # An unfinished newer crawl of db-a found a new table: readers that do not list its scope
    # never see it.
    await search_index.upsert(generation_documents(DB_A, 2, [_table("customer_orders_2024", "id")]))

    only_a = await found(search_index, SearchQuery(text="customer_orders", scopes=(SCOPE_A1,)))
    assert only_a
    assert {scope_of(hit.document) for hit in only_a} == {SCOPE_A1}

    a_and_b = await found(
        search_index,
        SearchQuery(text="customer_orders", scopes=(SCOPE_A1, SCOPE_B1), kind=DocumentKind.TABLE),
    )
    assert sorted(
        scope_of(hit.document) for hit in a_and_b if hit.document.table == "customer_orders"
    ) == [
        SCOPE_A1,
        SCOPE_B1,
    ]

    assert await found(search_index, SearchQuery(text="customer_orders", scopes=())) == []


async def test_limit_caps_hits_and_keeps_the_best(search_index, shop):
    everything = await found(search_index, SearchQuery(text="id", scopes=(SCOPE_A1,), limit=100))
    # Every table has an "id" column: the columns named so first, then the tables holding them.
    assert [hit.document.kind for hit in everything] == [DocumentKind.COLUMN] * len(SHOP_TABLES) + [
        DocumentKind.TABLE
    ] * len(SHOP_TABLES)

    capped = await found(search_index, SearchQuery(text="id", scopes=(SCOPE_A1,), limit=2))
    assert [hit.document.id for hit in capped] == [hit.document.id for hit in everything[:2]]

    top = await found(search_index, SearchQuery(text="orders", scopes=(SCOPE_A1,), limit=1))
    assert [hit.document.name for hit in top] == ["orders"]


async def test_ping_answers_when_open(search_index):
    await search_index.ping()  # raises TransientError when the engine cannot answer
    await search_index.upsert([])  # an empty batch is a no-op, not an error
    assert await search_index.tables_page(SCOPE_A1, None, 10) == []


# --- adapter-specific: what only one engine can do ------------------------------------------


async def test_opensearch_unreachable_is_transient():
    index = OpenSearchIndex("http://127.0.0.1:1", "catalog-unreachable")
    try:
        with pytest.raises(TransientError):
            await index.ping()
        with pytest.raises(TransientError):
            await found(index, SearchQuery(text="orders", scopes=(SCOPE_A1,)))
    finally:
        await index.close()


async def test_tantivy_recreates_an_index_built_with_another_schema(tmp_path, caplog):
    path = tmp_path / "search"
    path.mkdir()
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", tokenizer_name="raw")
    old = tantivy.Index(builder.build(), path=str(path))
    writer = old.writer(heap_size=15_000_000)
    writer.add_document(tantivy.Document(id="from-an-older-version"))
    writer.commit()
    writer.wait_merging_threads()

    index = TantivyIndex(path)
    await index.open()
    try:
        assert "re-crawl" in caplog.text
        assert await index.tables_page(SCOPE_A1, None, 10) == []
        await crawl(index, DB_A, 1, SHOP_TABLES)
        assert (await names(index, "stomer", kind=DocumentKind.TABLE))[0] == "customer_orders"
    finally:
        await index.close()


async def test_opensearch_open_adds_the_fields_an_older_mapping_lacks(opensearch_url):
    name = f"catalog-test-{uuid.uuid4().hex}"
    old_fields = {"name_substrings", "name_compact", "column_terms", "name_display", "references"}
    mapping = INDEX_BODY["mappings"]
    old_body = INDEX_BODY | {
        "mappings": mapping
        | {"properties": {k: v for k, v in mapping["properties"].items() if k not in old_fields}}
    }
    async with AsyncOpenSearch(hosts=[opensearch_url]) as client:
        await client.indices.create(index=name, body=old_body)

    index = OpenSearchIndex(opensearch_url, name)
    await index.open()
    try:
        await crawl(index, DB_A, 1, [*SHOP_TABLES, *KEYED_TABLES])  # strict: unmapped refused
        assert (await names(index, "stomer", kind=DocumentKind.TABLE))[0] == "customer_orders"
        referencing = await index.tables_referencing(SCOPE_A1, "public", "employees", 10)
        assert labels(referencing) == [("public", "employees")]
    finally:
        await index.close()


async def test_documents_of_another_tenant_never_answer(search_index, shop):
    own = SearchQuery(text="customer_orders", scopes=(SCOPE_A1,), tenant_id=TENANT)
    assert [hit.document.table for hit in await found(search_index, own)][:1] == ["customer_orders"]
    assert all(hit.document.tenant_id == TENANT for hit in await found(search_index, own))
    # Even a scope that names the database returns nothing to another tenant.
    other = SearchQuery(text="customer_orders", scopes=(SCOPE_A1,), tenant_id="someone-else")
    assert await found(search_index, other) == []
    suggested = await search_index.suggest(
        SuggestQuery("cust", (SCOPE_A1,), tenant_id="someone-else")
    )
    assert suggested == []
    assert await search_index.suggest(SuggestQuery("cust", (SCOPE_A1,), tenant_id=TENANT))


async def test_opensearch_open_names_the_field_whose_mapping_the_engine_refuses(opensearch_url):
    """An index whose `generation` is text cannot take our mapping: a clear startup error."""
    name = f"catalog-test-{uuid.uuid4().hex}"
    async with AsyncOpenSearch(hosts=[opensearch_url]) as client:
        await client.indices.create(
            index=name, body={"mappings": {"properties": {"generation": {"type": "keyword"}}}}
        )
    index = OpenSearchIndex(opensearch_url, name)
    with pytest.raises(PermanentError) as refused:
        await index.open()
    await index.close()
    message = str(refused.value)
    assert f"the mapping of index '{name}'" in message
    assert "[generation]" in message
    assert "keyword" in message


async def test_document_counts_count_each_scope_and_leave_out_empty_ones(search_index, shop):
    b = await crawl(search_index, DB_B, 1, SHOP_TABLES[:2])
    counts = await search_index.document_counts([SCOPE_A1, SCOPE_A2, SCOPE_B1])
    assert len(b) == 7  # two tables and their five columns
    assert counts == {SCOPE_A1: len(shop), SCOPE_B1: 7}
    assert await search_index.ensure() is False  # there: nothing to create


async def test_documents_by_id_returns_those_that_exist(search_index, shop):
    wanted = [shop[0].id, shop[3].id, "no-such-document"]
    found = await search_index.documents_by_id(wanted)
    assert sorted(found, key=lambda d: d.id) == sorted([shop[0], shop[3]], key=lambda d: d.id)
    assert await search_index.documents_by_id([]) == []


async def test_opensearch_deleted_under_us_reads_as_lost_until_ensure_creates_it(
    opensearch_url,
):
    name = f"catalog-test-{uuid.uuid4().hex}"
    index = OpenSearchIndex(opensearch_url, name)
    await index.open()
    try:
        await crawl(index, DB_A, 1, SHOP_TABLES)
        async with AsyncOpenSearch(hosts=[opensearch_url]) as client:
            await client.indices.delete(index=name)
        with pytest.raises(IndexLostError):
            await found(index, SearchQuery(text="orders", scopes=(SCOPE_A1,)))
        with pytest.raises(IndexLostError):
            await index.document_counts([SCOPE_A1])
        with pytest.raises(IndexLostError):
            await index.tables_page(SCOPE_A1, None, 10)
        assert await index.ensure() is True
        assert await index.document_counts([SCOPE_A1]) == {}
        await crawl(index, DB_A, 2, SHOP_TABLES)  # the mappings are ours again
        assert (await names_in(index, SCOPE_A2, "stomer"))[0] == "customer_orders"
    finally:
        await index.close()


async def test_a_bulk_write_that_races_a_deletion_makes_an_index_with_our_mappings(
    opensearch_url,
):
    """A bulk request to a missing index creates it; the template gives it our mappings, not
    mappings OpenSearch would guess from the first document."""
    name = f"catalog-test-{uuid.uuid4().hex}"
    index = OpenSearchIndex(opensearch_url, name)
    await index.open()
    try:
        async with AsyncOpenSearch(hosts=[opensearch_url]) as client:
            await client.indices.delete(index=name)
            await index.upsert(generation_documents(DB_A, 1, SHOP_TABLES))
            mapping = await client.indices.get_mapping(index=name)
        assert mapping[name]["mappings"]["properties"]["retired"] == {"type": "long"}
    finally:
        await index.close()


async def test_tantivy_directory_removed_under_us_reads_as_lost_until_ensure_creates_it(
    tmp_path,
):
    path = tmp_path / "search"
    writer, reader = TantivyIndex(path), TantivyIndex(path, writable=False)
    await writer.open()
    await reader.open()
    try:
        await crawl(writer, DB_A, 1, SHOP_TABLES)
        shutil.rmtree(path)
        with pytest.raises(IndexLostError):
            await writer.document_counts([SCOPE_A1])
        with pytest.raises(IndexLostError):  # a reader meeting a new scope must reload
            await reader.tables_page(SCOPE_B1, None, 10)
        assert await reader.ensure() is False  # only the writer creates it
        assert await writer.ensure() is True
        assert await writer.document_counts([SCOPE_A1]) == {}
        await crawl(writer, DB_A, 2, SHOP_TABLES)
        assert (await names_in(reader, SCOPE_A2, "stomer"))[0] == "customer_orders"
    finally:
        await writer.close()
        await reader.close()


async def names_in(index: SearchIndex, scope: str, text: str) -> list[str]:
    hits = await found(index, SearchQuery(text=text, scopes=(scope,), kind=DocumentKind.TABLE))
    return [hit.document.name for hit in hits]


async def test_opensearch_retires_more_refs_than_one_terms_query_takes(opensearch_url, monkeypatch):
    """Refs go a slice at a time (a terms query takes 65,536 values): here two per pass."""
    monkeypatch.setattr(opensearch_index, "_REFS_PER_PASS", 2)
    index = OpenSearchIndex(opensearch_url, f"catalog-test-{uuid.uuid4().hex}")
    await index.open()
    try:
        names = await incremental_world(index)
        # An unpublished generation 2 retired r2; generation 3 replaces r0, r1 and r3.
        await index.supersede(SCOPE_A1, 2, ["r2"])
        await index.upsert(relation_documents(DB_A, 3, 10, "r0", _table("alpha", "id")))
        await index.supersede(SCOPE_A1, 3, ["r0", "r1", "r3"])
        three = generation_scope(DB_A, 3, base=1)
        assert [d.table for d in await index.tables_page(three, None, 100)] == ["alpha", names[2]]
        assert [d.table for d in await index.tables_page(SCOPE_A1, None, 100)] == names
    finally:
        await index.close()
