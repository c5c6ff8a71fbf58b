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
   timer, into a bare tantivy writer); beside them our extractor alone and our index adapter;
3. the alternatives (bench.extract_floor): the seed's information_schema query into a nested
   dict, SQLAlchemy's Inspector table by table (a sample, extrapolated), and its get_multi_*.

At the largest size only:

4. workers: end to end with CATALOG_WORKERS=1 (step 1 is workers 2), and how many batches each
   worker acknowledged, from the indexer's `worker <pid>:<slot> acked ...` log lines;
5. browsing (bench.browse), in a fresh `catalog up` right after its crawl: paging through every
   table, and streaming GET /{id} with the serving gateway's RSS growth;
6. search under load (bench.search_load: wrk, 32 connections, one-typo table names) in that
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
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import psutil

from bench import browse, build_catalog, extract_floor, register_to_complete, search_load
from bench.harness import (
    MB,
    BenchError,
    Target,
    catalog_up,
    git_commit,
    kept_on_failure,
    tail,
)

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
DOCS_JSON = ROOT / "docs" / "scale-results.json"
PLOT = ROOT / "docs" / "scale.png"
BEGIN, END = "<!-- scale:begin -->", "<!-- scale:end -->"
COLUMNS, SCHEMAS = 10, 20
WORKERS, BATCH_SIZE = 2, 500  # catalog up's defaults: what step 1 measures
NO_CACHE = {"CATALOG_SEARCH_CACHE_MB": "0"}
SIZE = re.compile(r"^(\d+)([km]?)$")

# The goals of the scale issue (and, for search during a crawl, of the reliability issue).
FLOOR_RATIO = 1.5  # end to end within this many times floor extract + floor index
INSPECTOR_RATIO = 20.0  # at least this many times faster than Inspector table by table
CRAWLER_RSS_MB = 250.0  # crawler peak RSS below this at every size...
FLAT_RATIO = 1.25  # ...and flat: the largest size's peak within this of the smallest's
IDLE_RPS, IDLE_P99_MS, CRAWL_P99_MS = 2_000.0, 20.0, 50.0
GET_ID_GROWTH_MB = 100.0

Json = dict[str, Any]


# ---- small helpers -------------------------------------------------------------------------

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


def error_of(value: Any) -> str | None:
    """Why a step has no result: its error, or 'not run' when it is missing."""
    if value is None:
        return "not run"
    if isinstance(value, dict) and "error" in value:
        return str(value["error"])
    return None


def secs(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 1000 else f"{value:,.0f}"


def mb(value: float | None) -> str:
    return "-" if value is None else f"{value / MB:,.0f}"


def median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


async def step(target: Json, key: str, label: str, work: Callable[[], Awaitable[Any]]) -> None:
    """Run one step and store its result under `key`; a failure is stored as its error (merged
    into what the step stored so far) and the run goes on."""
    say(f"{label}: start")
    began = time.perf_counter()
    try:
        value = await work()
    except Exception as exc:  # any failure of a step is a result to report, not a crash
        message = f"{type(exc).__name__}: {exc}"
        existing = target.get(key)
        target[key] = {**(existing if isinstance(existing, dict) else {}), "error": message}
        say(f"{label}: FAILED after {time.perf_counter() - began:.1f} s: {message}")
        return
    if value is not None:
        target[key] = value
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


async def ensure_database(args: argparse.Namespace, database: str, tables: int) -> Json:
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
        return {"built": False, "tables_found": found}
    say(f"{database} is missing: building it ({tables:,} tables)")
    began = time.perf_counter()
    try:
        await build_catalog.main_async(build_args)
    except SystemExit as exc:  # build_catalog ends that way on a count mismatch
        raise BenchError(f"build failed: {exc}") from None
    return {"built": True, "seconds": time.perf_counter() - began, "tables_found": tables}


# ---- 1 and 4. end to end -------------------------------------------------------------------


async def end_to_end(args: argparse.Namespace, database: str, workers: int) -> Json:
    """--repeat registrations -> complete (bench.register_to_complete), each in a fresh
    `catalog up`: in one, every run would index beside the copies the runs before it left, and
    its memory would measure that growing index, not this catalog."""
    rtc = register_to_complete.parse_args(
        [
            *("--database", database, "--repeat", "1", "--workers", str(workers)),
            *("--batch-size", str(BATCH_SIZE), "--password", args.password, *target_argv(args)),
            *("--timeout", str(args.timeout), "--ready-timeout", str(args.ready_timeout)),
        ]
    )
    runs: list[register_to_complete.Run] = []
    startups: list[float] = []
    result: Json = {"workers": workers, "batch_size": BATCH_SIZE, "fresh_catalog_per_run": True}
    for _ in range(args.repeat):
        measured = await register_to_complete.measure(rtc)
        runs += measured.runs
        startups.append(measured.startup)
        if measured.error:
            result["error"] = f"{measured.error} (after {len(runs)} of {args.repeat} runs)"
            if measured.log is not None:
                result["log_tail"] = tail(measured.log, 20)
                print(f"last lines of {measured.log}:\n{result['log_tail']}", file=sys.stderr)
            print(f"kept {measured.temp} for inspection", file=sys.stderr)
            break
        if measured.temp is not None and not args.keep:
            shutil.rmtree(measured.temp, ignore_errors=True)
    result |= {
        "startup": median_or_none(startups),
        "runs": [asdict(run) for run in runs],
        "median_wall": median_or_none([run.wall for run in runs]),
        "median_crawl": median_or_none([r.duration for r in runs if r.duration is not None]),
        "peak_crawler": max((run.peak_catalog for run in runs), default=None),
        "peak_gateways": max((run.peak_gateways for run in runs), default=None),
        "peak_embedded": max((run.peak_embedded for run in runs), default=None),
    }
    return result


# ---- 2 and 3. floors and alternatives ------------------------------------------------------


async def floors(args: argparse.Namespace, database: str) -> Json:
    """Every bench.extract_floor approach, --repeat fresh processes each; one row each."""
    params = {
        "database": database,
        "host": args.host,
        "port": args.port,
        "user": args.user,
        "inspector_sample": args.inspector_sample,
    }
    # In a thread: it runs its own event loop for the pickling, and blocks on child processes.
    return await asyncio.to_thread(
        extract_floor.measure, params, list(extract_floor.APPROACHES), args.repeat, args.timeout
    )


# ---- 5 and 6. browsing and search under load -----------------------------------------------


def wrk_json(runs: list[search_load.WrkRun]) -> list[Json]:
    return [{k: v for k, v in asdict(run).items() if k != "output"} for run in runs]


async def browse_step(
    http: aiohttp.ClientSession,
    base: str,
    pid: int,
    args: argparse.Namespace,
    database: str,
    database_id: str,
) -> Json:
    options = browse.parse_args(
        ["--database", database, *target_argv(args), "--timeout", str(args.timeout)]
    )
    options.database_id = database_id  # crawled already: browse it, do not register again
    results = await browse.measure(http, base, pid, options)
    return asdict(results)


async def search_and_browse(args: argparse.Namespace, database: str, record: Json) -> None:
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
    search: Json = record.setdefault("search", {})
    search["settings"] = {
        "connections": options.connections,
        "threads": options.threads,
        "duration": options.duration,
        "wrk_timeout": options.wrk_timeout,
        "runs": options.repeat,
    }
    target = Target(database, args.host, args.port, args.user, args.password)
    results = search_load.Results(wrk_timeout=options.wrk_timeout)
    results.queries = await search_load.pick_queries(target, options.queries, options.seed)
    env = search_load.load_env(options)
    with kept_on_failure(args.keep) as folder:
        async with catalog_up(WORKERS, BATCH_SIZE, options.ready_timeout, env) as up:
            folder.path = up.temp
            connector = aiohttp.TCPConnector(limit=4)
            async with aiohttp.ClientSession(headers=up.headers, connector=connector) as http:
                database_id, first = await search_load.first_crawl(http, up, target, options)
                search["first_crawl"] = asdict(first)
                browsing = partial(browse_step, http, up.base, up.proc.pid, args, database)
                await step(record, "browse", "browse", partial(browsing, database_id))
                await search_load.checked_queries(http, up, database_id, results)
                search["queries"] = results.queries
                search["found_top10"], search["found_top1"] = (
                    results.found_top10,
                    results.found_top1,
                )
                command = search_load.load_command(options, up, database_id, results.queries)

                async def idle() -> list[Json]:
                    return wrk_json(await search_load.idle_runs(command, options.repeat))

                async def loaded() -> Json:
                    crawl, runs = await search_load.crawl_under(
                        http, up, database_id, options, command, "loaded re-crawl"
                    )
                    return {"crawl": asdict(crawl), "runs": wrk_json(runs)}

                await step(search, "idle", "search idle (default settings)", idle)
                await step(search, "loaded", "search during a re-crawl", loaded)
        # The same data, served anew with no answer cache: the index is not crawled again.
        async with catalog_up(
            WORKERS, BATCH_SIZE, options.ready_timeout, {**env, **NO_CACHE}, reuse=folder.path
        ) as up:
            command = search_load.load_command(options, up, database_id, results.queries)

            async def idle_no_cache() -> list[Json]:
                runs = await search_load.idle_runs(command, options.repeat, "idle, no cache")
                return wrk_json(runs)

            await step(search, "idle_no_cache", "search idle, answer cache off", idle_no_cache)


# ---- the run -------------------------------------------------------------------------------


def machine() -> Json:
    def package(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "?"

    cpu = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3),
        "cpu": cpu,
        "python": platform.python_version(),
        "tantivy": package("tantivy"),
        "sqlalchemy": package("sqlalchemy"),
        # `wrk -v` prints "wrk <version> [engine] Copyright ..." and exits non-zero.
        "wrk": " ".join((wrk.stdout + wrk.stderr).split()[:2]),
    }


async def server_version(args: argparse.Namespace) -> str:
    connection = await asyncpg.connect(
        host=args.host, port=args.port, user=args.user, database="postgres"
    )
    try:
        return await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()


def shown(path: Path) -> str:
    """A path as the docs show it: relative to the repository when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def save(data: Json, path: Path) -> None:
    """Written after every step: a run cut short can still be rendered with --from-json."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


async def measure(args: argparse.Namespace, argv: list[str], json_path: Path) -> Json:
    sizes = sorted(args.sizes, key=lambda size: size[1])
    largest = sizes[-1][0]
    data: Json = {
        "benchmark": "scale",
        "command": shlex.join(["python", "-m", "bench.scale", *argv]),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": machine(),
        "load_average_at_start": os.getloadavg(),
        "repeat": args.repeat,
        "largest": largest,
        "settings": {
            "workers": WORKERS,
            "batch_size": BATCH_SIZE,
            "inspector_sample": args.inspector_sample,
            "search_duration": args.search_duration,
        },
        "sizes": {},
        "json_path": shown(json_path),
    }
    try:
        data["machine"]["postgresql"] = await server_version(args)
    except (OSError, asyncpg.PostgresError) as exc:
        data["machine"]["postgresql"] = f"? ({exc})"
    say(f"measuring {', '.join(label for label, _ in sizes)}; results in {json_path}")
    for label, tables in sizes:
        database = f"bench_{label}"
        record: Json = {"database": database, "tables": tables, "columns": COLUMNS}
        data["sizes"][label] = record
        steps = [
            ("build", "database", partial(ensure_database, args, database, tables)),
            ("e2e", f"end to end, workers {WORKERS}", partial(end_to_end, args, database, WORKERS)),
            ("floors", "floors and alternatives", partial(floors, args, database)),
        ]
        if label == largest:
            steps += [
                ("workers_1", "end to end, workers 1", partial(end_to_end, args, database, 1)),
                ("search", "browse and search", partial(search_and_browse, args, database, record)),
            ]
        for key, text, work in steps:
            await step(record, key, f"{label}: {text}", work)
            save(data, json_path)
            if key == "build" and error_of(record["build"]):
                say(f"{label}: no database to measure; its other steps are skipped")
                break
    data["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    data["wall_seconds"] = time.monotonic() - STARTED
    data["load_average_at_end"] = os.getloadavg()
    save(data, json_path)
    return data


# ---- reading the results -------------------------------------------------------------------


def row_seconds(record: Json, *path: str) -> float | None:
    """A median in seconds, or None where that step or approach failed or did not run."""
    value: Any = record
    for key in path:
        if not isinstance(value, dict) or error_of(value.get(key)):
            return None
        value = value[key]
    return value if isinstance(value, int | float) else None


def floor_seconds(record: Json) -> float | None:
    """Floor extract + floor index (tantivy alone): what a crawl cannot go below."""
    extract = row_seconds(record, "floors", "floor_extract", "seconds")
    index = row_seconds(record, "floors", "floor_index", "seconds")
    return None if extract is None or index is None else extract + index


def e2e_seconds(record: Json) -> float | None:
    return row_seconds(record, "e2e", "median_wall")


def wrk_runs(rows: Any) -> list[search_load.WrkRun]:
    if not isinstance(rows, list):
        return []
    return [search_load.WrkRun(**row) for row in rows]


def wrk_summary(rows: Any) -> Json | None:
    """Medians over the counted runs (search_load's rule), errors summed over them."""
    runs = wrk_runs(rows)
    if not runs:
        return None
    counted = search_load.counted(runs)
    return {
        "rps": search_load.median(runs, "rps"),
        "p50": search_load.median(runs, "p50"),
        "p99": search_load.median(runs, "p99"),
        "non_2xx": sum(run.non_2xx for run in counted),
        "timeouts": sum(run.timeouts for run in counted),
        "requests": sum(run.requests for run in counted),
        "runs": len(counted),
    }


# Lines of the plot: label, how to read seconds of a size's record, line style.
PLOT_LINES: list[tuple[str, Callable[[Json], float | None], str]] = [
    ("ours, end to end (registration → complete)", e2e_seconds, "-"),
    ("floor: extract + index (tantivy alone)", floor_seconds, "-"),
    ("our extractor alone", lambda r: row_seconds(r, "floors", "extractor", "seconds"), "-"),
    (
        "seed: information_schema into a dict",
        lambda r: row_seconds(r, "floors", "seed", "seconds"),
        "-",
    ),
    (
        "SQLAlchemy Inspector per table (extrapolated)",
        lambda r: row_seconds(r, "floors", "inspector", "seconds"),
        "--",
    ),
    (
        "SQLAlchemy Inspector get_multi_*",
        lambda r: row_seconds(r, "floors", "bulk", "seconds"),
        "-",
    ),
]


# ---- the docs ------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


Goal = tuple[str, str, str]  # the goal, what was measured, met / missed / failed


def floor_goals(sizes: dict[str, Json]) -> list[Goal]:
    """Per size: end to end against the floor, and against Inspector table by table."""
    rows: list[Goal] = []
    for label, record in sizes.items():
        ours, floor = e2e_seconds(record), floor_seconds(record)
        goal = f"{label}: end to end within {FLOOR_RATIO}× of floor extract + floor index"
        if ours is None or floor is None:
            why = error_of(record.get("e2e")) or "a floor failed or did not run"
            rows.append((goal, f"failed: {why}", "failed"))
            continue
        measured = f"{ours / floor:.2f}× ({secs(ours)} s against {secs(floor)} s)"
        rows.append((goal, measured, verdict(ours / floor <= FLOOR_RATIO)))
    for label, record in sizes.items():
        ours = e2e_seconds(record)
        inspector = row_seconds(record, "floors", "inspector", "seconds")
        extractor = row_seconds(record, "floors", "extractor", "seconds")
        goal = f"{label}: ≥ {INSPECTOR_RATIO:.0f}× faster than Inspector table by table"
        if ours is None or inspector is None:
            rows.append((goal, "failed: end to end or Inspector did not run", "failed"))
            continue
        measured = (
            f"{inspector / ours:.1f}× end to end ({secs(ours)} s against {secs(inspector)} s "
            "extrapolated)"
        )
        if extractor:
            measured += f"; our extractor alone {inspector / extractor:.1f}×"
        rows.append((goal, measured, verdict(inspector / ours >= INSPECTOR_RATIO)))
    return rows


def memory_goal(sizes: dict[str, Json]) -> Goal:
    goal = f"crawler peak RSS < {CRAWLER_RSS_MB:.0f} MB at every size, and flat"
    peaks = {
        label: record["e2e"]["peak_crawler"]
        for label, record in sizes.items()
        if not error_of(record.get("e2e")) and record["e2e"].get("peak_crawler")
    }
    if not peaks or len(peaks) != len(sizes):
        return goal, "failed: end to end did not run at every size", "failed"
    values = list(peaks.values())  # sizes in ascending order
    measured = ", ".join(f"{label} {mb(peak)} MB" for label, peak in peaks.items())
    below = max(values) / MB < CRAWLER_RSS_MB
    if len(values) == 1:
        return goal, measured, f"{verdict(below)} (below; flat needs two sizes)"
    flat = values[-1] / values[0]
    measured += f"; largest ÷ smallest {flat:.2f}× (flat: ≤ {FLAT_RATIO}×)"
    return goal, measured, verdict(below and flat <= FLAT_RATIO)


def search_goals(largest: str, record: Json) -> list[Goal]:
    search = record.get("search") or {}
    why_not = error_of(record.get("search"))  # when the whole step failed or did not run
    rows: list[Goal] = []
    for key, label in (("idle", "answer cache on (default)"), ("idle_no_cache", "cache off")):
        goal = (
            f"{largest}: search idle ≥ {IDLE_RPS:,.0f} req/s, p99 < {IDLE_P99_MS:.0f} ms, {label}"
        )
        summary = wrk_summary(search.get(key))
        if summary is None:
            why = error_of(search.get(key)) or why_not
            rows.append((goal, f"failed: {why}", "failed"))
            continue
        ok = summary["rps"] >= IDLE_RPS and summary["p99"] < IDLE_P99_MS and not summary["timeouts"]
        rows.append((goal, wrk_text(summary), verdict(ok)))
    goal = f"{largest}: search p99 < {CRAWL_P99_MS:.0f} ms during a crawl (the reliability issue)"
    loaded = search.get("loaded") or {}
    summary = wrk_summary(loaded.get("runs"))
    if summary is None:
        why = error_of(search.get("loaded")) or error_of(loaded.get("runs")) or why_not
        rows.append((goal, f"failed: {why}", "failed"))
    else:
        ok = summary["p99"] < CRAWL_P99_MS and not summary["timeouts"]
        rows.append((goal, wrk_text(summary), verdict(ok)))
    goal = f"{largest}: GET /{{id}} gateway RSS growth < {GET_ID_GROWTH_MB:.0f} MB"
    seed = (record.get("browse") or {}).get("seed") or {}
    growth = (seed.get("rss") or {}).get("growth")
    if growth is None:
        rows.append((goal, f"failed: {error_of(record.get('browse')) or 'no RSS'}", "failed"))
    else:
        measured = f"{growth / MB:.1f} MB while streaming {seed['bytes'] / MB:.1f} MB"
        rows.append((goal, measured, verdict(growth / MB < GET_ID_GROWTH_MB)))
    return rows


def goal_rows(data: Json) -> list[Goal]:
    sizes: dict[str, Json] = data["sizes"]
    largest = data["largest"]
    return [
        *floor_goals(sizes),
        memory_goal(sizes),
        *search_goals(largest, sizes.get(largest) or {}),
    ]


def wrk_text(summary: Json) -> str:
    text = f"{summary['rps']:,.0f} req/s, p99 {summary['p99']:.1f} ms"
    if summary["timeouts"] or summary["non_2xx"]:
        text += f" ({summary['non_2xx']} non-2xx, {summary['timeouts']} timeouts)"
    return text


def size_lines(label: str, record: Json, repeat: int) -> list[str]:
    """The results table of one size."""
    build = record.get("build") or {}
    if error_of(build):
        about = f"could not be built: {error_of(build)}"
    elif build.get("built"):
        about = f"built by this run in {secs(build['seconds'])} s"
    else:
        about = f"existed ({build.get('tables_found', 0):,} tables)"
    lines = [
        f"### {record['tables']:,} tables × {record['columns']} columns (`{record['database']}`)",
        "",
        f"Database {about}. Medians of {repeat} run{'s' * (repeat > 1)} (end to end: each in a "
        "fresh `catalog up`); ÷ floor is the time "
        "over floor extract + floor index (tantivy alone); peak RSS is the crawling process's "
        "(`catalog up`'s indexer child; the gateway processes summed beside it), or the fresh "
        "process each other approach runs in.",
        "",
        "| what | median s | runs s | peak RSS MB | ÷ floor |",
        "|---|---:|---:|---:|---:|",
    ]
    floor = floor_seconds(record)

    def ratio(seconds: float | None) -> str:
        return f"{seconds / floor:.2f}×" if seconds is not None and floor else "-"

    e2e = record.get("e2e")
    if error_of(e2e) and not (e2e or {}).get("runs"):
        lines.append(f"| **ours, end to end** | failed: {error_of(e2e)} | | | |")
    elif e2e:
        runs = ", ".join(secs(run["wall"]) for run in e2e["runs"])
        note = f" ({len(e2e['runs'])} runs, then failed: {e2e['error']})" if "error" in e2e else ""
        lines.append(
            f"| **ours, end to end** (registration → complete, workers {e2e['workers']}){note} "
            f"| **{secs(e2e['median_wall'])}** | {runs} | {mb(e2e['peak_crawler'])} "
            f"(gateways {mb(e2e['peak_gateways'])}) | **{ratio(e2e['median_wall'])}** |"
        )
        lines.append(
            f"| the crawl itself (started → finished) | {secs(e2e['median_crawl'])} "
            f"| {', '.join(secs(run['duration']) for run in e2e['runs'])} | | "
            f"{ratio(e2e['median_crawl'])} |"
        )
    labels = {
        "floor_extract": "floor extract (the crawler's pg_catalog SQL, whole catalog, streamed)",
        "floor_index": "floor index: tantivy alone (converted outside the timer)",
        "extractor": "our extractor alone (list_relations + read_batch 500)",
        "index_adapter": "our index adapter (TantivyIndex.upsert, 5,500 a call)",
        "seed": "seed: information_schema.columns into a nested dict",
        "inspector": "SQLAlchemy Inspector table by table",
        "bulk": "SQLAlchemy Inspector get_multi_*, whole catalog",
    }
    rows: Json = record.get("floors") or {}
    for key, text in labels.items():
        if key == "extractor":
            lines.append(f"| **floor: extract + index** | **{secs(floor)}** | | | 1.00× |")
        row = rows.get(key)
        if error_of(row):
            lines.append(f"| {text} | failed: {error_of(row)} | | | |")
            continue
        if key == "inspector":
            counts = row["counts"]
            text += (
                f" ({counts['sampled tables']:,} of {counts['of tables']:,} sampled, "
                "**extrapolated**)"
            )
        runs = ", ".join(secs(s) for s in row["runs"])
        lines.append(
            f"| {text} | {secs(row['seconds'])} | {runs} | {mb(row['peak_rss'])} "
            f"| {ratio(row['seconds'])} |"
        )
    return lines


def workers_lines(record: Json) -> list[str]:
    lines = [
        "| CATALOG_WORKERS | median end to end s | runs s | batches acknowledged per worker, "
        "each run |",
        "|---:|---:|---:|---|",
    ]
    for key in ("workers_1", "e2e"):
        e2e = record.get(key)
        if error_of(e2e) and not (e2e or {}).get("runs"):
            lines.append(
                f"| {1 if key == 'workers_1' else WORKERS} | failed: {error_of(e2e)} | | |"
            )
            continue
        spread = "; ".join(
            " + ".join(str(n) for n in run["workers"].values()) or "(no worker lines logged)"
            for run in e2e["runs"]
        )
        lines.append(
            f"| {e2e['workers']} | {secs(e2e['median_wall'])} "
            f"| {', '.join(secs(run['wall']) for run in e2e['runs'])} | {spread} |"
        )
    return lines


def search_lines(search: Json) -> list[str]:
    settings = search.get("settings") or {}
    lines = [
        "| phase | req/s | p50 ms | p99 ms | non-2xx | timeouts | requests | runs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    phases = (
        ("idle, default settings (answer cache on)", search.get("idle")),
        ("idle, answer cache off (CATALOG_SEARCH_CACHE_MB=0)", search.get("idle_no_cache")),
        ("during a re-crawl, default settings", (search.get("loaded") or {}).get("runs")),
    )
    for text, rows in phases:
        summary = wrk_summary(rows)
        if summary is None:
            key_error = error_of(rows) if isinstance(rows, dict) else None
            lines.append(
                f"| {text} | failed: {key_error or error_of(search) or 'no runs'} | | | | | | |"
            )
            continue
        lines.append(
            f"| {text} | {summary['rps']:,.0f} | {summary['p50']:.1f} | {summary['p99']:.1f} "
            f"| {summary['non_2xx']:,} | {summary['timeouts']:,} | {summary['requests']:,} "
            f"| {summary['runs']} |"
        )
    notes = [
        f"- Load: `wrk -t{settings.get('threads')} -c{settings.get('connections')} "
        f"-d{settings.get('duration')}s --latency --timeout={settings.get('wrk_timeout')}s` on "
        "GET `/v1/search?q=<one-typo table name>&kind=table&database_id=<id>`, "
        f"{len(search.get('queries') or [])} names rotated (the misspelled table first for "
        f"{search.get('found_top1', '?')}, in the top 10 for {search.get('found_top10', '?')}). "
        "Idle: back-to-back runs; during a re-crawl: back-to-back runs from the re-crawl request, "
        "as many as idle (the crawl then finishes unloaded: `catalog up` runs the indexer at a "
        "lower CPU priority, so a saturating load slows the crawl, not search); "
        "cache off: the same data, `catalog up` restarted with "
        "CATALOG_SEARCH_CACHE_MB=0. Medians over the runs, errors summed; where a run has "
        "timeouts its latencies are lower bounds (wrk leaves timeouts out)."
    ]
    first, loaded = search.get("first_crawl"), search.get("loaded") or {}
    crawl = loaded.get("crawl")
    if first and crawl and first.get("duration") and crawl.get("duration"):
        notes.append(
            f"- The re-crawl, loaded for its first {len(loaded.get('runs') or [])} runs, took "
            f"{secs(crawl['duration'])} s against "
            f"{secs(first['duration'])} s for this catalog's first crawl, unloaded "
            f"(×{crawl['duration'] / first['duration']:.2f}); crawler peak RSS during it "
            f"{mb(crawl['peak_catalog'])} MB."
        )
    return [*lines, "", *notes]


def browse_lines(result: Json) -> list[str]:
    paging, seed = result.get("paging") or {}, result.get("seed") or {}
    rss = seed.get("rss") or {}
    return [
        "| tables | pages × size | first / middle / last 10% ms | last ÷ first | all pages s "
        "| GET /{id} MB | to the end s | gateway RSS growth MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {paging.get('tables', 0):,} | {paging.get('pages')} × {paging.get('page_size')} "
        f"| {paging.get('first_ms', 0):.1f} / {paging.get('middle_ms', 0):.1f} / "
        f"{paging.get('last_ms', 0):.1f} | {paging.get('last_over_first', 0):.2f} "
        f"| {secs(paging.get('seconds'))} | {seed.get('bytes', 0) / MB:.1f} "
        f"| {secs(seed.get('seconds'))} | {mb(rss.get('growth'))} |",
    ]


def failures(data: Json) -> list[str]:
    found = []
    for label, record in data["sizes"].items():
        for key, value in record.items():
            if error_of(value) and isinstance(value, dict):
                found.append(f"- {label} {key}: {error_of(value)}")
            for name, row in value.items() if key in ("floors", "search") and value else []:
                if isinstance(row, dict) and error_of(row):
                    found.append(f"- {label} {key} {name}: {error_of(row)}")
    return found


def section(data: Json, plot: Path, docs: Path) -> str:
    m = data["machine"]
    load_start, load_end = data.get("load_average_at_start"), data.get("load_average_at_end")
    load = ""
    if load_start and load_end:
        load = f"; load average {load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end"
    wall = data.get("wall_seconds")
    sizes = ", ".join(f"{record['tables']:,}" for record in data["sizes"].values())
    json_name = data.get("json_path", "docs/scale-results.json")
    lines = [
        BEGIN,
        "## Scale: crawl time against catalog size",
        "",
        f"Everything the scale issue measures, {sizes} tables × 10 columns, in one run of one "
        f"command ({'unfinished' if wall is None else f'{wall / 60:.0f} min'}):",
        "",
        "```sh",
        f"{data['command']}",
        "```",
        "",
        f"Measured {data['started_at']} to {data.get('finished_at', '(cut short)')} (UTC) at "
        f"commit {data['commit']}, on {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, "
        f"shared with other work{load}; Python {m['python']}, tantivy-py {m['tantivy']}, "
        f"SQLAlchemy {m['sqlalchemy']}, PostgreSQL {m.get('postgresql', '?')} (the targets), "
        f"{m['wrk']}. `catalog up` on embedded defaults (workers {data['settings']['workers']}, "
        f"batch size {data['settings']['batch_size']}). Raw results: `{json_name}`; "
        f"`python -m bench.scale --from-json {json_name} --write-docs` renders this section "
        "and the plot again without measuring.",
        "",
        f"![crawl time against catalog size, log-log]({os.path.relpath(plot, docs.parent)})",
        "",
        "| goal | measured | |",
        "|---|---|---|",
        *(f"| {goal} | {measured} | {result} |" for goal, measured, result in goal_rows(data)),
        "",
    ]
    for label, record in data["sizes"].items():
        lines += [*size_lines(label, record, data["repeat"]), ""]
    largest = data["sizes"].get(data["largest"])
    if largest and not error_of(largest.get("build")):
        lines += [
            f"### At {largest['tables']:,} tables: workers, browsing, search under load",
            "",
            "Batches per worker come from the indexer's `worker <pid>:<slot> acked "
            "catalog.crawl.batch` lines; workers are the pull loops of the one indexer process.",
            "",
            *workers_lines(largest),
            "",
        ]
        if error_of(largest.get("browse")):
            lines += [f"Browsing failed: {error_of(largest.get('browse'))}", ""]
        else:
            lines += [*browse_lines(largest["browse"]), ""]
        search = largest.get("search")
        if search is None or (error_of(search) and not search.get("idle")):
            lines += [f"Search under load failed: {error_of(search)}", ""]
        else:
            lines += [*search_lines(search), ""]
    found = failures(data)
    if found:
        lines += ["Failed steps:", "", *found, ""]
    lines.append(END)
    return "\n".join(lines)


def write_docs(text: str, path: Path) -> None:
    """Replace the section between the markers, or put it right after the title; keep the rest.

    Re-read right before writing: others edit the file's other sections.
    """
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    if BEGIN in current and END in current:
        before, rest = current.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        updated = before + text + after
    else:
        lines = current.splitlines(keepends=True)
        title = next((i for i, line in enumerate(lines) if line.startswith("# ")), -1)
        head, tail_lines = "".join(lines[: title + 1]), "".join(lines[title + 1 :])
        updated = f"{head}\n{text}\n{tail_lines}" if title >= 0 else f"{text}\n\n{current}"
    path.write_text(updated)
    print(f"wrote the scale section of {path}")


def draw(data: Json, path: Path) -> None:
    """Seconds against tables on log axes: ours, the floor, and each alternative."""
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    records = list(data["sizes"].values())
    figure, axes = plt.subplots(figsize=(8.5, 5.5))
    for label, seconds_of, style in PLOT_LINES:
        points = [(r["tables"], s) for r in records if (s := seconds_of(r)) is not None]
        if points:
            xs, ys = zip(*points, strict=True)
            axes.plot(xs, ys, linestyle=style, marker="o", label=label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    ticks = [record["tables"] for record in records]
    axes.set_xticks(ticks)
    axes.set_xticklabels([f"{t:,}" for t in ticks])
    axes.xaxis.set_minor_formatter(NullFormatter())
    if len(ticks) == 1:  # one size: a decade either side, so the axis is readable
        axes.set_xlim(ticks[0] / 3, ticks[0] * 3)
    axes.set_xlabel(f"tables (× {COLUMNS} columns)")
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    runs = data["repeat"]
    axes.set_ylabel(f"seconds (median of {runs} run{'s' * (runs > 1)})")
    axes.set_title(f"Crawl time against catalog size — {data['started_at'][:10]}, {data['commit']}")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    print(f"wrote {path}")


# ---- command line --------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5432)
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--password", default="bench", help="trust auth ignores it")
    parser.add_argument("--inspector-sample", type=int, default=500)
    parser.add_argument("--search-duration", type=int, default=20, help="seconds per wrk run")
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds per crawl and per floor run"
    )
    parser.add_argument("--ready-timeout", type=float, default=120)
    parser.add_argument("--keep", action="store_true", help="keep the catalogs' data folders")
    args = parser.parse_args(argv)
    labels = [label for label, _ in args.sizes]
    if not labels or len(set(labels)) != len(labels):
        parser.error("--sizes needs distinct sizes")
    if args.repeat < 1 or args.inspector_sample < 1 or args.search_duration < 1:
        parser.error("--repeat, --inspector-sample and --search-duration must be positive")
    return args


def render(data: Json, args: argparse.Namespace) -> None:
    text = section(data, args.plot, args.docs)
    print()
    print(text)
    if args.write_docs:
        draw(data, args.plot)
        write_docs(text, args.docs)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.from_json:
        render(json.loads(args.from_json.read_text()), args)
        return 0
    json_path = args.json or (
        DOCS_JSON if args.write_docs else Path(tempfile.gettempdir()) / "bench-scale.json"
    )
    data = asyncio.run(measure(args, argv, json_path.resolve()))
    say(f"all measured in {data['wall_seconds'] / 60:.1f} min; results in {json_path}")
    render(data, args)
    return 1 if failures(data) else 0


if __name__ == "__main__":
    sys.exit(main())
