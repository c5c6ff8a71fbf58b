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
import sys
import time
import uuid

from opensearchpy import AsyncOpenSearch

from bench import render
from bench.harness import add_shape_args, peak_rss_mb, script_parser
from bench.records import BulkRun, OpenSearchNode
from bench.search_latency import generate
from catalog.adapters.opensearch_index import BulkOptions, OpenSearchIndex
from catalog.documents import Document
from tests.engines.opensearch_node import running_opensearch
from tests.engines.process import new_run_folder


async def node_facts(url: str) -> OpenSearchNode:
    async with AsyncOpenSearch(hosts=[url]) as client:
        info = await client.info()
        nodes = (await client.nodes.info(metric="process,jvm"))["nodes"]
    (node,) = nodes.values()
    heap_max = node["jvm"]["mem"]["heap_max_in_bytes"] / 2**20
    return OpenSearchNode(url, info["version"]["number"], node["process"]["id"], heap_max)


async def heap_used_mb(client: AsyncOpenSearch) -> float:
    (node,) = (await client.nodes.stats(metric="jvm"))["nodes"].values()
    return node["jvm"]["mem"]["heap_used_in_bytes"] / 2**20


async def crawl(
    node: OpenSearchNode, documents: list[Document], per_call: int, options: BulkOptions
) -> BulkRun:
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
        run = BulkRun(
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
    return render.opensearch_crawl_lines(
        args, node, documents, per_call, generated, runs, load_before, os.getloadavg()
    )


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
