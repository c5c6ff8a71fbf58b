"""Run the relevance suite (tests/relevance) and print each query's rank and the totals.

    python -m bench.relevance                      # tantivy, in a temporary directory
    python -m bench.relevance --opensearch-url http://127.0.0.1:9200
    python -m bench.relevance --suite any          # the one search box's (kind=any) section

The same queries, catalog and measure gate both adapters in tests/integration/test_relevance.py.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import uuid
from pathlib import Path

from bench.harness import script_parser
from catalog.adapters.opensearch_index import OpenSearchIndex
from catalog.adapters.tantivy_index import TantivyIndex
from catalog.search import SearchIndex
from tests.relevance.any_catalog import ANY_SCOPES, load_any_catalog
from tests.relevance.any_queries import ANY_QUERIES
from tests.relevance.catalog import load_relevance_catalog
from tests.relevance.measure import RelevanceReport, run_queries


async def report(index: SearchIndex, suite: str) -> tuple[int, RelevanceReport]:
    """The suite's catalog loaded into `index`, its queries run: (documents, their report)."""
    await index.open()
    try:
        if suite == "any":
            documents = await load_any_catalog(index)
            return len(documents), await run_queries(index, ANY_QUERIES, ANY_SCOPES)
        documents = await load_relevance_catalog(index)
        return len(documents), await run_queries(index)
    finally:
        await index.close()


async def measure(index: SearchIndex, suite: str) -> str:
    documents, found = await report(index, suite)
    return f"{documents} documents\n{found.table()}"


def main(argv: list[str] | None = None) -> int:
    parser = script_parser("bench.relevance", __doc__)
    parser.add_argument("--opensearch-url", help="measure the OpenSearch adapter there instead")
    parser.add_argument(
        "--suite",
        choices=("kinds", "any"),
        default="kinds",
        help="kinds: the table and column searches' suite; any: the one search box's",
    )
    args = parser.parse_args(argv)
    if args.opensearch_url:
        # A fresh index of its own, left behind for inspection.
        name = f"catalog-relevance-{uuid.uuid4().hex[:8]}"
        print(asyncio.run(measure(OpenSearchIndex(args.opensearch_url, name), args.suite)))
        return 0
    with tempfile.TemporaryDirectory() as directory:
        print(asyncio.run(measure(TantivyIndex(Path(directory) / "index"), args.suite)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
