"""MRR@10 and first-hit share of the relevance queries, against any search adapter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from catalog.documents import Document
from catalog.search import SearchIndex, SearchQuery
from tests.relevance.catalog import SCOPES
from tests.relevance.queries import QUERIES, RelevanceQuery

TOP = 10
# The relevance gate (tests/integration/test_relevance.py), on every adapter and suite.
MIN_MRR = 0.9
MIN_FIRST_SHARE = 0.9


def result_key(document: Document) -> str:
    key = f"{document.database_id}:{document.schema}.{document.table}"
    return key if document.column is None else f"{key}.{document.column}"


@dataclass(frozen=True)
class QueryResult:
    query: RelevanceQuery
    found: list[str]  # the top results' keys, best first

    @property
    def rank(self) -> int | None:
        """Where the expected result is (1 = first); a query that expects nothing ranks 1 when
        nothing comes back. None when it is not in the top results."""
        if self.query.expected is None:
            return None if self.found else 1
        return (
            self.found.index(self.query.expected) + 1 if self.query.expected in self.found else None
        )

    @property
    def reciprocal_rank(self) -> float:
        return 0.0 if self.rank is None else 1 / self.rank


@dataclass(frozen=True)
class RelevanceReport:
    results: list[QueryResult]

    @property
    def mrr(self) -> float:
        """Mean reciprocal rank over the top results (MRR@10)."""
        return sum(r.reciprocal_rank for r in self.results) / len(self.results)

    @property
    def first_share(self) -> float:
        """Share of queries whose expected result comes first."""
        return sum(1 for r in self.results if r.rank == 1) / len(self.results)

    def table(self) -> str:
        """One line per query, then the totals: for the benchmark script and failing gates."""
        lines = [f"{'rank':>4}  {'category':<10} {'query':<22} expected → first found"]
        for r in self.results:
            rank = "-" if r.rank is None else str(r.rank)
            first = r.found[0] if r.found else "(nothing)"
            lines.append(
                f"{rank:>4}  {r.query.category:<10} {r.query.text!r:<22} "
                f"{r.query.expected or '(nothing)'} → {first}"
            )
        lines.append(
            f"MRR@{TOP} {self.mrr:.3f}, first {self.first_share:.1%} of {len(self.results)} queries"
        )
        return "\n".join(lines)


async def run_queries(
    index: SearchIndex,
    queries: Sequence[RelevanceQuery] = QUERIES,
    scopes: tuple[str, ...] = SCOPES,
) -> RelevanceReport:
    results = []
    for query in queries:
        page = await index.search(
            SearchQuery(query.text, scopes, query.kind, limit=TOP, schemas=query.schemas)
        )
        results.append(QueryResult(query, [result_key(hit.document) for hit in page.hits]))
    return RelevanceReport(results)
