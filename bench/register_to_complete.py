"""Time from registering a database to its crawl being complete, with `catalog up` embedded.

    python -m bench.register_to_complete --database bench_1k --repeat 3

Starts `catalog up` (embedded PostgreSQL, NATS and tantivy, or --opensearch-url's OpenSearch) in
a fresh data folder, registers the target database --repeat times (each registration is a new
database entry, so a new full crawl), and polls its status every 50 ms. Build the target with
bench.build_catalog first. With --profile DIR, one more run under py-spy (--profile-all-threads
to sample every busy thread, not only the one holding the GIL), and its summary.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.harness import (
    MB,
    BenchError,
    Peaks,
    Target,
    add_catalog_args,
    add_profile_args,
    add_run_args,
    batch_seconds,
    batches_per_worker,
    catalog_up,
    fmt,
    leave,
    opensearch_memory,
    profile_catalog,
    py_spy,
    register,
    report_profiles,
    sampling_memory,
    script_parser,
    search_env,
    seconds_between,
    wait_for_crawl,
)
from bench.records import CrawlRun


@dataclass
class Measured:
    """What one `catalog up` measured: the runs done (all of them unless `error`)."""

    runs: list[CrawlRun] = field(default_factory=list)
    startup: float = 0.0
    overall: Peaks = field(default_factory=Peaks)
    error: str | None = None
    log: Path | None = None
    temp: Path | None = None  # the catalog's folder, for the caller to keep or remove


def target_of(args: argparse.Namespace) -> Target:
    return Target(args.database, args.host, args.port, args.user, args.password, args.engine)


async def one_run(
    http: aiohttp.ClientSession, base: str, args: argparse.Namespace, number: int
) -> tuple[CrawlRun, str, str]:
    """Register the target anew and wait for its crawl: the run, the crawl id, the database id."""
    started = time.perf_counter()
    database_id = await register(http, base, target_of(args), f"bench-{number}")
    async with asyncio.timeout(args.timeout):
        crawl = await wait_for_crawl(http, base, database_id)
    wall = time.perf_counter() - started
    queued = None
    if crawl["started_at"]:
        queued = seconds_between(crawl["requested_at"], crawl["started_at"])
    run = CrawlRun(
        wall=wall,
        duration=crawl["duration_seconds"],
        queued=queued,
        tables=crawl["tables"],
        columns=crawl["columns"],
        batches=crawl["batches_total"],
    )
    return run, crawl["id"], database_id


async def profiled_run(
    http: aiohttp.ClientSession, base: str, pid: int, args: argparse.Namespace
) -> None:
    """One more run under py-spy (not in the medians); its summary printed and kept in
    --profile's folder."""
    out = Path(args.profile)
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    raw = out / "crawl.txt"
    async with profile_catalog(pid, raw, args.profile_rate, args.profile_gil):
        run, _, _ = await one_run(http, base, args, args.repeat + 1)
    report_profiles(out, (raw,), args.profile_top, (f"profiled run: {run.wall:.2f} s",))


def report(runs: list[CrawlRun], args: argparse.Namespace, startup: float, overall: Peaks) -> None:
    print()
    search = f"OpenSearch at {args.opensearch_url}" if args.opensearch_url else "tantivy"
    print(
        f"database {args.database}, indexed into {search}: {len(runs)} runs, "
        f"workers {args.workers}, batch size {args.batch_size}; "
        f"catalog up ready in {startup:.2f} s"
    )
    header = (
        f"{'run':>6} {'wall s':>8} {'crawl s':>8} {'queue+plan s':>12} {'tables':>8} "
        f"{'columns':>9} {'batches':>7} {'batch s mean':>12} {'crawler MB':>10} {'engines MB':>10}"
    )
    print(header)
    print("-" * len(header))
    for i, run in enumerate(runs, 1):
        mean = statistics.fmean(run.batch_seconds) if run.batch_seconds else None
        print(
            f"{i:>6} {run.wall:>8.2f} {fmt(run.duration):>8} {fmt(run.queued):>12} "
            f"{run.tables:>8} {run.columns:>9} {fmt(run.batches, 'd'):>7} {fmt(mean):>12} "
            f"{run.peak_catalog / MB:>10.0f} {run.peak_embedded / MB:>10.0f}"
        )
    durations = [r.duration for r in runs if r.duration is not None]
    print(
        f"{'median':>6} {statistics.median(r.wall for r in runs):>8.2f} "
        f"{fmt(statistics.median(durations) if durations else None):>8}"
    )
    print(
        f"peak RSS over all runs: crawler (the indexer process of catalog up) "
        f"{overall.catalog / MB:.0f} MB; gateways, summed {overall.gateways / MB:.0f} MB; "
        f"embedded PostgreSQL + NATS, summed {overall.embedded / MB:.0f} MB "
        "(the sum counts shared buffers once per backend)"
    )


async def measure(args: argparse.Namespace) -> Measured:
    """Start `catalog up`, crawl the target --repeat times; a failure ends it with `error` set
    (the runs done so far kept). Its folder is left in `temp` for the caller."""
    run_peaks = Peaks()
    measured = Measured()
    try:
        if args.profile:
            py_spy()  # before the runs: a missing py-spy must not cost them
        env = search_env(args)
        async with catalog_up(args.workers, args.batch_size, args.ready_timeout, env) as up:
            measured.startup, measured.log, measured.temp = up.startup, up.log, up.temp
            async with (
                sampling_memory(up.proc.pid, up.data_dir, run_peaks, measured.overall),
                aiohttp.ClientSession(headers=up.headers) as http,
            ):
                for number in range(1, args.repeat + 1):
                    run_peaks.reset()
                    run, crawl_id, _ = await one_run(http, up.base, args, number)
                    run.peak_catalog = run_peaks.catalog
                    run.peak_embedded = run_peaks.embedded
                    run.peak_gateways = run_peaks.gateways
                    run.batch_seconds = batch_seconds(up.log, crawl_id)
                    run.workers = await batches_per_worker(up.log, crawl_id, run.batches)
                    measured.runs.append(run)
                    print(
                        f"run {number}: {run.wall:.2f} s, {run.tables} tables, "
                        f"{run.columns} columns, crawler peak RSS "
                        f"{run.peak_catalog / MB:.0f} MB",
                        flush=True,
                    )
                if args.profile:
                    await profiled_run(http, up.base, up.proc.pid, args)
    except (BenchError, TimeoutError, OSError, aiohttp.ClientError) as exc:
        measured.error = f"{type(exc).__name__}: {exc}"
    return measured


async def main_async(args: argparse.Namespace) -> int:
    measured = await measure(args)
    if measured.error:
        print(f"benchmark failed: {measured.error}", file=sys.stderr)
    if measured.runs:
        report(measured.runs, args, measured.startup, measured.overall)
        if args.opensearch_url:
            print(await opensearch_memory(args.opensearch_url))
    if measured.temp is None:
        return 1
    leave(measured.temp, failed=measured.error is not None, keep=args.keep)
    return 1 if measured.error else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = script_parser("bench.register_to_complete", __doc__)
    add_catalog_args(parser, "bench_1k")
    parser.add_argument("--repeat", type=int, default=3)
    add_profile_args(parser, "one more crawl")
    add_run_args(parser)
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.workers < 1 or args.batch_size < 1:
        parser.error("--repeat, --workers and --batch-size must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
