"""Browsing a crawled database: paging through all its tables, and the seed's whole-schema route.

    python -m bench.browse --database bench_100k --json browse-100k.json

Starts `catalog up` (embedded PostgreSQL, NATS and tantivy) in a fresh data folder, registers
the target and waits for its crawl (as bench.register_to_complete does), then:

- pages through GET /v1/databases/{id}/tables with the largest page size the API allows (the
  `limit` maximum in /openapi.json, or --page-size), timing each page from request to the last
  byte of its body; reports the median page time of the first 10%, the middle 10% and the last
  10% of the pages, and last / first. Keyset pages keep it near 1; an OFFSET scan would make it
  grow with depth.
- streams GET /{id} (the seed's whole schema) to its end, counting bytes, tables and columns as
  they pass, never holding the body, while a thread samples the RSS of `catalog up`'s gateway
  processes every 50 ms: time to the first byte and to the end, and RSS growth (peak during the
  stream minus RSS right before it) of the gateway that grew most (the one that served).

Build the target with bench.build_catalog first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import psutil

from bench import render
from bench.harness import (
    MB,
    BenchError,
    Target,
    add_catalog_args,
    add_run_args,
    catalog_up,
    fmt,
    git_commit,
    kept_on_failure,
    register,
    runs_module,
    script_parser,
    wait_for_crawl,
)
from bench.records import Browse, Paging, Rss, SeedStream, save

TABLES_PATH = "/v1/databases/{database_id}/tables"
DEFAULT_PAGE_SIZE = 500  # if /openapi.json does not say
RSS_SECONDS = 0.05
CHUNK = 1 << 16
COLUMN_MARK = b'"column_name":'  # once per column in the seed's shape
TABLE_MARK = b'":['  # once per table: "name":[ (names with `":[` in them would count twice)
SHARE = 0.10  # first, middle and last 10% of the pages


# ---- measuring -----------------------------------------------------------------------------


def vm_rss(pid: int) -> int | None:
    """Resident set size of a process in bytes; None once it is gone."""
    try:
        return psutil.Process(pid).memory_info().rss
    except psutil.Error:
        return None


def serving_pids(pid: int) -> list[int]:
    """The processes that answer HTTP under `catalog up` (`pid`): its `python -m gateway`
    children when it supervises several, else `pid` itself."""
    children = psutil.Process(pid).children(recursive=True)
    return [p.pid for p in children if runs_module(p, "gateway")] or [pid]


class RssSampler:
    """Samples the VmRSS of a few processes on a thread of its own (a busy event loop delays
    nothing) and reports the one that grew most: of several gateways, the one that served."""

    def __init__(self, pids: list[int], every: float = RSS_SECONDS) -> None:
        self.pids, self.every = pids, every
        self.before: dict[int, int] = {}
        self.peak: dict[int, int] = {}
        self.after: dict[int, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _sample(self) -> dict[int, int]:
        found = {pid: rss for pid in self.pids if (rss := vm_rss(pid)) is not None}
        if found:
            self.samples += 1
        for pid, rss in found.items():
            self.peak[pid] = max(self.peak.get(pid, 0), rss)
        return found

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def __enter__(self) -> RssSampler:
        self.before = self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.after = self._sample()

    def result(self) -> Rss:
        grown = [(self.peak[p] - self.before[p], p) for p in self.before if p in self.peak]
        if not grown:
            return Rss(None, None, None, None, None, self.samples)
        growth, pid = max(grown)
        return Rss(pid, self.before[pid], self.peak[pid], self.after.get(pid), growth, self.samples)


def buckets(
    times: list[float], share: float = SHARE
) -> tuple[int, list[float], list[float], list[float]]:
    """How many pages each share holds, and the first, middle and last shares of `times`."""
    size = max(1, round(len(times) * share))
    middle = max(0, (len(times) - size) // 2)
    return size, times[:size], times[middle : middle + size], times[-size:]


async def page_size_allowed(http: aiohttp.ClientSession, base: str) -> int:
    """The `limit` maximum /openapi.json documents for the tables route."""
    async with http.get(f"{base}/openapi.json") as response:
        if response.status != 200:
            raise BenchError(f"/openapi.json answered {response.status}")
        document = await response.json()
    operation = document["paths"].get(TABLES_PATH, {}).get("get", {})
    for param in operation.get("parameters", []):
        if param.get("name") == "limit" and "maximum" in param.get("schema", {}):
            return int(param["schema"]["maximum"])
    return DEFAULT_PAGE_SIZE


async def timed_get(http: aiohttp.ClientSession, url: str) -> tuple[bytes, float, int]:
    """The body, seconds from request to its last byte, and 429s waited out before it."""
    throttled = 0
    while True:
        started = time.perf_counter()
        async with http.get(url) as response:
            body = await response.read()
            seconds = time.perf_counter() - started
            status, retry_after = response.status, response.headers.get("Retry-After", "1")
        if status == 200:
            return body, seconds, throttled
        if status != 429:
            raise BenchError(f"GET {url} answered {status}: {body[:300]!r}")
        throttled += 1
        await asyncio.sleep(float(retry_after))


async def page_through(
    http: aiohttp.ClientSession, base: str, database_id: str, page_size: int, pids: list[int]
) -> Paging:
    paging = Paging(page_size)
    url = f"{base}{TABLES_PATH.format(database_id=database_id)}?limit={page_size}"
    cursor: str | None = None
    seen: set[tuple[str, str]] = set()
    with RssSampler(pids) as sampler:
        started = time.perf_counter()
        while True:
            body, seconds, throttled = await timed_get(
                http, url + (f"&cursor={quote(cursor)}" if cursor else "")
            )
            page = json.loads(body)
            paging.page_ms.append(seconds * 1000)
            paging.throttled += throttled
            paging.tables += len(page["items"])
            seen.update((t["schema"], t["name"]) for t in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        paging.seconds = time.perf_counter() - started
    if len(seen) != paging.tables:
        raise BenchError(f"paging returned {paging.tables} tables, {len(seen)} distinct")
    paging.rss = sampler.result()
    paging.pages = len(paging.page_ms)
    paging.bucket, first, middle, last = buckets(paging.page_ms)
    paging.first_ms = statistics.median(first)
    paging.middle_ms = statistics.median(middle)
    paging.last_ms = statistics.median(last)
    paging.last_over_first = paging.last_ms / paging.first_ms
    return paging


async def stream_seed(
    http: aiohttp.ClientSession, base: str, database_id: str, pids: list[int]
) -> SeedStream:
    """Read GET /{id} chunk by chunk, counting marks across chunk edges; nothing is kept."""
    seed = SeedStream()
    keep = max(len(COLUMN_MARK), len(TABLE_MARK)) - 1
    carry = b""
    with RssSampler(pids) as sampler:
        started = time.perf_counter()
        async with http.get(f"{base}/{database_id}") as response:
            if response.status != 200:
                raise BenchError(f"GET /{database_id} answered {response.status}")
            async for chunk in response.content.iter_chunked(CHUNK):
                if not seed.bytes:
                    seed.first_byte_ms = (time.perf_counter() - started) * 1000
                seed.bytes += len(chunk)
                # The carry is shorter than either mark, so no mark is counted twice.
                window = carry + chunk
                seed.columns += window.count(COLUMN_MARK)
                seed.tables += window.count(TABLE_MARK)
                carry = window[-keep:]
        seed.seconds = time.perf_counter() - started
    seed.rss = sampler.result()
    return seed


# ---- running -------------------------------------------------------------------------------


async def crawled_database(
    http: aiohttp.ClientSession, base: str, args: argparse.Namespace, database_id: str | None
) -> tuple[str, dict[str, Any]]:
    """The database to browse (registered here unless given), once its crawl is complete, and
    that crawl's status."""
    if database_id is None:
        target = Target(args.database, args.host, args.port, args.user, args.password)
        database_id = await register(http, base, target, "browse")
        print(f"registered {args.database} as {database_id}; waiting for its crawl", flush=True)
    async with asyncio.timeout(args.timeout):
        crawl = await wait_for_crawl(http, base, database_id, poll=0.25)
    print(
        f"crawl complete: {crawl['tables']:,} tables, {crawl['columns']:,} columns in "
        f"{fmt(crawl['duration_seconds'])} s",
        flush=True,
    )
    return database_id, crawl


async def measure(
    http: aiohttp.ClientSession,
    base: str,
    pid: int,
    args: argparse.Namespace,
    database_id: str | None = None,
) -> Browse:
    """Page through the database's tables and stream GET /{id} from `catalog up` at `base`
    (process `pid`); `database_id` is one crawled there already, else the target is registered."""
    results = Browse(args.database)
    results.setup = {
        "settle_seconds": args.settle,
        "workers": args.workers,
        "batch_size": args.batch_size,
    }
    results.database_id, results.crawl = await crawled_database(http, base, args, database_id)
    if args.settle > 0:  # let the index finish merging what the crawl wrote
        await asyncio.sleep(args.settle)
    page_size = args.page_size or await page_size_allowed(http, base)
    pids = serving_pids(pid)
    results.setup["rss_of"] = {p: " ".join(psutil.Process(p).cmdline()) for p in pids}
    results.paging = await page_through(http, base, results.database_id, page_size, pids)
    print(
        f"paged {results.paging.tables:,} tables in {results.paging.pages} pages of "
        f"{page_size}: {results.paging.seconds:.2f} s",
        flush=True,
    )
    indexed = results.crawl.get("tables", results.paging.tables)
    if results.paging.tables != indexed:
        raise BenchError(f"paging saw {results.paging.tables} tables, the crawl indexed {indexed}")
    results.seed = await stream_seed(http, base, results.database_id, pids)
    print(
        f"streamed GET /{{id}}: {results.seed.bytes / MB:.1f} MB, {results.seed.columns:,} "
        f"columns in {results.seed.seconds:.2f} s",
        flush=True,
    )
    return results


async def run(args: argparse.Namespace) -> Browse:
    # The per-caller rate limit would throttle a walk of hundreds of pages: lift it.
    limits = {"CATALOG_RATE_LIMIT": "1000000", "CATALOG_RATE_BURST": "1000000"}
    with kept_on_failure(args.keep) as folder:
        async with catalog_up(args.workers, args.batch_size, args.ready_timeout, limits) as up:
            folder.path = up.temp
            print(f"catalog up ready in {up.startup:.1f} s", flush=True)
            async with aiohttp.ClientSession(headers=up.headers) as http:
                return await measure(http, up.base, up.proc.pid, args)


# ---- reporting -----------------------------------------------------------------------------


def report(results: Browse) -> None:
    print()
    print(
        f"{results.database} ({results.database_id}) on catalog up (embedded), "
        f"measured {results.measured_at}, commit {results.commit or '?'}"
    )
    print()
    print("\n".join(render.browse_lines(results)))
    watched = results.setup.get("rss_of") or {}
    if watched:
        served = results.seed.rss.pid if results.seed and results.seed.rss else None
        print(
            f"\nRSS: VmRSS every {RSS_SECONDS * 1000:.0f} ms of {len(watched)} process(es) "
            f"({', '.join(f'{p}: {c}' for p, c in watched.items())}); GET /{{id}} reported "
            f"for pid {served}, the one that grew most"
        )
    if results.paging is not None and results.paging.throttled:
        print(f"\n{results.paging.throttled} pages were throttled (429) and retried; untimed")


async def main_async(args: argparse.Namespace) -> int:
    try:
        results = await run(args)
    except (BenchError, TimeoutError, OSError, aiohttp.ClientError) as exc:
        print(f"benchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    results.measured_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results.commit = git_commit()
    report(results)
    if args.json:
        save(results, Path(args.json))
        print(f"wrote {args.json}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = script_parser("bench.browse", __doc__)
    add_catalog_args(parser, "bench_100k")
    parser.add_argument(
        "--page-size", type=int, help="tables per page (default: the largest the API allows)"
    )
    parser.add_argument(
        "--settle", type=float, default=2, help="seconds to wait after the crawl, before paging"
    )
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON here")
    add_run_args(parser)
    args = parser.parse_args(argv)
    if (
        args.workers < 1
        or args.batch_size < 1
        or (args.page_size is not None and args.page_size < 1)
    ):
        parser.error("--workers, --batch-size and --page-size must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
