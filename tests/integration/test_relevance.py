"""The relevance gate: the suite of tests/relevance must reach MRR@10 0.9 on both adapters.

`python -m bench.relevance` prints the same measure query by query.
"""

from __future__ import annotations

from catalog.search import SearchIndex
from tests.relevance.any_catalog import ANY_SCOPES, load_any_catalog
from tests.relevance.any_queries import ANY_QUERIES
from tests.relevance.catalog import load_relevance_catalog
from tests.relevance.measure import MIN_FIRST_SHARE, MIN_MRR, run_queries
from tests.relevance.queries import QUERIES


def test_the_suite_is_large_and_covers_every_kind_of_query():
    assert len(QUERIES) >= 60
    assert {q.category for q in QUERIES} >= {
        "exact", "parts", "prefix", "typo", "column", "camelCase", "digits", "nothing",
    }  # fmt: skip
    assert len({(q.text, q.kind, q.schemas) for q in QUERIES}) == len(QUERIES)


async def test_relevance_gate(search_index: SearchIndex):
    documents = await load_relevance_catalog(search_index)
    assert 1_000 < len(documents) < 5_000  # realistic, and quick to index

    report = await run_queries(search_index)

    assert report.mrr >= MIN_MRR, report.table()
    assert report.first_share >= MIN_FIRST_SHARE, report.table()
    # Queries that should find nothing find nothing: the gate is not met by returning everything.
    assert all(r.rank == 1 for r in report.results if r.query.expected is None), report.table()


def test_the_one_box_suite_covers_every_rule_with_kind_any():
    assert len(ANY_QUERIES) >= 60
    assert {q.category for q in ANY_QUERIES} >= {
        "exact", "table-first", "plural", "abbreviation", "partition", "table-column",
        "base-over-view", "typo", "prefix", "nothing",
    }  # fmt: skip
    assert all(q.kind is None for q in ANY_QUERIES)


async def test_one_box_relevance_gate(search_index: SearchIndex):
    """kind=any over three schemas the ranking was not tuned on (tests/relevance/any_*.py)."""
    documents = await load_any_catalog(search_index)
    assert 1_000 < len(documents) < 5_000

    report = await run_queries(search_index, ANY_QUERIES, ANY_SCOPES)

    assert report.mrr >= MIN_MRR, report.table()
    assert report.first_share >= MIN_FIRST_SHARE, report.table()
    assert all(r.rank == 1 for r in report.results if r.query.expected is None), report.table()
