"""The scale issue's measurements, every catalog size, in one run of one command.

    python -m bench.scale --sizes 1k,10k,100k --repeat 3 --write-docs
    python -m bench.scale --from-json docs/scale-results.json --write-docs   # re-render only

A size `Nk` is the database bench_Nk: N,000 tables x 10 columns in 20 schemas, built with
bench.build_catalog when missing (the build timed). For each size, smallest first:

1. end to end (bench.register_to_complete): registration -> crawl complete in `catalog up`
   (embedded, workers 2, batch size 500), --repeat times, each in a fresh `catalog up` (one
   catalog per run, so each measures the same), with the peak RSS of the crawling
   process (catalog up's indexer child) and of the gateway processes;
2. the floors (bench.extract_floor): floor extract (the crawler's pg_catalog SQL over the whole
   catalog, streamed) and floor index (tantivy alone: the same documents, converted outside the
   timer, into a bare tantivy writer); beside them our extractor alone and our index adapter.

At the largest size only:

3. workers: end to end with CATALOG_WORKERS=1 (step 1 is workers 2), and how many batches each
   worker acknowledged, from the indexer's `worker <pid>:<slot> acked ...` log lines;
4. browsing (bench.browse), in a fresh `catalog up` right after its crawl: paging through every
   table, and streaming GET /{id} with the serving gateway's RSS growth;
5. search under load (bench.search_load: wrk, 32 connections, one-typo table names) in that
   same catalog: idle, then during a re-crawl, on default settings (each gateway caches repeated
   answers); then the catalog is restarted on the same data with CATALOG_SEARCH_CACHE_MB=0 and
   measured idle again.

Every step that fails is recorded with its error and the run goes on. The raw results are
written as JSON after every step (--json; with --write-docs docs/scale-results.json), so a cut
run can still be rendered with --from-json. --write-docs replaces the section between
`<!-- scale:begin -->` and `<!-- scale:end -->` at the top of docs/benchmarks.md and draws
docs/scale.png. Needs the bench extras (`pip install -e '.[bench]'`) and wrk on PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench import browse, build_catalog, extract_floor, register_to_complete, render, search_load
from bench.harness import (
    BenchError,
    Target,
    add_run_args,
    add_target_args,
    catalog_up,
    git_commit,
    kept_on_failure,
    leave,
    machine,
    script_parser,
    server_version,
    tail,
)
from bench.records import (
    Browse,
    Build,
    EndToEnd,
    FloorRun,
    LoadedCrawl,
    ScaleRun,
    ScaleSettings,
    SearchLoad,
    SizeResult,
    load,
    median_or_none,
    save,
)

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
DOCS_JSON = ROOT / "docs" / "scale-results.json"
PLOT = ROOT / "docs" / "scale.png"
COLUMNS, SCHEMAS = 10, 20
WORKERS, BATCH_SIZE = 2, 500  # catalog up's defaults: what step 1 measures
NO_CACHE = {"CATALOG_SEARCH_CACHE_MB": "0"}
# The scale issue's floors and our parts beside them (the minimal index is the speed issue's).
SCALE_FLOORS = ("floor_extract", "extractor", "floor_index", "index_adapter")
SIZE = re.compile(r"^(\d+)([km]?)$")
STARTED = time.monotonic()


def say(message: str) -> None:
    """Progress, with the time since the start: a full run takes the better part of an hour."""
    elapsed = int(time.monotonic() - STARTED)
    print(f"[scale +{elapsed // 60:02d}:{elapsed % 60:02d}] {message}", flush=True)


def parse_size(text: str) -> tuple[str, int]:
    """'10k' -> ('10k', 10000): the label names the database bench_<label>."""
    match = SIZE.match(text.strip().lower())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1k, 10k, 100k)")
    number, unit = int(match.group(1)), match.group(2)
    return text.strip().lower(), number * {"": 1, "k": 1_000, "m": 1_000_000}[unit]


async def step(
    record: SizeResult | SearchLoad, key: str, label: str, work: Callable[[], Awaitable[Any]]
) -> None:
    """Run one step and store its result in `record`'s field `key`; a failure is stored in
    `record.errors` under that key instead, and the run goes on."""
    say(f"{label}: start")
    began = time.perf_counter()
    try:
        value = await work()
    except Exception as exc:  # any failure of a step is a result to report, not a crash
        record.errors[key] = f"{type(exc).__name__}: {exc}"
        say(f"{label}: FAILED after {time.perf_counter() - began:.1f} s: {record.errors[key]}")
        return
    if value is not None:
        setattr(record, key, value)
    say(f"{label}: done in {time.perf_counter() - began:.1f} s")


def target_argv(args: argparse.Namespace) -> list[str]:
    """The target server's options, as the other benchmarks take them."""
    return ["--host", args.host, "--port", str(args.port), "--user", args.user]


# ---- 0. the catalog to crawl ---------------------------------------------------------------


def build_args_argv(tables: int, database: str) -> list[str]:
    return [
        *("--tables", str(tables), "--columns", str(COLUMNS), "--schemas", str(SCHEMAS)),
        *("--database", database),
    ]


async def ensure_database(args: argparse.Namespace, database: str, tables: int) -> Build:
    """Build the database if missing (timed); either way, count its tables."""
    dsn = f"postgresql://{args.user}@{args.host}:{args.port}/postgres"
    build_args = build_catalog.parse_args([*build_args_argv(tables, database), "--dsn", dsn])
    admin = await asyncpg.connect(dsn)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
    finally:
        await admin.close()
    if exists:
        found = await build_catalog.finish(build_args)  # counts (and ANALYZEs, as a build does)
        if found != tables:  # measured under this size's label, it would mislead
            raise BenchError(
                f"{database} holds {found:,} tables, not {tables:,}: rebuild it with "
                f"python -m bench.build_catalog {shlex.join(build_args_argv(tables, database))} "
                "--recreate"
            )
        return Build(built=False, tables_found=found)
    say(f"{database} is missing: building it ({tables:,} tables)")
    began = time.perf_counter()
    try:
        await build_catalog.main_async(build_args)
    except SystemExit as exc:  # build_catalog ends that way on a count mismatch
        raise BenchError(f"build failed: {exc}") from None
    return Build(built=True, tables_found=tables, seconds=time.perf_counter() - began)


# ---- 1 and 3. end to end -------------------------------------------------------------------


async def end_to_end(args: argparse.Namespace, database: str, workers: int) -> EndToEnd:
    """--repeat registrations -> complete (bench.register_to_complete), each in a fresh
    `catalog up`: in one, every run would index beside the copies the runs before it left, and
    its memory would measure that growing index, not this catalog."""
    options = register_to_complete.parse_args(
        [
            *("--database", database, "--repeat", "1", "--workers", str(workers)),
            *("--batch-size", str(BATCH_SIZE), "--password", args.password, *target_argv(args)),
            *("--timeout", str(args.timeout), "--ready-timeout", str(args.ready_timeout)),
        ]
    )
    result = EndToEnd(workers, BATCH_SIZE)
    startups: list[float] = []
    for _ in range(args.repeat):
        measured = await register_to_complete.measure(options)
        result.runs += measured.runs
        startups.append(measured.startup)
        if measured.temp is not None:
            leave(measured.temp, failed=measured.error is not None, keep=args.keep)
        if measured.error:
            result.error = f"{measured.error} (after {len(result.runs)} of {args.repeat} runs)"
            result.log_tail = tail(measured.log, 20) if measured.log else None
            break
    result.startup = median_or_none(startups)
    return result


# ---- 2. the floors -------------------------------------------------------------------------


async def floors(args: argparse.Namespace, database: str) -> dict[str, FloorRun]:
    """The scale floors of bench.extract_floor, --repeat fresh processes each; one row each."""
    target = extract_floor.FloorTarget(database, args.host, args.port, args.user)
    # In a thread: it runs its own event loop for the pickling, and blocks on child processes.
    return await asyncio.to_thread(
        extract_floor.measure, target, list(SCALE_FLOORS), args.repeat, args.timeout
    )


# ---- 4 and 5. browsing and search under load -----------------------------------------------


async def browse_step(
    http: aiohttp.ClientSession,
    up_base: str,
    pid: int,
    args: argparse.Namespace,
    database: str,
    database_id: str,
) -> Browse:
    options = browse.parse_args(
        ["--database", database, *target_argv(args), "--timeout", str(args.timeout)]
    )
    # Crawled already: browse it, do not register it again.
    return await browse.measure(http, up_base, pid, options, database_id)


async def search_and_browse(args: argparse.Namespace, database: str, size: SizeResult) -> None:
    """One `catalog up` for browsing, idle search and search during a re-crawl; then the same
    data restarted with the answer cache off, for idle search again (no second crawl)."""
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not on PATH: apt-get install -y wrk")
    options = search_load.parse_args(
        [
            *("--database", database, "--password", args.password, *target_argv(args)),
            *("--repeat", str(args.repeat), "--duration", str(args.search_duration)),
            *("--timeout", str(args.timeout), "--ready-timeout", str(args.ready_timeout)),
            # The load covers the crawl's first runs; then it finishes unloaded.
            *("--crawl-runs", str(args.repeat)),
        ]
    )
    search = size.search = SearchLoad(settings=search_load.settings_of(options))
    target = Target(database, args.host, args.port, args.user, args.password)
    search.queries = await search_load.pick_queries(target, options.queries, options.seed)
    env = search_load.load_env(options)
    with kept_on_failure(args.keep) as folder:
        async with catalog_up(WORKERS, BATCH_SIZE, options.ready_timeout, env) as up:
            folder.path = up.temp
            connector = aiohttp.TCPConnector(limit=4)
            async with aiohttp.ClientSession(headers=up.headers, connector=connector) as http:
                database_id, search.first_crawl = await search_load.first_crawl(
                    http, up, target, options.timeout
                )
                browsing = partial(browse_step, http, up.base, up.proc.pid, args, database)
                await step(size, "browse", "browse", partial(browsing, database_id))
                await search_load.checked_queries(
                    http, up, database_id, search, search.queries, options.kind
                )
                load = search_load.Load(options, up, database_id, search.queries)

                async def loaded() -> LoadedCrawl:
                    return LoadedCrawl(
                        *await search_load.crawl_under(
                            http, up, database_id, options, load, "loaded re-crawl"
                        )
                    )

                idle = partial(search_load.idle_runs, load, options.repeat)
                await step(search, "idle", "search idle (default settings)", idle)
                await step(search, "loaded", "search during a re-crawl", loaded)
        # The same data, served anew with no answer cache: the index is not crawled again.
        async with catalog_up(
            WORKERS, BATCH_SIZE, options.ready_timeout, {**env, **NO_CACHE}, reuse=folder.path
        ) as up:
            load = search_load.Load(options, up, database_id, search.queries)
            idle = partial(search_load.idle_runs, load, options.repeat, "idle, no cache")
            await step(search, "idle_no_cache", "search idle, answer cache off", idle)


# ---- the run -------------------------------------------------------------------------------


def shown(path: Path) -> str:
    """A path as the docs show it: relative to the repository when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


async def measure(args: argparse.Namespace, argv: list[str], json_path: Path) -> ScaleRun:
    """Every step at every size, smallest first; saved to `json_path` after each step (a run
    cut short can still be rendered with --from-json)."""
    sizes = sorted(args.sizes, key=lambda size: size[1])
    largest = sizes[-1][0]
    run = ScaleRun(
        command=shlex.join(["python", "-m", "bench.scale", *argv]),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        commit=git_commit(),
        machine=machine(),
        load_average_at_start=list(os.getloadavg()),
        repeat=args.repeat,
        largest=largest,
        settings=ScaleSettings(WORKERS, BATCH_SIZE, args.search_duration),
        json_path=shown(json_path),
    )
    try:
        run.machine.postgresql = await server_version(args.host, args.port, args.user)
    except (OSError, asyncpg.PostgresError) as exc:
        run.machine.postgresql = f"? ({exc})"
    say(f"measuring {', '.join(label for label, _ in sizes)}; results in {json_path}")
    for label, tables in sizes:
        database = f"bench_{label}"
        size = run.sizes[label] = SizeResult(database, tables, COLUMNS)
        steps = [
            ("build", "database", partial(ensure_database, args, database, tables)),
            ("e2e", f"end to end, workers {WORKERS}", partial(end_to_end, args, database, WORKERS)),
            ("floors", "floors", partial(floors, args, database)),
        ]
        if label == largest:
            steps += [
                ("workers_1", "end to end, workers 1", partial(end_to_end, args, database, 1)),
                ("search", "browse and search", partial(search_and_browse, args, database, size)),
            ]
        for key, text, work in steps:
            await step(size, key, f"{label}: {text}", work)
            save(run, json_path)
            if key == "build" and size.build is None:
                say(f"{label}: no database to measure; its other steps are skipped")
                break
    run.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
    run.wall_seconds = time.monotonic() - STARTED
    run.load_average_at_end = list(os.getloadavg())
    save(run, json_path)
    return run


# ---- command line --------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = script_parser("bench.scale", __doc__)
    parser.add_argument(
        "--sizes",
        default="1k,10k,100k",
        type=lambda text: [parse_size(part) for part in text.split(",") if part.strip()],
        help="catalog sizes, comma-separated: bench_<size> with that many tables",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement")
    parser.add_argument("--write-docs", action="store_true", help=f"update {DOCS} and {PLOT}")
    parser.add_argument(
        "--json",
        type=Path,
        help=f"raw results (default: {DOCS_JSON} with --write-docs, else a temporary file)",
    )
    parser.add_argument("--from-json", type=Path, help="render these results; measure nothing")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the benchmarks document")
    parser.add_argument("--plot", type=Path, default=PLOT, help="the plot's file")
    add_target_args(parser)
    parser.add_argument("--search-duration", type=int, default=20, help="seconds per wrk run")
    add_run_args(parser, "keep the catalogs' data folders", "seconds per crawl and per floor run")
    args = parser.parse_args(argv)
    labels = [label for label, _ in args.sizes]
    if not labels or len(set(labels)) != len(labels):
        parser.error("--sizes needs distinct sizes")
    if args.repeat < 1 or args.search_duration < 1:
        parser.error("--repeat and --search-duration must be positive")
    return args


def show(run: ScaleRun, args: argparse.Namespace) -> None:
    """Print the docs section; with --write-docs, also draw the plot and replace the section."""
    text = render.scale_section(run, args.plot, args.docs)
    print()
    print(text)
    if args.write_docs:
        render.draw(run, args.plot)
        render.replace_between(text, args.docs, render.SCALE_BEGIN, render.SCALE_END)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.from_json:
        show(load(ScaleRun, args.from_json), args)
        return 0
    json_path = args.json or (
        DOCS_JSON if args.write_docs else Path(tempfile.gettempdir()) / "bench-scale.json"
    )
    run = asyncio.run(measure(args, argv, json_path.resolve()))
    say(f"all measured in {(run.wall_seconds or 0) / 60:.1f} min; results in {json_path}")
    show(run, args)
    return 1 if render.failures(run) else 0


if __name__ == "__main__":
    sys.exit(main())
