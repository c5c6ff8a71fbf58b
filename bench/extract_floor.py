"""The floors of a crawl, and our extractor and index adapter beside them, for one catalog.

    python -m bench.extract_floor --database bench_10k --repeat 3

Each approach runs --repeat times, every run in a fresh spawned process, so its peak RSS
(getrusage of that process) is its own. The approaches:

1. floor extract: whole-catalog streamed pg_catalog queries with asyncpg (server-side cursors,
   rows only counted): the crawler's own SQL over the whole catalog (whole_catalog_queries).
2. our extractor: PostgresCrawler.list_relations, then read_batch in batches of 500.
3. floor index (tantivy alone): the same documents (documents_for_table over our extractor's
   tables), converted to tantivy JSON by the adapter's own to_tantivy outside the timer;
   timed: a fresh tantivy index and writer (the adapter's heap), add_json for each, one
   commit per 5,500 documents (a crawl batch: 500 tables of 1 + 10 documents), and
   wait_merging_threads. What tantivy itself costs, with nothing of ours around it (since
   045bb5b that includes parsing the JSON and its base64 source, in Rust, as the adapter's
   writes do; earlier figures timed documents built in Python before the timer).
3b. our index adapter: the same documents (built outside the timer) upserted into a fresh
   TantivyIndex 5,500 a call, then close(): the adapter's deletes, commits and reloads included.
4. minimal extract and minimal index: the speed issue's floor. The extract streams every
   column with its table, schema and type, then the keys and indexes, in bulk (MINIMAL_QUERIES).
   The index holds one minimal document per table and per column of our extractor's tables
   (the name, tokenized by tantivy's default tokenizer; schema, table and kind as keywords),
   built and added inside the timer, a commit per 5,500 documents, then wait_merging_threads:
   the least any index of these names costs.

The library alternatives measured once (information_schema fetched whole, SQLAlchemy's
Inspector) were removed after commit 5b758f0; their numbers are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import multiprocessing
import multiprocessing.connection
import pickle
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench import render
from bench.harness import add_target_args, script_parser
from bench.records import FloorRun, FloorSample

EXTRACT_BATCH = 500  # what the indexer reads per batch
# Documents per commit: one crawl batch (500 tables x (1 table + 10 column documents)).
INDEX_BATCH = 5_500
STREAM_PREFETCH = 10_000  # rows per round trip in the floor's cursors
STATEMENT_TIMEOUT = 3_600.0
DATABASE_ID = "bench"
TENANT_ID = "default"


@dataclass(frozen=True)
class FloorTarget:
    """The catalog every approach reads, and what some of them need besides."""

    database: str
    host: str
    port: int
    user: str
    pickle: str = ""  # our extractor's tables, for the indexing approaches


def dsn(params: FloorTarget) -> str:
    return f"postgresql://{params.user}@{params.host}:{params.port}/{params.database}"


def current_rss() -> int:
    return psutil.Process().memory_info().rss


# --- 1. floor extract ---------------------------------------------------------------------


async def _stream(params: FloorTarget, queries: dict[str, str]) -> FloorSample:
    """Each query streamed to its end through a server-side cursor, rows only counted."""
    import asyncpg

    start_rss = current_rss()
    began = time.perf_counter()
    # jit off as the crawler sets it: the same planner, so only the batching differs.
    connection = await asyncpg.connect(dsn(params), server_settings={"jit": "off"})
    counts: dict[str, int] = {}
    parts: dict[str, float] = {}
    try:
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            for name, sql in queries.items():
                part = time.perf_counter()
                counts[name] = 0
                async for _ in connection.cursor(sql, prefetch=STREAM_PREFETCH):
                    counts[name] += 1
                parts[name] = time.perf_counter() - part
    finally:
        await connection.close()
    seconds = time.perf_counter() - began
    return FloorSample(seconds, counts, start_rss, parts)


async def _floor_extract(params: FloorTarget) -> FloorSample:
    from catalog.adapters.postgres_crawler import whole_catalog_queries

    return await _stream(params, whole_catalog_queries())


# The speed issue's floor: every column with its table, schema and type, then the keys and
# indexes, in bulk; what any crawler of these names must read, and nothing it shows besides.
MINIMAL_QUERIES = {
    "columns": """
SELECT n.nspname, c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
""",
    "keys": """
SELECT conrelid, conname, contype, conkey, confrelid, confkey
FROM pg_catalog.pg_constraint WHERE contype IN ('p', 'u', 'f')
""",
    "indexes": """
SELECT i.indrelid, c.relname, i.indisunique, i.indkey::int2[]
FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
""",
}


async def _minimal_extract(params: FloorTarget) -> FloorSample:
    return await _stream(params, MINIMAL_QUERIES)


# --- 2. our extractor -----------------------------------------------------------------------


def _crawler(params: FloorTarget) -> Any:
    from catalog.adapters.postgres_crawler import PostgresCrawler
    from catalog.models import Engine, SslMode, Target

    target = Target(
        engine=Engine.POSTGRESQL,
        host=params.host,
        port=params.port,
        dbname=params.database,
        user=params.user,
        sslmode=SslMode.DISABLE,
    )
    return PostgresCrawler(target, "", connect_timeout=30.0, statement_timeout=STATEMENT_TIMEOUT)


async def extract_tables(params: FloorTarget) -> Any:
    """Our extractor's batches of tables, in plan order (an async iterator of lists)."""
    async with _crawler(params) as crawler:
        oids = [relation.ref async for relation in crawler.list_relations()]
        for start in range(0, len(oids), EXTRACT_BATCH):
            yield await crawler.read_batch(oids[start : start + EXTRACT_BATCH])


async def _extractor(params: FloorTarget) -> FloorSample:
    _crawler(params)  # imports outside the timer
    start_rss = current_rss()
    began = time.perf_counter()
    tables = columns = batches = 0
    async for batch in extract_tables(params):
        batches += 1
        tables += len(batch)
        columns += sum(len(table.columns) for table in batch)
    seconds = time.perf_counter() - began
    counts = {"tables": tables, "columns": columns, "batches": batches}
    return FloorSample(seconds, counts, start_rss)


# --- 3. floor index -------------------------------------------------------------------------


async def write_tables_pickle(params: FloorTarget, path: Path) -> int:
    """Our extractor's tables, one pickle per batch, so the indexing run can stream them."""
    tables = 0
    with path.open("wb") as out:
        async for batch in extract_tables(params):
            pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
            tables += len(batch)
    return tables


def _pickled_batches(path: Path) -> Iterator[list[Any]]:
    with path.open("rb") as source:
        while True:
            try:
                yield pickle.load(source)
            except EOFError:
                return


def _document_batches(path: Path) -> Iterator[list[Any]]:
    """Batches of exactly INDEX_BATCH documents (the last one shorter), built lazily so memory
    stays that of a stream, as in a crawl."""
    from catalog.documents import documents_for_table

    pending: list[Any] = []
    ordinal = 0
    for tables in _pickled_batches(path):
        for table in tables:
            pending += documents_for_table(DATABASE_ID, 1, ordinal, table, tenant_id=TENANT_ID)
            ordinal += 1
        while len(pending) >= INDEX_BATCH:
            yield pending[:INDEX_BATCH]
            pending = pending[INDEX_BATCH:]
    if pending:
        yield pending


def _tantivy_alone(params: FloorTarget) -> FloorSample:
    import tantivy

    from catalog.adapters.tantivy_index import (
        TERMS_ANALYZER,
        TERMS_TOKENIZER,
        WRITER_HEAP_BYTES,
        build_schema,
        to_tantivy,
    )

    schema = build_schema()
    # Converted before the timer, all of them: a conversion between batches would give the
    # writer's background merges untimed time. Only tantivy's own work is timed.
    batches = [
        [to_tantivy(document) for document in batch]
        for batch in _document_batches(Path(params.pickle))
    ]
    temp = Path(tempfile.mkdtemp(prefix="bench-tantivy-alone-"))
    try:
        start_rss = current_rss()
        began = time.perf_counter()
        index = tantivy.Index(schema, path=str(temp))
        index.register_tokenizer(TERMS_TOKENIZER, TERMS_ANALYZER)
        writer = index.writer(heap_size=WRITER_HEAP_BYTES)
        for batch in batches:
            for document in batch:
                writer.add_json(document)
            writer.commit()
        part = time.perf_counter()
        writer.wait_merging_threads()
        merging = time.perf_counter() - part
        seconds = time.perf_counter() - began
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    counts = {"documents": sum(map(len, batches)), "commits": len(batches)}
    return FloorSample(seconds, counts, start_rss, {"wait_merging_threads": merging})


async def _index_adapter(params: FloorTarget) -> FloorSample:
    from catalog.adapters.tantivy_index import TantivyIndex

    temp = Path(tempfile.mkdtemp(prefix="bench-floor-index-"))
    try:
        index = TantivyIndex(temp / "index")
        await index.open()  # creating an empty index is not indexing
        start_rss = current_rss()
        seconds = 0.0
        documents = upserts = 0
        # Building the documents is left out of the timer; only upsert and close are timed.
        for batch in _document_batches(Path(params.pickle)):
            began = time.perf_counter()
            await index.upsert(batch)
            seconds += time.perf_counter() - began
            documents += len(batch)
            upserts += 1
        began = time.perf_counter()
        await index.close()
        closing = time.perf_counter() - began
        seconds += closing
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    counts = {"documents": documents, "upserts": upserts}
    return FloorSample(seconds, counts, start_rss, {"close": closing})


# --- 4. minimal index -------------------------------------------------------------------------


def _minimal_index(params: FloorTarget) -> FloorSample:
    import tantivy

    from catalog.adapters.tantivy_index import WRITER_HEAP_BYTES

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("name")  # tantivy's default tokenizer: words, lower-cased
    for keyword in ("schema", "table", "kind"):
        builder.add_text_field(keyword, tokenizer_name="raw")
    schema = builder.build()
    batches = list(_pickled_batches(Path(params.pickle)))
    temp = Path(tempfile.mkdtemp(prefix="bench-minimal-index-"))
    try:
        start_rss = current_rss()
        began = time.perf_counter()
        index = tantivy.Index(schema, path=str(temp))
        writer = index.writer(heap_size=WRITER_HEAP_BYTES)
        documents = pending = 0
        for tables in batches:
            for table in tables:
                where = {"schema": table.schema, "table": table.name}
                writer.add_document(tantivy.Document(name=table.name, kind="table", **where))
                for column in table.columns:
                    writer.add_document(tantivy.Document(name=column.name, kind="column", **where))
                pending += 1 + len(table.columns)
                if pending >= INDEX_BATCH:
                    writer.commit()
                    documents, pending = documents + pending, 0
        writer.commit()
        writer.wait_merging_threads()
        seconds = time.perf_counter() - began
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return FloorSample(seconds, {"documents": documents + pending}, start_rss)


# --- the runner -----------------------------------------------------------------------------

APPROACHES: dict[str, tuple[str, Callable[[FloorTarget], Any]]] = {
    "floor_extract": ("floor extract (streamed pg_catalog, asyncpg)", _floor_extract),
    "minimal_extract": (
        "minimal extract: names, types, keys, indexes (streamed)",
        _minimal_extract,
    ),
    "extractor": ("our extractor (list_relations + read_batch 500)", _extractor),
    "floor_index": ("floor index: tantivy alone (commit per 5,500)", _tantivy_alone),
    "index_adapter": ("our index adapter (TantivyIndex.upsert 5,500)", _index_adapter),
    "minimal_index": (
        "minimal index: names, schema, table, kind (commit per 5,500)",
        _minimal_index,
    ),
}


def _child(name: str, params: FloorTarget, out: multiprocessing.connection.Connection) -> None:
    """One run of one approach in this fresh process; sends its sample, or why it failed."""
    try:
        result = APPROACHES[name][1](params)
        sample = asyncio.run(result) if asyncio.iscoroutine(result) else result
        # ru_maxrss is in KiB on Linux: this process's peak, imports included.
        sample.peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        out.send(sample)
    except BaseException as exc:
        out.send(f"{type(exc).__name__}: {exc}")
        raise
    finally:
        out.close()


def run_once(name: str, params: FloorTarget, timeout: float) -> FloorSample | str:
    """One run in a fresh spawned process: its sample, or why it has none."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(name, params, send))
    process.start()
    send.close()
    try:
        if not receive.poll(timeout):
            process.kill()  # ours: started just above
            return f"cut after {timeout:.0f} s"
        try:
            return receive.recv()
        except EOFError:
            return "the process died without a result"
    finally:
        process.join(30)
        receive.close()


# The approaches that index our extractor's tables, read back from a pickle made first.
INDEXING = ("floor_index", "index_adapter", "minimal_index")


def measure(
    params: FloorTarget, only: list[str], repeat: int, timeout: float
) -> dict[str, FloorRun]:
    """Each approach of `only`, `repeat` runs each in fresh processes: its row (a failed
    approach has its error, not raised, and the others still run)."""
    temp = Path(tempfile.mkdtemp(prefix="bench-extract-floor-"))
    rows: dict[str, FloorRun] = {}
    try:
        if any(name in INDEXING for name in only):
            params = dataclasses.replace(params, pickle=str(temp / "tables.pickle"))
            try:
                tables = asyncio.run(write_tables_pickle(params, Path(params.pickle)))
                print(f"pickled {tables:,} tables for the indexing runs", flush=True)
            except Exception as exc:
                failed = FloorRun(
                    error=f"extracting the tables to index: {type(exc).__name__}: {exc}"
                )
                rows |= {name: failed for name in only if name in INDEXING}
        for name in only:
            if name in rows:
                continue
            samples: list[FloorSample] = []
            errors: list[str] = []
            for number in range(1, repeat + 1):
                result = run_once(name, params, timeout)
                if isinstance(result, str):
                    errors.append(result)
                    print(f"{name} run {number}: {result}", flush=True)
                    break  # a cut or failed approach is not repeated
                samples.append(result)
                print(f"{name} run {number}: {result.seconds:.2f} s", flush=True)
            rows[name] = FloorRun.of(samples, errors)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return {name: rows[name] for name in only}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = script_parser("bench.extract_floor", __doc__)
    parser.add_argument("--database", required=True)
    add_target_args(parser)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--only", nargs="*", choices=list(APPROACHES), default=list(APPROACHES), help="a subset"
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    params = FloorTarget(args.database, args.host, args.port, args.user)
    wall = time.perf_counter()
    rows = measure(params, args.only, args.repeat, args.timeout)
    labels = {name: label for name, (label, _) in APPROACHES.items()}
    lines = render.floor_lines(args.database, args.repeat, rows, labels)
    print(
        "\n".join(
            [*lines, "", f"whole benchmark (setup included): {time.perf_counter() - wall:.1f} s"]
        )
    )
    return 0 if all(row.error is None for row in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
