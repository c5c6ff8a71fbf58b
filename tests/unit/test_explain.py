"""Why a hit matched, in Python: highlights, matched columns, edit distance, suggestions order."""

from __future__ import annotations

import pytest

from catalog.documents import DocumentKind, documents_for_table
from catalog.errors import InvalidInputError
from catalog.explain import edit_distance, explain, highlight
from catalog.models import Column, Table, TableType
from catalog.search import (
    EXACT_NAME_BOOST,
    EXACT_TERM_SCORE,
    MAX_SEARCH_DEPTH,
    SearchPosition,
    SearchQuery,
    Suggestion,
    match_plan,
    merge_suggestions,
)


def _documents(name: str, *columns: str):
    table = Table(
        schema="public",
        name=name,
        type=TableType.TABLE,
        columns=tuple(
            Column(name=c, position=i + 1, data_type="text", nullable=True)
            for i, c in enumerate(columns)
        ),
    )
    return documents_for_table("db", 1, 0, table, tenant_id="tenant")


def _explain(text: str, name: str, *columns: str, kind: DocumentKind | None = None):
    plan = match_plan(text, kind)
    assert plan is not None
    return explain(_documents(name, *columns)[0], plan)


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("region", "SalesRegion", "Sales<em>Region</em>"),
        ("sales region", "SalesRegion", "<em>SalesRegion</em>"),  # adjacent spans merge
        ("cust", "customer_orders", "<em>customer</em>_orders"),  # an abbreviation of it
        ("license", "driverlicense", "driver<em>license</em>"),
        ("custmer", "customer_orders", "<em>customer</em>_orders"),  # a typo marks the part
        ("orders 2019", "orders_2019", "<em>orders_2019</em>"),  # the whole name
        ("salesreg", "SalesRegion", "<em>SalesReg</em>ion"),  # a prefix of the run-together name
        ("größe", "Größe", "<em>Größe</em>"),
        ("a", "a<b>", "<em>a</em>&lt;b&gt;"),  # names are escaped; only <em> is markup
    ],
)
def test_highlights_mark_what_matched(text, name, expected):
    assert _explain(text, name).highlight == expected


def test_a_table_found_through_a_column_lists_it_and_does_not_highlight_its_own_name():
    why = _explain("email", "customers", "id", "email", "email_verified", "phoneNumber")

    assert why.highlight is None
    assert [(c.name, c.highlight) for c in why.matched_columns] == [
        ("email", "<em>email</em>"),
        ("email_verified", "<em>email</em>_verified"),
    ]
    camel = _explain("customers phone", "customers", "phoneNumber")
    assert camel.highlight == "<em>customers</em>"
    assert [c.highlight for c in camel.matched_columns] == ["<em>phone</em>Number"]


def test_explained_score_adds_the_best_clause_of_each_part_and_the_bonuses():
    exact = _explain("orders", "orders")
    assert exact.score > EXACT_NAME_BOOST + EXACT_TERM_SCORE  # plus the run-together bonus
    assert _explain("orders", "customer_orders").score == EXACT_TERM_SCORE


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("custmer", "customer", 1),
        ("cutsomer", "customer", 1),  # a swap of neighbours is one edit
        ("shpmnts", "shipments", 2),
        ("card", "cart", 1),
        ("odrr", "order", 2),
        ("abc", "xyz", 3),  # past the limit: limit + 1
    ],
)
def test_edit_distance(a, b, distance):
    assert edit_distance(a, b, 2) == min(distance, 3)


def test_highlight_merges_overlapping_spans():
    assert highlight("customer", [(0, 4), (2, 6)]) == "<em>custom</em>er"
    assert highlight("x", []) == "x"


def test_no_identifier_parts_no_plan():
    assert match_plan("__ --") is None


@pytest.mark.parametrize("kind", [None, DocumentKind.TABLE, DocumentKind.COLUMN])
def test_plan_groups_list_their_best_clauses_first_as_explain_tries_them(kind):
    plan = match_plan("invoice line qty", kind)
    assert plan is not None
    for group in (*plan.parts, *plan.bonuses):
        scores = [clause.score for clause in group]
        assert scores == sorted(scores, reverse=True)
    assert match_plan("invoice line qty", kind) is plan  # the route asks again: built once


def test_suggestions_merge_tiers_best_first_without_repeats():
    merged = merge_suggestions(
        [
            [("orders", 1)],
            [("order_date", 3), ("orders", 1), ("orders_2019", 1)],
            [("a_orders", 9)],
        ],
        limit=3,
    )
    assert merged == [
        Suggestion("orders", 1),
        Suggestion("order_date", 3),
        Suggestion("orders_2019", 1),
    ]


def test_search_depth_is_bounded():
    position = SearchPosition(1.0, 0, 0, "x", MAX_SEARCH_DEPTH + 1)
    with pytest.raises(InvalidInputError):
        SearchQuery("orders", ("db:1",), after=position)
