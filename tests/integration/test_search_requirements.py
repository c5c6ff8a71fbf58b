"""The table-search requirements, each a peer's public issue, run against both search adapters.

Also the API's building blocks that both adapters must agree on: filters, facets, cursors,
suggestions, and the Python explanation of why a hit matched.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from catalog.abbreviations import BUILTIN
from catalog.documents import DocumentKind, generation_scope
from catalog.explain import explain
from catalog.models import Column, Table, TableType
from catalog.search import (
    COMPACT_FUZZY_BOOSTS,
    FUZZY_SCORES,
    Reason,
    SearchHit,
    SearchIndex,
    SearchQuery,
    SuggestQuery,
    match_plan,
)
from tests.search_helpers import crawl, found

DB = "db-req"
OTHER_DB = "db-other"
SCOPE = generation_scope(DB, 1)
OTHER_SCOPE = generation_scope(OTHER_DB, 1)


def _table(
    schema: str,
    name: str,
    *columns: str | tuple[str, str],
    kind: TableType = TableType.TABLE,
) -> Table:
    typed = [(c, "bigint") if isinstance(c, str) else c for c in columns]
    return Table(
        schema=schema,
        name=name,
        type=kind,
        columns=tuple(
            Column(name=n, position=i + 1, data_type=t, nullable=True)
            for i, (n, t) in enumerate(typed)
        ),
    )


# Plan order: schema, then name. Look-alikes come first, so plan order alone never ranks right.
TABLES = [
    _table("crm", "ab_customer_orders", "id"),
    _table("crm", "customer_emails", "id", ("email", "text"), kind=TableType.VIEW),
    _table("crm", "customers", "id", ("email", "text"), ("full_name", "text"), "customerId"),
    _table("crm", "d_ab_customer", "id"),
    _table("crm", "d_ab_customer_orders_2019", "id"),
    _table("crm", "d_ab_customer_orders_archive", "id"),
    _table("crm", "d_ab_customer_orders_v2", "id"),
    _table("crm", "d_ab_customer_orders", "id", ("order_date", "date")),
    _table("crm", "email_campaigns", "id", ("subject", "text")),
    _table("fleet", "drivers", "id", ("license_no", "text")),
    _table("fleet", "driverlicense", "id", ("expires_on", "date")),
    _table("fleet", "license_plates", "id"),
    _table("sales", "card", "id"),
    _table("sales", "cart", "id"),
    _table("sales", "CustomerOrders", "id", kind=TableType.MATERIALIZED_VIEW),
    _table("sales", "customer_orders", "id", ("order_date", "date"), ("total_amount", "numeric")),
    _table("sales", "orders", "id", ("order_date", "date")),
    _table("sales", "orders_2019", "id"),
    _table("sales", "orders_2020", "id"),
    _table("sales", "SalesRegion", "id", ("regionName", "text")),
    _table("sales", "shipments", "id", ("carrier", "text")),
]


@pytest.fixture
async def catalog(search_index: SearchIndex) -> SearchIndex:
    await crawl(search_index, DB, 1, TABLES)
    return search_index


async def search(
    index: SearchIndex, text: str, kind: DocumentKind | None = None, **filters
) -> list[SearchHit]:
    scopes = filters.pop("scopes", (SCOPE,))
    return await found(index, SearchQuery(text, scopes, kind, limit=100, **filters))


def label(hit: SearchHit) -> str:
    document = hit.document
    return document.table if document.column is None else f"{document.table}.{document.column}"


async def labels(index: SearchIndex, text: str, kind: DocumentKind | None = None) -> list[str]:
    return [label(hit) for hit in await search(index, text, kind)]


# --- the requirements ---------------------------------------------------------------


async def test_exact_table_name_ranks_first_among_many_look_alikes(catalog):
    """OpenMetadata 10789: `d_ab_customer_orders` landed on page 2."""
    hits = await search(catalog, "d_ab_customer_orders", DocumentKind.TABLE)

    assert label(hits[0]) == "d_ab_customer_orders"
    assert hits[0].score > hits[1].score
    assert {label(hit) for hit in hits[1:4]} == {
        "d_ab_customer_orders_2019",
        "d_ab_customer_orders_archive",
        "d_ab_customer_orders_v2",
    }


async def test_exact_column_name_beats_a_partial_table_name(catalog):
    """DataHub 7725: with kind=any, a column named `email` outranks `email_campaigns`."""
    found_labels = await labels(catalog, "email")

    # The table's column first, then the same column in the view customer_emails (tie-break).
    assert found_labels[:2] == ["customers.email", "customer_emails.email"]
    assert found_labels.index("customers.email") < found_labels.index("email_campaigns")
    assert found_labels.index("customers.email") < found_labels.index("customer_emails")


async def test_a_substring_inside_a_word_matches_below_a_prefix(catalog):
    """OpenMetadata 10224: `license` finds `driverlicense`."""
    found_labels = await labels(catalog, "license", DocumentKind.TABLE)

    assert "driverlicense" in found_labels
    assert found_labels.index("license_plates") < found_labels.index("driverlicense")
    assert (await labels(catalog, "verlic", DocumentKind.TABLE))[0] == "driverlicense"


async def test_camel_case_parts_match(catalog):
    """OpenMetadata 18995: `region` finds `SalesRegion`; camelCase columns split too."""
    assert (await labels(catalog, "region", DocumentKind.TABLE))[0] == "SalesRegion"
    assert (await labels(catalog, "region name", DocumentKind.COLUMN))[
        0
    ] == "SalesRegion.regionName"


async def test_snake_case_parts_match_and_underscores_count_for_exact(catalog):
    """Amundsen 433: parts of snake_case match, and the name with its underscores is exact."""
    assert "customer_orders" in await labels(catalog, "orders customer", DocumentKind.TABLE)

    hits = await search(catalog, "customer_orders", DocumentKind.TABLE)
    by_label = {label(hit): hit.score for hit in hits}
    assert label(hits[0]) == "customer_orders"
    assert by_label["customer_orders"] > by_label["CustomerOrders"]


async def test_digits_are_their_own_parts(catalog):
    assert (await labels(catalog, "orders 2019", DocumentKind.TABLE))[0] == "orders_2019"
    assert (await labels(catalog, "orders2020", DocumentKind.TABLE))[0] == "orders_2020"


async def test_prefixes_match_without_wildcards(catalog):
    """Amundsen 600."""
    assert (await labels(catalog, "shipm", DocumentKind.TABLE))[0] == "shipments"
    assert (await labels(catalog, "driverlic", DocumentKind.TABLE))[0] == "driverlicense"


async def test_case_does_not_matter_anywhere_including_column_search(catalog):
    """Amundsen 863."""
    for text in ("EMAIL", "Email", "email"):
        assert (await labels(catalog, text, DocumentKind.COLUMN))[0] == "customers.email"
    assert (await labels(catalog, "CUSTOMERID", DocumentKind.COLUMN))[0] == "customers.customerId"
    assert (await labels(catalog, "SALESREGION", DocumentKind.TABLE))[0] == "SalesRegion"


async def test_table_hits_show_their_matched_columns_highlighted(catalog):
    """DataHub 6643: a table found through a column says which column, highlighted."""
    plan = match_plan("customer email", DocumentKind.TABLE)
    hits = await search(catalog, "customer email", DocumentKind.TABLE)

    assert [label(hit) for hit in hits[:2]] == ["customer_emails", "customers"]
    customers = explain(hits[1].document, plan)
    assert customers.highlight == "<em>customers</em>"  # the plural of the query's word
    assert [(c.name, c.data_type, c.highlight) for c in customers.matched_columns] == [
        ("email", "text", "<em>email</em>")
    ]
    # The view's own name matched both parts: no column is needed to explain it.
    assert explain(hits[0].document, plan).matched_columns == ()


async def test_one_or_two_typos_still_find_the_table_and_exact_beats_fuzzy(catalog):
    typos = await search(catalog, "custmer_ordrs", DocumentKind.TABLE)
    # Both spellings of the name are two typos away, and tie above everything else; the table
    # before the materialized view (the tie-break).
    assert [label(hit) for hit in typos[:2]] == ["customer_orders", "CustomerOrders"]
    assert typos[0].score == typos[1].score > typos[2].score
    assert (await labels(catalog, "shipmnets", DocumentKind.TABLE))[0] == "shipments"  # swap

    exact = await search(catalog, "card", DocumentKind.TABLE)
    assert [label(hit) for hit in exact] == ["card", "cart"]
    assert exact[0].score > exact[1].score


async def test_typo_tolerance_scales_with_the_length_of_the_word(catalog):
    # Five letters allow one edit, not two; six or more allow two; two letters allow none.
    assert await labels(catalog, "shpmnts", DocumentKind.TABLE) == ["shipments"]  # 2 edits, 7
    assert await labels(catalog, "crad", DocumentKind.TABLE) == ["card"]  # a swap: 1 edit
    assert await labels(catalog, "cadr", DocumentKind.TABLE) == ["card"]  # not "cart": 2 edits
    assert await labels(catalog, "cr", DocumentKind.TABLE) == []  # no typo in 2 letters ("ca")
    hits = await search(catalog, "shpmnts", DocumentKind.TABLE)
    assert hits[0].score == FUZZY_SCORES[2] + COMPACT_FUZZY_BOOSTS[2]  # a part, and the name


# --- filters, facets, cursors ---------------------------------------------------------------


async def test_keyword_filters(catalog):
    in_fleet = await search(catalog, "license", schemas=("fleet",))
    assert {label(hit) for hit in in_fleet} >= {"driverlicense", "license_plates"}
    assert {hit.document.schema for hit in in_fleet} == {"fleet"}
    views = await search(catalog, "customer", DocumentKind.TABLE, table_types=("view",))
    assert [label(hit) for hit in views] == ["customer_emails"]
    either = await search(
        catalog, "customer", DocumentKind.TABLE, table_types=("view", "materialized_view")
    )
    assert {label(hit) for hit in either} == {"customer_emails", "CustomerOrders"}
    dates = await search(catalog, "order", DocumentKind.COLUMN, data_types=("date",))
    assert {label(hit) for hit in dates} == {
        "customer_orders.order_date",
        "d_ab_customer_orders.order_date",
        "orders.order_date",
    }
    assert await search(catalog, "email", data_types=("bigint",)) == []


async def test_database_scopes_filter_and_unlisted_databases_stay_hidden(catalog):
    await crawl(catalog, OTHER_DB, 1, [_table("public", "customer_orders", "id")])

    both = await search(catalog, "customer_orders", DocumentKind.TABLE, scopes=(SCOPE, OTHER_SCOPE))
    exact = [hit.document.database_id for hit in both if label(hit) == "customer_orders"]
    assert sorted(exact) == sorted([DB, OTHER_DB])
    only_other = await search(catalog, "customer_orders", scopes=(OTHER_SCOPE,))
    assert {hit.document.database_id for hit in only_other} == {OTHER_DB}


async def test_facets_count_the_whole_filtered_result_not_the_page(catalog):
    page = await catalog.search(SearchQuery("customer", (SCOPE,), limit=2, facets=True))
    everything = await search(catalog, "customer")

    assert len(page.hits) == 2
    counts = {field: {f.value: f.count for f in facets} for field, facets in page.facets.items()}
    assert sum(counts["kind"].values()) == len(everything)
    assert counts["kind"] == {
        "table": sum(1 for hit in everything if hit.document.column is None),
        "column": sum(1 for hit in everything if hit.document.column is not None),
    }
    assert counts["schema"] == {
        schema: sum(1 for hit in everything if hit.document.schema == schema)
        for schema in {hit.document.schema for hit in everything}
    }
    assert counts["database_id"] == {DB: len(everything)}
    assert set(counts["table_type"]) == {"table", "view", "materialized_view"}
    assert counts["data_type"] == {"bigint": 1}  # customers.customerId; tables are not counted
    # Ordered by count, most first.
    assert [f.count for f in page.facets["schema"]] == sorted(
        counts["schema"].values(), reverse=True
    )

    filtered = await catalog.search(
        SearchQuery("customer", (SCOPE,), schemas=("sales",), facets=True)
    )
    assert [f.value for f in filtered.facets["schema"]] == ["sales"]
    assert (await catalog.search(SearchQuery("customer", (SCOPE,)))).facets == {}


async def test_the_data_type_facet_counts_column_hits_by_type_and_no_tables(catalog):
    everything = await search(catalog, "e")
    columns = [hit.document for hit in everything if hit.document.column is not None]
    assert sorted((d.table, d.column, d.data_type) for d in columns) == [
        ("customer_emails", "email", "text"),
        ("customers", "email", "text"),
        ("driverlicense", "expires_on", "date"),
    ]
    assert len(everything) > len(columns)  # tables matched too, and have no data type
    # Counted by the engine, and (tantivy) from a first page that holds every hit.
    for limit in (1, len(everything) + 1):
        page = await catalog.search(SearchQuery("e", (SCOPE,), limit=limit, facets=True))
        data_types = [(f.value, f.count) for f in page.facets["data_type"]]
        assert data_types == [("text", 2), ("date", 1)], limit


async def test_facets_are_the_same_whether_the_page_holds_every_hit_or_not(catalog):
    """A first page with room to spare holds every hit, and an adapter may count facets from it
    (tantivy does); that must agree with counting them in the engine."""
    everything = await search(catalog, "customer")
    roomy = await catalog.search(
        SearchQuery("customer", (SCOPE,), limit=len(everything) + 1, facets=True)
    )
    tight = await catalog.search(SearchQuery("customer", (SCOPE,), limit=1, facets=True))
    assert len(roomy.hits) == len(everything) > 1
    assert roomy.facets == tight.facets
    assert sum(f.count for f in roomy.facets["kind"]) == len(everything)


async def test_cursor_pages_follow_the_stable_order_without_gaps_or_repeats(catalog):
    everything = await search(catalog, "id")  # ties galore: every table has an "id" column
    keys = [hit.key() for hit in everything]
    assert keys == sorted(keys)  # score desc, ordinal asc, id asc

    paged, after = [], None
    while True:
        page = await found(catalog, SearchQuery("id", (SCOPE,), limit=3, after=after))
        if not page:
            break
        paged += page
        after = page[-1].position(len(paged))
    assert [hit.document.id for hit in paged] == [hit.document.id for hit in everything]


# --- suggestions ----------------------------------------------------------------------------


async def suggestions(index: SearchIndex, text: str, **options) -> list[tuple[str, int]]:
    found_names = await index.suggest(SuggestQuery(text, (SCOPE,), **options))
    return [(s.name, s.count) for s in found_names]


async def test_suggest_completes_names_from_their_start_best_first(catalog):
    completed = await suggestions(catalog, "order")

    # "id", "order_date" are column names too: distinct names, counted once each, busiest first.
    assert completed[0] == ("order_date", 3)
    assert {name for name, _ in completed} >= {"orders", "orders_2019", "orders_2020"}
    assert len(completed) == len({name for name, _ in completed})
    assert await suggestions(catalog, "order", kind=DocumentKind.TABLE) == [
        ("orders", 1),
        ("orders_2019", 1),
        ("orders_2020", 1),
        # Then names with a later part that starts so.
        ("CustomerOrders", 1),
        ("customer_orders", 1),
        ("ab_customer_orders", 1),
        ("d_ab_customer_orders", 1),
        ("d_ab_customer_orders_v2", 1),
        ("d_ab_customer_orders_2019", 1),
        ("d_ab_customer_orders_archive", 1),
    ]


async def test_suggest_puts_the_name_typed_in_full_first_and_ignores_separators(catalog):
    assert (await suggestions(catalog, "Customer Orders", kind=DocumentKind.TABLE))[:2] == [
        ("CustomerOrders", 1),
        ("customer_orders", 1),
    ]
    assert (await suggestions(catalog, "salesreg"))[0] == ("SalesRegion", 1)
    assert await suggestions(catalog, "region", kind=DocumentKind.COLUMN) == [("regionName", 1)]
    assert await suggestions(catalog, "order", limit=2) == [("order_date", 3), ("orders", 1)]
    assert await suggestions(catalog, "zzz") == []
    assert await catalog.suggest(SuggestQuery("order", ())) == []


# --- the Python explanation agrees with the engine ------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["customer_orders", "custmer ordrs", "license", "region", "email", "id", "cust 2019", "ab"],
)
async def test_explained_scores_equal_the_engine_scores(catalog, text):
    plan = match_plan(text)
    hits = await search(catalog, text)

    assert hits
    assert [explain(hit.document, plan).score for hit in hits] == [hit.score for hit in hits]


# --- one search box: kind=any, as people type -----------------------------------------------

ONE_BOX_DB = "db-one-box"
ONE_BOX_SCOPE = generation_scope(ONE_BOX_DB, 1)
# Plan order: schema, then name.
ONE_BOX_TABLES = [
    _table("billing", "amount_foreign", "amount", kind=TableType.FOREIGN_TABLE),
    _table("billing", "amount_matview", "amount", kind=TableType.MATERIALIZED_VIEW),
    _table("billing", "amount_view", "amount", kind=TableType.VIEW),
    _table("billing", "amounts", "amount"),
    _table("billing", "box", "id", "label"),
    _table("billing", "companies", "id", "name"),
    replace(
        _table("billing", "event", "event_id", "kind", kind=TableType.PARTITIONED_TABLE),
        partitions=2,
    ),
    replace(_table("billing", "event_2024_01", "event_id", "kind"), partition_of="billing.event"),
    replace(_table("billing", "event_2024_02", "event_id", "kind"), partition_of="billing.event"),
    _table("billing", "credit_note", "id", "invoice"),
    _table("billing", "history", "id", "changed_at"),
    _table("billing", "invoice", "id", "notes", "total"),
    _table("billing", "invoice_archive", "id", "invoice"),
    _table("billing", "order", "id", "amount"),
    _table("billing", "order_items", "id", "order", "amount"),
    _table("billing", "order_line", "id", "order_qty", "unit_amt"),
    _table("billing", "payment", "id", "invoice", "amount"),
    _table("billing", "refund", "id", "invoice"),
]


@pytest.fixture
async def one_box(search_index: SearchIndex) -> SearchIndex:
    await crawl(search_index, ONE_BOX_DB, 1, ONE_BOX_TABLES)
    return search_index


async def one_box_labels(
    index: SearchIndex, text: str, kind: DocumentKind | None = None
) -> list[str]:
    return [label(hit) for hit in await search(index, text, kind, scopes=(ONE_BOX_SCOPE,))]


async def test_a_table_named_as_typed_comes_before_the_columns_that_repeat_its_name(one_box):
    found_labels = await one_box_labels(one_box, "invoice")
    # The table and the columns named `invoice` match alike; the table breaks the tie.
    assert found_labels[0] == "invoice"
    assert set(found_labels[1:5]) == {
        "credit_note.invoice", "invoice_archive.invoice", "payment.invoice", "refund.invoice",
    }  # fmt: skip


async def test_plurals_and_singulars_find_each_other_just_below_the_exact_name(one_box):
    assert (await one_box_labels(one_box, "orders"))[0] == "order"
    assert (await one_box_labels(one_box, "company"))[0] == "companies"
    assert (await one_box_labels(one_box, "boxes"))[0] == "box"
    assert (await one_box_labels(one_box, "histories"))[0] == "history"
    assert (await one_box_labels(one_box, "order item"))[0] == "order_items"
    # The name as typed before its other number.
    assert (await one_box_labels(one_box, "amounts", DocumentKind.TABLE))[0] == "amounts"
    order = await one_box_labels(one_box, "order")
    assert order[:2] == ["order", "order_items.order"]  # exact names; the table breaks the tie
    assert order.index("order_items") > 1


async def test_ties_break_by_table_type_the_same_everywhere(one_box):
    columns = await one_box_labels(one_box, "amount", DocumentKind.COLUMN)
    # Equal matches: the base tables' columns (in plan order), then the view's, the
    # materialized view's, and the foreign table's.
    assert columns == [
        "amounts.amount", "order.amount", "order_items.amount", "payment.amount",
        "amount_view.amount", "amount_matview.amount", "amount_foreign.amount",
        "order_line.unit_amt",  # an abbreviation: below every exact name
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "name", "why"),
    [
        ("invoice", "invoice", Reason.EXACT),
        ("Invoice Archive", "invoice_archive", Reason.EXACT),
        ("invoices", "invoice", Reason.INFLECTION),
        ("order item", "order_items", Reason.INFLECTION),
        ("archive", "invoice_archive", Reason.PART),
        ("invoice arch", "invoice_archive", Reason.PREFIX),
        ("voice", "invoice", Reason.SUBSTRING),
        ("invoise", "invoice", Reason.TYPO),
        ("invoice archiv", "invoice_archive", Reason.PREFIX),
        ("order lines", "order_line", Reason.INFLECTION),
        ("order quantity", "order_line", Reason.PART),  # the weakest: order; quantity by order_qty
    ],
)
async def test_each_hit_says_why_it_matched(one_box, text, name, why):
    hits = await search(one_box, text, DocumentKind.TABLE, scopes=(ONE_BOX_SCOPE,))
    hit = next(hit for hit in hits if hit.document.table == name)
    assert explain(hit.document, match_plan(text, DocumentKind.TABLE)).match is why


async def test_abbreviations_are_looked_up_both_ways(one_box):
    assert (await one_box_labels(one_box, "order quantity"))[0] == "order_line.order_qty"
    assert (await one_box_labels(one_box, "unit amount"))[0] == "order_line.unit_amt"
    assert (await one_box_labels(one_box, "qty"))[0] == "order_line.order_qty"
    [hit] = await search(one_box, "order quantity", DocumentKind.COLUMN, scopes=(ONE_BOX_SCOPE,))
    why = explain(hit.document, match_plan("order quantity", DocumentKind.COLUMN))
    assert why.match is Reason.ABBREVIATION
    assert why.highlight == "<em>order_qty</em>"


async def test_an_operators_abbreviations_are_looked_up_too(one_box):
    assert await one_box_labels(one_box, "evt kind") == []
    mine = BUILTIN.extended([("evt", "event")])
    query = SearchQuery("evt kind", (ONE_BOX_SCOPE,), limit=10, abbreviations=mine)
    assert [label(hit) for hit in await found(one_box, query)][:1] == ["event.kind"]


async def test_partitions_fold_into_their_partitioned_table(one_box):
    for text in ("event", "events", "event id", "kind"):
        found_labels = await one_box_labels(one_box, text)
        assert not [x for x in found_labels if x.startswith("event_2024")], text
    assert (await one_box_labels(one_box, "event"))[0] == "event"
    assert (await one_box_labels(one_box, "event id"))[0] == "event.event_id"
    # Asked for by type, partitions are found, columns and all.
    partitions = await search(
        one_box, "event", DocumentKind.TABLE, scopes=(ONE_BOX_SCOPE,), table_types=("partition",)
    )
    assert [label(hit) for hit in partitions] == ["event_2024_01", "event_2024_02"]
    assert {hit.document.table_type for hit in partitions} == {"partition"}
    # The table itself says how many it has.
    [event] = await search(one_box, "event", DocumentKind.TABLE, scopes=(ONE_BOX_SCOPE,))
    assert event.document.payload["partitions"] == 2


async def test_words_may_name_a_table_and_its_column_in_any_order(one_box):
    assert (await one_box_labels(one_box, "invoice notes"))[0] == "invoice.notes"
    assert (await one_box_labels(one_box, "notes invoice"))[0] == "invoice.notes"
    assert (await one_box_labels(one_box, "refund invoice"))[0] == "refund.invoice"
    assert (await one_box_labels(one_box, "payments amount"))[0] == "payment.amount"
    # One word alone never finds a column by its table's name.
    assert "invoice.total" not in await one_box_labels(one_box, "invoice")
    # Nor do two words that both only name the table.
    assert "invoice_archive.id" not in await one_box_labels(one_box, "invoice archive")
