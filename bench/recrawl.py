"""Re-crawls that read only what changed: request → `complete` for a re-crawl with nothing
changed, and with N tables altered, N added and N dropped, against the fingerprint pass alone,
measured in the same run, with the crawler's peak RSS.

    python -m bench.recrawl --database bench_100k --port 5499 --changes 100 --repeat 3
    python -m bench.recrawl --engine mysql --database bench_10k --port 3399 --user bench

Starts `catalog up` (embedded defaults), registers the target, and crawls it twice (the first
crawl lists no fingerprints, so the second reads everything again and lists them). Then it
starts `catalog up` again on the same data, and each repeat: a re-crawl with nothing changed;
the fingerprint pass alone (the product's crawler, list_relations with fingerprints, on one
connection); N tables altered (a column added), N new and N dropped, and a re-crawl; the same
undone, and a re-crawl. The changed tables are the bench's own (`recrawl_*`), created before
registration and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import asyncmy
import asyncpg

from bench.harness import (
    MB,
    BenchError,
    Peaks,
    add_catalog_args,
    add_run_args,
    catalog_up,
    register,
    request_crawl,
    sampling_memory,
    script_parser,
    wait_for_crawl,
)
from bench.register_to_complete import target_of
from catalog.crawlers import FAMILIES
from catalog.models import Engine, SslMode, Target

Execute = Callable[[str], Awaitable[None]]


@dataclass
class Recrawl:
    case: str
    wall: float  # request → complete, as polled
    batches: int
    tables: int
    mode: str
    peak_mb: float


def product_target(args: argparse.Namespace) -> Target:
    engine = Engine(args.engine)
    sslmode = SslMode.DISABLE if engine is Engine.POSTGRESQL else SslMode.DISABLED
    return Target(engine, args.host, args.port, args.database, args.user, sslmode)


async def fingerprint_pass(args: argparse.Namespace) -> float:
    """The product crawler's relation list with fingerprints, alone: seconds."""
    target = product_target(args)
    family = FAMILIES[target.engine]
    crawler = family.open(
        target, args.password, connect_timeout=10, statement_timeout=600, address=args.host
    )
    async with crawler as opened:
        started = time.perf_counter()
        async for _ in opened.list_relations(fingerprints=True):
            pass
        return time.perf_counter() - started


async def executor(args: argparse.Namespace) -> tuple[Execute, Callable[[], Awaitable[None]]]:
    """Run DDL on the target: (execute, close)."""
    if args.engine == "postgresql":
        conn = await asyncpg.connect(
            host=args.host, port=args.port, user=args.user, password=args.password,
            database=args.database,
        )  # fmt: skip

        async def run_pg(sql: str) -> None:
            await conn.execute(sql)

        return run_pg, conn.close
    my = await asyncmy.connect(
        host=args.host, port=args.port, user=args.user, password=args.password, db=args.database
    )

    async def run_my(sql: str) -> None:
        async with my.cursor() as cursor:
            await cursor.execute("SET sql_notes = 0")  # no note per DROP TABLE IF EXISTS
            for statement in filter(None, (s.strip() for s in sql.split(";"))):
                await cursor.execute(statement)

    async def close_my() -> None:
        my.close()

    return run_my, close_my


def ddl(n: int, prefix: str, action: str) -> str:
    """CREATE, DROP, or ALTER (add or drop a column) the bench's n tables `recrawl_<prefix>_i`."""
    names = [f"recrawl_{prefix}_{i:05d}" for i in range(n)]
    statements = {
        "create": [f"CREATE TABLE {t} (id integer PRIMARY KEY, note varchar(40))" for t in names],
        "drop": [f"DROP TABLE IF EXISTS {t}" for t in names],
        "add_column": [f"ALTER TABLE {t} ADD COLUMN extra integer" for t in names],
        "drop_column": [f"ALTER TABLE {t} DROP COLUMN extra" for t in names],
    }[action]
    return "".join(f"{s};" for s in statements)


async def timed_recrawl(
    http: aiohttp.ClientSession, base: str, database_id: str, case: str, peaks: Peaks
) -> Recrawl:
    peaks.reset()
    started = time.perf_counter()
    crawl = await request_crawl(http, base, database_id)
    async with asyncio.timeout(1800):
        done = await wait_for_crawl(http, base, database_id, crawl["id"])
    run = Recrawl(
        case,
        time.perf_counter() - started,
        done["batches_total"],
        done["tables"],
        done["mode"],
        peaks.catalog / MB,
    )
    print(f"{case}: {run.wall:.2f} s, {run.batches} batches, {run.mode}, {run.peak_mb:.0f} MB")
    return run


async def measure(args: argparse.Namespace) -> tuple[list[Recrawl], list[float], float]:
    execute, close = await executor(args)
    n = args.changes
    try:
        # The bench's tables: the ones it alters and drops exist before the first crawl.
        await execute(ddl(n, "new", "drop") + ddl(n, "old", "drop") + ddl(n, "alt", "drop"))
        await execute(ddl(n, "old", "create") + ddl(n, "alt", "create"))
        runs: list[Recrawl] = []
        passes: list[float] = []
        peaks, overall = Peaks(), Peaks()
        # Crawled twice (the second lists fingerprints), then restarted: the re-crawls are
        # measured in a fresh indexer process, as after any restart, not one that still holds
        # what two full crawls of the catalog left in its heap.
        async with (
            catalog_up(args.workers, args.batch_size, args.ready_timeout, {}) as up,
            aiohttp.ClientSession(headers=up.headers) as http,
        ):
            started = time.perf_counter()
            database_id = await register(http, up.base, target_of(args), "recrawl")
            async with asyncio.timeout(args.timeout):
                await wait_for_crawl(http, up.base, database_id)
            first = time.perf_counter() - started
            print(f"first crawl: {first:.2f} s", flush=True)
            await timed_recrawl(http, up.base, database_id, "second (lists fingerprints)", peaks)
        async with (
            catalog_up(
                args.workers, args.batch_size, args.ready_timeout, {}, reuse=up.temp
            ) as again,
            sampling_memory(again.proc.pid, again.data_dir, peaks, overall),
            aiohttp.ClientSession(headers=again.headers) as http,
        ):
            for _ in range(args.repeat):
                runs.append(await timed_recrawl(http, again.base, database_id, "unchanged", peaks))
                passes.append(await fingerprint_pass(args))
                print(f"fingerprint pass alone: {passes[-1]:.2f} s", flush=True)
                await execute(
                    ddl(n, "alt", "add_column") + ddl(n, "new", "create") + ddl(n, "old", "drop")
                )
                runs.append(await timed_recrawl(http, again.base, database_id, "changed", peaks))
                await execute(
                    ddl(n, "alt", "drop_column") + ddl(n, "new", "drop") + ddl(n, "old", "create")
                )
                runs.append(await timed_recrawl(http, again.base, database_id, "changed", peaks))
        if args.keep:
            print(f"kept {up.temp}")
        else:
            shutil.rmtree(up.temp, ignore_errors=True)
        return runs, passes, first
    finally:
        await execute(ddl(n, "new", "drop") + ddl(n, "old", "drop") + ddl(n, "alt", "drop"))
        await close()


def report(
    args: argparse.Namespace, runs: list[Recrawl], passes: list[float], first: float
) -> None:
    fingerprint = statistics.median(passes)
    print(f"\n{args.engine} {args.database}, {args.changes} altered + added + dropped per change")
    print(f"first crawl (registration → complete): {first:.2f} s")
    each = ", ".join(f"{p:.2f}" for p in passes)
    print(f"fingerprint pass alone: median {fingerprint:.2f} s ({each})")
    for case in ("unchanged", "changed"):
        mine = [r for r in runs if r.case == case]
        wall = statistics.median(r.wall for r in mine)
        print(
            f"re-crawl, {case}: median {wall:.2f} s ({', '.join(f'{r.wall:.2f}' for r in mine)}),"
            f" {wall / fingerprint:.2f}× the fingerprint pass; batches {mine[0].batches},"
            f" mode {mine[0].mode}; crawler peak RSS {max(r.peak_mb for r in mine):.0f} MB"
        )


def main(argv: list[str] | None = None) -> int:
    parser = script_parser("bench.recrawl", __doc__)
    add_catalog_args(parser, "bench_100k")
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    add_run_args(parser, "keep the data folder and its log")
    parser.set_defaults(ready_timeout=300)  # the restart on a crawled catalog's data
    args = parser.parse_args(argv)
    try:
        runs, passes, first = asyncio.run(measure(args))
    except (BenchError, TimeoutError, OSError) as exc:
        print(f"benchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    report(args, runs, passes, first)
    return 0


if __name__ == "__main__":
    sys.exit(main())
