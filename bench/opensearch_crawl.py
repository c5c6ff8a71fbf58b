"""Index a crawl's documents into a real OpenSearch node through OpenSearchIndex, as the crawl
does, to tune the bulk chunk size and the requests in flight.

    python -m bench.opensearch_crawl                                  # 10,000 tables x 10 columns
    python -m bench.opensearch_crawl --chunk-size 250,500,1000 --concurrency 1,2,4
    python -m bench.opensearch_crawl --opensearch-url http://127.0.0.1:9200  # a node of yours

Generates the catalog in Python (bench.search_latency.generate: one document per table and per
column, no PostgreSQL). Without --opensearch-url it starts the tests' OpenSearch node (built by
`make test` or `make opensearch`) in a temporary folder. Then, for each pair of `--chunk-size`
and `--concurrency` values, it writes every document into a fresh index the way a crawl's
batches do: crawl_started, one OpenSearchIndex.upsert per batch of `--batch-tables` tables (500
tables of 10 columns = 5,500 documents a call, CATALOG_BATCH_SIZE's default), crawl_ended. It
checks the index then holds exactly one document per table and column, and prints a Markdown
section for docs/benchmarks.md: time, documents per second, bulk requests, retries, and the
node's heap and peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from importlib.metadata import version

from opensearchpy import AsyncOpenSearch

from bench.harness import add_shape_args, peak_rss_mb, script_parser
from bench.search_latency import generate, memory_gib
from catalog.adapters.opensearch_index import BulkOptions, OpenSearchIndex
from catalog.documents import Document
from tests.engines.opensearch_node import running_opensearch
from tests.engines.process import new_run_folder


@dataclass
class Run:
    chunk_size: int
    concurrency: int
    seconds: float
    client_cpu: float  # this process's CPU seconds: building and serializing the requests
    documents: int
    requests: int
    retries: int
    calls: int
    heap_used_mb: float  # the node's JVM heap in use just after the run
    peak_rss_mb: float  # the node's peak resident memory so far


@dataclass(frozen=True)
class Node:
    url: str
    version: str
    pid: int
    heap_max_mb: float


async def node_facts(url: str) -> Node:
    async with AsyncOpenSearch(hosts=[url]) as client:
        info = await client.info()
        nodes = (await client.nodes.info(metric="process,jvm"))["nodes"]
    (node,) = nodes.values()
    heap_max = node["jvm"]["mem"]["heap_max_in_bytes"] / 2**20
    return Node(url, info["version"]["number"], node["process"]["id"], heap_max)


async def heap_used_mb(client: AsyncOpenSearch) -> float:
    (node,) = (await client.nodes.stats(metric="jvm"))["nodes"].values()
    return node["jvm"]["mem"]["heap_used_in_bytes"] / 2**20


async def crawl(node: Node, documents: list[Document], per_call: int, options: BulkOptions) -> Run:
    name = f"bench-crawl-{uuid.uuid4().hex[:8]}"
    index = OpenSearchIndex(node.url, name, options)
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
            options.chunk_size,
            options.concurrency,
            seconds,
            cpu,
            counted,
            stats.requests,
            stats.retries,
            calls,
            await heap_used_mb(client),
            peak_rss_mb(node.pid),
        )
        await client.indices.delete(index=name)  # each run starts from an empty node
        return run
    finally:
        await index.close()


async def run(args: argparse.Namespace) -> str:
    started = time.perf_counter()
    documents = generate(args.tables, args.columns, args.schemas, args.seed)
    generated = time.perf_counter() - started
    per_call = args.batch_tables * (args.columns + 1)  # each table and its columns
    load_before = os.getloadavg()
    with contextlib.ExitStack() as stack:
        url = args.opensearch_url or stack.enter_context(running_opensearch(new_run_folder()))
        node = await node_facts(url)
        runs = []
        for _ in range(args.repeat):
            for chunk_size in args.chunk_size:
                for concurrency in args.concurrency:
                    options = BulkOptions(
                        chunk_size=chunk_size,
                        max_chunk_bytes=args.chunk_bytes,
                        concurrency=concurrency,
                    )
                    runs.append(await crawl(node, documents, per_call, options))
                    print(
                        f"chunk {chunk_size}, concurrency {concurrency}: {runs[-1].seconds:.1f} s",
                        file=sys.stderr,
                    )
    return report(args, node, documents, per_call, generated, runs, load_before, os.getloadavg())


def report(
    args: argparse.Namespace,
    node: Node,
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
        f"opensearch-py {version('opensearch-py')}, OpenSearch {node.version} (one node, "
        f"heap {node.heap_max_mb:,.0f} MB); load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after.",
        "",
        f"{len(documents):,} documents ({args.tables:,} tables x {args.columns} columns) "
        f"generated in {generated:.1f} s, written {per_call:,} a call "
        f"(`--batch-tables {args.batch_tables}`) in chunks of at most "
        f"{args.chunk_bytes / 2**20:.0f} MiB; every run ends with exactly "
        f"{len(documents):,} documents in the index and its refresh interval put back. "
        f"Medians of {args.repeat} runs each.",
        "",
        "| chunk size | concurrency | seconds | documents/s | client CPU s | bulk requests "
        "| retries | node heap used after | node peak RSS so far |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    settings = sorted({(r.chunk_size, r.concurrency) for r in runs})
    medians = {}
    for chunk_size, concurrency in settings:
        alike = [r for r in runs if (r.chunk_size, r.concurrency) == (chunk_size, concurrency)]
        seconds = statistics.median(r.seconds for r in alike)
        medians[chunk_size, concurrency] = seconds
        last = alike[-1]
        lines.append(
            f"| {chunk_size} | {concurrency} | {seconds:.1f} | {last.documents / seconds:,.0f} "
            f"| {statistics.median(r.client_cpu for r in alike):.1f} | {last.requests} "
            f"| {max(r.retries for r in alike)} | {last.heap_used_mb:,.0f} MB "
            f"| {max(r.peak_rss_mb for r in alike):,.0f} MB |"
        )
    default = (BulkOptions().chunk_size, BulkOptions().concurrency)
    if default in medians and len(medians) > 1:
        best = min(medians, key=medians.__getitem__)
        lines += [
            "",
            f"Fastest: chunk {best[0]}, concurrency {best[1]}, at "
            f"{medians[default] / medians[best]:.2f}x the documents per second of the default "
            f"(chunk {default[0]}, concurrency {default[1]}).",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = script_parser("bench.opensearch_crawl", __doc__)
    add_shape_args(parser, 10_000)
    parser.add_argument("--batch-tables", type=int, default=500, help="tables per upsert call")
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[BulkOptions().concurrency],
        help="bulk requests in flight; several, comma-separated, for a run each",
    )
    parser.add_argument(
        "--chunk-size",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[BulkOptions().chunk_size],
        help="documents per bulk request; several, comma-separated, for a run each",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each setting")
    parser.add_argument("--opensearch-url", help="a running node to use instead of our own")
    parser.add_argument("--chunk-bytes", type=int, default=BulkOptions().max_chunk_bytes)
    args = parser.parse_args(argv)
    print(asyncio.run(run(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
