"""Index a crawl's documents into osmem-server through OpenSearchIndex, as the crawl does.

    python -m bench.opensearch_crawl                              # 10,000 tables x 10 columns
    python -m bench.opensearch_crawl --tables 1000 --concurrency 4  # a quick look

Generates the catalog in Python (bench.search_latency.generate: one document per table and per
column, no PostgreSQL), starts an osmem-server of its own, then for each `--concurrency` value
writes every document into a fresh index the way a crawl's batches do: crawl_started, one
OpenSearchIndex.upsert per batch of `--batch-tables` tables (500 tables of 10 columns = 5,500
documents a call, CATALOG_BATCH_SIZE's default), crawl_ended. It checks the index then holds
exactly one document per table and column, and prints a Markdown section for
docs/benchmarks.md: time, documents per second, bulk requests, retries, osmem's peak memory.

osmem-server is an in-memory test double, not OpenSearch: the numbers say the adapter works at
this size and what its chunking and concurrency cost or save against one engine on this machine,
not how fast OpenSearch would index.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
import uuid
from dataclasses import dataclass
from importlib.metadata import version

from osmem_server import OsmemServer

from bench.search_latency import generate, memory_gib
from catalog.adapters.opensearch_index import BulkOptions, OpenSearchIndex
from catalog.documents import Document


@dataclass
class Run:
    concurrency: int
    seconds: float
    client_cpu: float  # this process's CPU seconds: building and serializing the requests
    documents: int
    requests: int
    retries: int
    calls: int
    osmem_peak_mb: float


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def crawl(
    url: str, documents: list[Document], per_call: int, options: BulkOptions, pid: int
) -> Run:
    name = f"bench-crawl-{uuid.uuid4().hex[:8]}"
    index = OpenSearchIndex(url, name, options)
    await index.open()
    try:
        started, cpu = time.perf_counter(), time.process_time()
        await index.crawl_started()
        calls = 0
        for start in range(0, len(documents), per_call):
            await index.upsert(documents[start : start + per_call])
            calls += 1
        await index.crawl_ended()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        client = index._client  # a look at the engine, outside the port
        counted = (await client.count(index=name))["count"]
        if counted != len(documents):
            raise SystemExit(f"the index holds {counted} documents, not {len(documents)}")
        interval = await client.indices.get_settings(index=name, flat_settings=True)
        if interval[name]["settings"].get("index.refresh_interval") is not None:
            raise SystemExit("the refresh interval was not put back after the crawl")
        stats = index.bulk_stats
        run = Run(
            options.concurrency,
            seconds,
            cpu,
            counted,
            stats.requests,
            stats.retries,
            calls,
            peak_rss_mb(pid),
        )
        await client.indices.delete(index=name)  # osmem holds everything in memory
        return run
    finally:
        await index.close()


async def run(args: argparse.Namespace) -> str:
    started = time.perf_counter()
    documents = generate(args.tables, args.columns, args.schemas, args.seed)
    generated = time.perf_counter() - started
    per_call = args.batch_tables * (args.columns + 1)  # each table and its columns
    load_before = os.getloadavg()
    server = OsmemServer.start(japanese=False, freeze=False)
    runs = []
    try:
        for concurrency in args.concurrency:
            options = BulkOptions(
                chunk_size=args.chunk_size,
                max_chunk_bytes=args.chunk_bytes,
                concurrency=concurrency,
            )
            runs.append(await crawl(server.url, documents, per_call, options, server.pid))
            print(f"concurrency {concurrency}: {runs[-1].seconds:.1f} s", file=sys.stderr)
    finally:
        server.close()
        if server.process.stdout is not None:
            server.process.stdout.close()
    return report(args, documents, per_call, generated, runs, load_before, os.getloadavg())


def report(
    args: argparse.Namespace,
    documents: list[Document],
    per_call: int,
    generated: float,
    runs: list[Run],
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> str:
    argv = " ".join(sys.argv[1:])
    lines = [
        f"`python -m bench.opensearch_crawl {argv}`: {os.cpu_count()} cores, "
        f"{memory_gib():.0f} GiB, Python {platform.python_version()}, "
        f"opensearch-py {version('opensearch-py')}, osmem-server {version('osmem-server')}; "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after.",
        "",
        f"{len(documents):,} documents ({args.tables:,} tables x {args.columns} columns) "
        f"generated in {generated:.1f} s, written {per_call:,} a call "
        f"(`--batch-tables {args.batch_tables}`) in chunks of at most {args.chunk_size} "
        f"documents and {args.chunk_bytes / 2**20:.0f} MiB; every run ends with exactly "
        f"{len(documents):,} documents in the index and its refresh interval put back.",
        "",
        "| concurrency | seconds | documents/s | client CPU s | upsert calls | bulk requests "
        "| retries | osmem peak RSS so far |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r.concurrency} | {r.seconds:.1f} | {r.documents / r.seconds:,.0f} "
            f"| {r.client_cpu:.1f} | {r.calls} | {r.requests} | {r.retries} "
            f"| {r.osmem_peak_mb:,.0f} MB |"
        )
    if len(runs) > 1:
        base = runs[0]
        for r in runs[1:]:
            lines.append("")
            lines.append(
                f"Concurrency {r.concurrency} against {base.concurrency}: "
                f"{base.seconds / r.seconds:.2f}x the documents per second."
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.opensearch_crawl", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--tables", type=int, default=10_000)
    parser.add_argument("--columns", type=int, default=10, help="columns per table, id included")
    parser.add_argument("--schemas", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--batch-tables", type=int, default=500, help="tables per upsert call")
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[BulkOptions().concurrency],
        help="bulk requests in flight; several, comma-separated, for a run each",
    )
    parser.add_argument("--chunk-size", type=int, default=BulkOptions().chunk_size)
    parser.add_argument("--chunk-bytes", type=int, default=BulkOptions().max_chunk_bytes)
    args = parser.parse_args(argv)
    print(asyncio.run(run(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
