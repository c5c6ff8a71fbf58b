"""The speed issue's table in one run: distinct searches idle and during a full re-crawl, the first
crawl against its floor, the crawler's peak RSS, and the relevance suites.

    python -m bench.speed --database bench_100k --port 5499
    python -m bench.speed --database bench_100k --port 5499 --kind any

1. bench.search_load in one `catalog up`, with distinct queries and no idle re-crawl: registration
   -> complete with the crawler's peak RSS; --repeat idle wrk runs of one-typo table names, none
   sent twice; then --crawl-runs wrk runs during a re-crawl, a full one (the first crawl lists
   no fingerprints), with the crawler's peak RSS. A full re-crawl of 100,000 tables under this
   load takes over ten minutes on 2 cores, so the runs cover its start, not all of it.
2. The floor of that crawl, on the same target right after (bench.extract_floor, a fresh process
   each): the names, types, keys and indexes streamed in bulk, plus the minimal index of those
   names; and beside it the crawler's own queries over the whole catalog, streamed at once.
3. The relevance suites on tantivy (bench.relevance): MRR@10 against the tests' gate.

Prints the table: each figure, its goal, and whether it is met. PostgreSQL targets only (the
MySQL floor is bench.mysql_floor's).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from bench import extract_floor, relevance, render, search_load
from bench.goals import SPEED_FLOOR
from bench.harness import BenchError, add_catalog_args, add_run_args, script_parser
from bench.records import Relevance, SpeedRun
from catalog.adapters.tantivy_index import TantivyIndex

# The speed issue's floor (minimal extract + minimal index), and the crawler's own queries over
# the whole catalog at once beside it: what its SQL costs without batches.
FLOORS = (*SPEED_FLOOR, "floor_extract")


async def relevance_suites() -> list[Relevance]:
    found = []
    for suite in ("kinds", "any"):
        with tempfile.TemporaryDirectory() as directory:
            _, report = await relevance.report(TantivyIndex(Path(directory) / "index"), suite)
        found.append(Relevance(suite, report.mrr, report.first_share, len(report.results)))
    return found


async def measure(args: argparse.Namespace, load: argparse.Namespace) -> SpeedRun:
    run = SpeedRun(args.database, args.kind)
    try:
        run.search = await search_load.measure(load)
    except (BenchError, TimeoutError, OSError) as exc:
        run.errors["search"] = f"{type(exc).__name__}: {exc}"
    target = extract_floor.FloorTarget(args.database, args.host, args.port, args.user)
    # In a thread: it runs an event loop of its own, and blocks on its child processes.
    run.floors = await asyncio.to_thread(
        extract_floor.measure, target, list(FLOORS), 1, args.timeout
    )
    run.relevance = await relevance_suites()
    return run


def search_argv(args: argparse.Namespace) -> list[str]:
    """bench.search_load's options for this run."""
    argv = ["--distinct", "--no-idle-recrawl", "--kind", args.kind, "--seed", str(args.seed)]
    for name in (
        "database",
        "host",
        "port",
        "user",
        "password",
        "queries",
        "duration",
        "crawl_runs",
    ):
        argv += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    argv += ["--repeat", str(args.repeat), "--timeout", str(args.timeout)]
    return argv + (["--keep"] if args.keep else [])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = script_parser("bench.speed", __doc__)
    add_catalog_args(parser, "bench_100k")
    parser.add_argument("--kind", choices=("table", "any"), default="table")
    parser.add_argument("--queries", type=int, default=20_000, help="distinct one-typo names")
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    parser.add_argument("--repeat", type=int, default=2, help="idle wrk runs")
    parser.add_argument("--crawl-runs", type=int, default=2, help="wrk runs during the re-crawl")
    parser.add_argument("--seed", type=int, default=42)
    add_run_args(parser)
    args = parser.parse_args(argv)
    if args.engine != "postgresql" or args.opensearch_url:
        parser.error("bench.speed measures a PostgreSQL target into embedded tantivy")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run = asyncio.run(measure(args, search_load.parse_args(search_argv(args))))
    print("\n".join(render.speed_lines(run)))
    return 1 if run.errors else 0


if __name__ == "__main__":
    sys.exit(main())
