"""Search and suggest latency against the embedded tantivy index at the scale that defines "fast".

    python -m bench.search_latency                  # 100,000 tables x 10 columns: 1.1M documents
    python -m bench.search_latency --tables 10000   # a quick look

Generates the catalog in Python (the table names of bench.build_catalog, one document per table
and per column through catalog.documents.documents_for_table; no PostgreSQL), indexes it into a
TantivyIndex in a temporary directory, then times the adapter's search() the way GET /v1/search
calls it (facets on, one hit more than the page) and suggest() for keystroke prefixes, and the
substring match both ways: a prefix query over the indexed inner suffixes (what search does)
against a leading-wildcard regex over the name terms (what it avoids). Prints a Markdown section
for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from random import Random

import tantivy

from bench import render
from bench.build_catalog import COLUMNS, SchemaPlan, schema_names, split_tables
from bench.harness import add_shape_args, script_parser
from catalog.adapters.tantivy_index import TantivyIndex
from catalog.documents import Document, DocumentKind, documents_for_table, generation_scope
from catalog.models import Column, Table, TableType
from catalog.search import SearchQuery, SuggestQuery

DATABASE = "db_bench"
SCOPES = (f"{DATABASE}:1",)
BATCH_DOCUMENTS = 50_000

# (label, text, kind): what people type, in the vocabulary of bench.build_catalog.
SEARCHES = [
    ("exact table name", "customer_address_history", DocumentKind.TABLE),
    ("exact column name", "tenant_id", DocumentKind.COLUMN),
    ("parts", "invoice line", None),
    ("digits", "payment 2019", DocumentKind.TABLE),
    ("prefix", "subscr", None),
    ("one-letter prefix", "c", None),
    ("one typo per part", "custmer_adress_history", DocumentKind.TABLE),
    ("two typos in a word", "warehuse_invntory", DocumentKind.TABLE),
    ("substring", "voice", None),
    ("column through tables", "correlation", DocumentKind.TABLE),
    ("common word, any kind", "id", None),
]
SUGGESTS = ["c", "cu", "cus", "cust", "custo", "customer_", "customer_ad", "inv", "tenant"]


def generate(tables: int, columns: int, schemas: int, seed: int) -> list[Document]:
    documents: list[Document] = []
    ordinal = 0
    for schema, size in zip(schema_names(schemas), split_tables(tables, schemas), strict=True):
        rng = Random(f"{seed}:{schema}")
        plan = SchemaPlan(schema, rng, columns)
        for _ in range(size):
            picked = rng.sample(COLUMNS, columns - 1)
            table = Table(
                schema=schema,
                name=plan.table_name(),
                type=TableType.TABLE,
                columns=tuple(
                    Column(name=name, position=i + 1, data_type=kind, nullable=i > 0)
                    for i, (name, kind) in enumerate([("id", "bigint"), *picked])
                ),
            )
            documents += documents_for_table(DATABASE, 1, ordinal, table, tenant_id="bench")
            ordinal += 1
    return documents


async def timed(call: Callable[[], Awaitable[object]], runs: int) -> list[float]:
    await call()  # warm caches, as a serving process would be
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def directory_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def substring_both_ways(path: Path, runs: int) -> list[tuple[str, float, float, int]]:
    """The same substring ("voice") found through the indexed suffixes and by a regex scan."""
    index = tantivy.Index.open(str(path))
    index.reload()
    searcher = index.searcher()
    schema = index.schema
    ways = [
        (
            "prefix over inner suffixes",
            tantivy.Query.fuzzy_term_query(schema, "name_substrings", "voice", 0, prefix=True),
        ),
        ("leading-wildcard regex", tantivy.Query.regex_query(schema, "name_terms", ".*voice.*")),
    ]
    rows = []
    for label, query in ways:
        count = searcher.search(query, 1).count
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            searcher.search(query, 11)
            samples.append((time.perf_counter() - started) * 1000)
        rows.append((label, *summary(samples), count))
    return rows


async def run(args: argparse.Namespace) -> str:
    started = time.perf_counter()
    documents = generate(args.tables, args.columns, args.schemas, args.seed)
    generated = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "index"
        index = TantivyIndex(path)
        await index.open()
        try:
            started = time.perf_counter()
            for start in range(0, len(documents), BATCH_DOCUMENTS):
                await index.upsert(documents[start : start + BATCH_DOCUMENTS])
            await index.delete_superseded(generation_scope(DATABASE, 1))
            built = time.perf_counter() - started
            size = directory_mb(path)
            search_rows = []
            for label, text, kind in SEARCHES:
                query = SearchQuery(text, SCOPES, kind, limit=11, facets=True)
                samples = await timed(lambda q=query: index.search(q), args.runs)
                hits = (await index.search(query)).facets["kind"]
                search_rows.append(
                    (label, text, kind, *summary(samples), sum(f.count for f in hits))
                )
            suggest_rows = []
            for text in SUGGESTS:
                query = SuggestQuery(text, SCOPES, None, limit=10)
                samples = await timed(lambda q=query: index.suggest(q), args.runs)
                first = [s.name for s in await index.suggest(query)][:3]
                suggest_rows.append((text, *summary(samples), first))
            substring_rows = substring_both_ways(path, args.runs)
        finally:
            await index.close()
    return render.search_latency_lines(
        args, len(documents), generated, built, size, search_rows, suggest_rows, substring_rows
    )


def main(argv: list[str] | None = None) -> int:
    parser = script_parser("bench.search_latency", __doc__)
    add_shape_args(parser, 100_000)
    parser.add_argument("--runs", type=int, default=50, help="timed calls per query")
    args = parser.parse_args(argv)
    print(asyncio.run(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
