"""Search under load with wrk: idle, and while the same database is re-crawled.

    python -m bench.search_load --database bench_100k --distinct --queries 60000 --repeat 3

Starts `catalog up` (embedded PostgreSQL, NATS and tantivy) in a fresh data folder, registers
the target and waits for its crawl (registration -> complete, crawl duration, peak RSS), re-crawls
it once with no load (the idle re-crawl baseline), then:

- idle: `wrk -t2 -c32 -d20s --latency` --repeat times against
  GET /v1/search?q=<one-typo table name>&kind=table&database_id=<id>, a wrk Lua script rotating
  over --queries one-typo names of real tables of the target;
- while crawling: POST /v1/databases/{id}/crawls, then the same wrk runs back to back until the
  crawl is complete (a run still going when it completes is stopped there with SIGINT, which
  makes wrk print its summary), so every measured request overlaps the crawl.

With --profile DIR it then does one more idle run and one more loaded re-crawl with py-spy
recording the catalog process (these runs are not in the medians) and prints the top frames.
wrk must be on PATH (`apt-get install -y wrk`); py-spy for --profile (`pip install py-spy`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from random import Random
from urllib.parse import urlencode

import aiohttp
import asyncpg

from bench import render
from bench.harness import (
    MB,
    BenchError,
    CatalogUp,
    Peaks,
    Target,
    add_catalog_args,
    add_profile_args,
    add_run_args,
    catalog_up,
    fmt,
    kept_on_failure,
    profile_catalog,
    py_spy,
    redacted,
    register,
    report_profiles,
    request_crawl,
    run_wrk,
    sampling_memory,
    script_parser,
    search_env,
    show,
    wait_for_crawl,
    wrk_command,
)
from bench.records import LoadedCrawl, SearchCrawl, SearchLoad, SearchSettings, WrkRun

# With --distinct, queries set apart to check what the searches find (and so never in the load).
CHECKED_DISTINCT = 200
LETTERS = "abcdefghijklmnopqrstuvwxyz"


# ---- queries -------------------------------------------------------------------------------


def one_typo(name: str, rng: Random) -> str:
    """`name` with one edit (substitution, deletion, insertion or adjacent transposition) inside
    its longest word, so the word keeps at least three letters and stays fuzzy-matchable."""
    words = re.findall(r"[a-z]+", name)
    word = max(words, key=len)
    at = name.index(word)
    for _ in range(20):
        i = rng.randrange(1, len(word) - 1)  # never the first letter: real typos rarely are
        edit = rng.choice(("substitute", "delete", "insert", "transpose"))
        if edit == "substitute":
            typo = word[:i] + rng.choice(LETTERS.replace(word[i], "")) + word[i + 1 :]
        elif edit == "delete":
            typo = word[:i] + word[i + 1 :]
        elif edit == "insert":
            typo = word[:i] + rng.choice(LETTERS) + word[i:]
        else:
            typo = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        if typo != word:
            return name[:at] + typo + name[at + len(word) :]
    raise BenchError(f"cannot misspell {name!r}")


async def pick_queries(target: Target, count: int, seed: int) -> list[tuple[str, str]]:
    """`count` distinct one-typo queries of real table names of the target: each name once
    while there are enough names, then other typos of names drawn again."""
    conn = await asyncpg.connect(
        host=target.host, port=target.port, user=target.user, database=target.dbname
    )
    try:
        names = await conn.fetchval(
            "SELECT array_agg(DISTINCT c.relname ORDER BY c.relname) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND n.nspname NOT LIKE 'pg_toast%'"
        )
    finally:
        await conn.close()
    names = [name for name in names or [] if max(map(len, re.findall(r"[a-z]+", name))) >= 4]
    if not names:
        raise BenchError(f"{target.dbname} has no tables with a word of four letters or more")
    rng = Random(seed)
    picked = {}  # typo -> the name it misspells: every query text distinct
    for name in rng.sample(names, min(count, len(names))):
        picked.setdefault(one_typo(name, rng), name)
    # More queries than names (--distinct): other typos of names drawn again.
    for _ in range(20 * count):
        if len(picked) >= count:
            break
        name = rng.choice(names)
        picked.setdefault(one_typo(name, rng), name)
    return [(name, typo) for typo, name in picked.items()]


def search_path(typo: str, database_id: str, kind: str) -> str:
    """The search of one query; kind `any` is the search box's (no kind parameter)."""
    params = {"q": typo, "database_id": database_id} | ({} if kind == "any" else {"kind": kind})
    return "/v1/search?" + urlencode(params)


async def checked_queries(
    http: aiohttp.ClientSession,
    up: CatalogUp,
    database_id: str,
    results: SearchLoad,
    queries: list[tuple[str, str]],
    kind: str,
) -> None:
    """Every query must answer 200; count (and print) how often the misspelled table is found."""
    for table, typo in queries:
        async with http.get(up.base + search_path(typo, database_id, kind)) as response:
            if response.status != 200:
                raise BenchError(f"search {typo!r} answered {response.status}: "
                                 f"{(await response.text())[:300]}")  # fmt: skip
            hits = (await response.json())["hits"]
        tables = [hit["table"] for hit in hits]
        results.found_top10 += table in tables
        results.found_top1 += bool(tables) and tables[0] == table
    results.checked = len(queries)
    print(
        f"{len(queries)} one-typo queries checked, e.g. "
        + ", ".join(f"{t} -> {q}" for t, q in queries[:3])
        + f"; misspelled table in the top 10 for {results.found_top10}, first for "
        f"{results.found_top1}",
        flush=True,
    )


def lua_distinct(paths: list[str], threads: int) -> str:
    """Each wrk thread walks its own part of the paths once, in order: no query is sent twice in
    the run unless a thread outruns its part (then it starts its part again)."""
    listed = ",\n".join(f"  {json.dumps(path)}" for path in paths)
    return (
        "-- Generated by bench/search_load.py: distinct one-typo table searches.\n"
        f"local paths = {{\n{listed}\n}}\n"
        f"local threads = {threads}\n"
        "started = 0\n"
        "function setup(thread)\n"
        "  thread:set('thread_number', started)\n"
        "  started = started + 1\n"
        "end\n"
        "local first, size, sent\n"
        "function init(args)\n"
        "  size = math.floor(#paths / threads)\n"
        "  first = thread_number * size\n"
        "  sent = 0\n"
        "end\n"
        "function request()\n"
        "  local path = paths[first + sent % size + 1]\n"
        "  sent = sent + 1\n"
        "  return wrk.format(nil, path)\n"
        "end\n"
    )


def lua_script(paths: list[str]) -> str:
    listed = ",\n".join(f"  {json.dumps(path)}" for path in paths)
    return (
        "-- Generated by bench/search_load.py: rotate over one-typo table searches.\n"
        f"local paths = {{\n{listed}\n}}\n"
        "local i = 0\n"
        "function init(args)\n"
        "  -- Threads start at different places in the rotation.\n"
        "  i = math.random(#paths) - 1\n"
        "end\n"
        "function request()\n"
        "  i = i % #paths + 1\n"
        "  return wrk.format(nil, paths[i])\n"
        "end\n"
    )


# ---- crawls --------------------------------------------------------------------------------


def crawl_of(status: dict, wall: float, peaks: Peaks) -> SearchCrawl:
    """A complete crawl's status, timed and sampled by the caller."""
    return SearchCrawl(
        wall, status["duration_seconds"], status["tables"], status["columns"],
        peaks.catalog, peaks.embedded,
    )  # fmt: skip


async def crawl_under(
    http: aiohttp.ClientSession,
    up: CatalogUp,
    database_id: str,
    args: argparse.Namespace,
    load: Load | None,
    label: str,
) -> tuple[SearchCrawl, list[WrkRun]]:
    """Re-crawl; with `load`, run wrk back to back until the crawl is complete, or until
    `args.crawl_runs` runs are done (0: no limit) and the crawl then finishes unloaded: the
    indexer runs niced, so a saturating load slows it many times over."""
    peaks = Peaks()
    runs: list[WrkRun] = []
    complete = asyncio.Event()
    started = time.perf_counter()
    async with sampling_memory(up.proc.pid, up.data_dir, peaks):
        crawl_id = (await request_crawl(http, up.base, database_id))["id"]

        async def watch() -> dict:
            try:
                return await wait_for_crawl(http, up.base, database_id, crawl_id, poll=0.25)
            finally:
                complete.set()

        watcher = asyncio.create_task(watch())
        async with asyncio.timeout(args.timeout):
            while load is not None and not complete.is_set():
                if args.crawl_runs and len(runs) >= args.crawl_runs:
                    break
                run = await run_wrk(load.next_command(), until=complete)
                runs.append(run)
                show(f"{label} wrk {len(runs)}", run)
            status = await watcher
        wall = time.perf_counter() - started
    crawl = crawl_of(status, wall, peaks)
    print(
        f"{label}: crawl {fmt(crawl.duration)} s (requested -> complete {wall:.1f} s), "
        f"peak RSS catalog {crawl.peak_catalog / MB:.0f} MB",
        flush=True,
    )
    return crawl, runs


async def first_crawl(
    http: aiohttp.ClientSession, up: CatalogUp, target: Target, limit: float
) -> tuple[str, SearchCrawl]:
    """Register the target and wait for its crawl: the database id, and the crawl measured."""
    peaks = Peaks()
    async with sampling_memory(up.proc.pid, up.data_dir, peaks):
        started = time.perf_counter()
        database_id = await register(http, up.base, target, "search-load")
        async with asyncio.timeout(limit):
            status = await wait_for_crawl(http, up.base, database_id)
        wall = time.perf_counter() - started
    crawl = crawl_of(status, wall, peaks)
    print(
        f"registration -> complete {wall:.1f} s (crawl {fmt(crawl.duration)} s), "
        f"{status['tables']} tables, {status['columns']} columns, "
        f"peak RSS catalog {peaks.catalog / MB:.0f} MB, engines {peaks.embedded / MB:.0f} MB",
        flush=True,
    )
    return database_id, crawl


@dataclass
class Load:
    """The wrk command of each run: the same rotation over a few queries every run (the answer
    cache's case), or with --distinct, each run its own slice of the queries, so no query is
    sent again until every slice has had its turn."""

    args: argparse.Namespace
    up: CatalogUp
    database_id: str
    queries: list[tuple[str, str]]
    runs: int = 0

    def next_command(self) -> list[str]:
        self.runs += 1
        paths = [search_path(q, self.database_id, self.args.kind) for _, q in self.queries]
        if not self.args.distinct:
            script = self.up.temp / "search.lua"
            if self.runs == 1:
                script.write_text(lua_script(paths))
        else:
            slices = self.args.repeat + max(self.args.crawl_runs, 3)
            size = len(paths) // slices
            start = (self.runs - 1) % slices * size
            script = self.up.temp / f"search-{self.runs}.lua"
            script.write_text(lua_distinct(paths[start : start + size], self.args.threads))
        command = wrk_command(self.args, self.up, script)
        if self.runs == 1:
            print("wrk command: " + shlex.join(redacted(command)), flush=True)
        return command


async def idle_runs(load: Load, repeat: int, label: str = "idle") -> list[WrkRun]:
    runs = []
    for number in range(1, repeat + 1):
        runs.append(await run_wrk(load.next_command()))
        show(f"{label} wrk {number}", runs[-1])
    return runs


def settings_of(args: argparse.Namespace) -> SearchSettings:
    return SearchSettings(
        args.connections, args.threads, args.duration, args.wrk_timeout, args.repeat
    )


def load_env(args: argparse.Namespace) -> dict[str, str]:
    """`catalog up`'s extra environment: --env, and the rate limit out of the way (it would cap
    one token's load far below what is measured here)."""
    return {
        "CATALOG_RATE_LIMIT": str(args.rate_limit),
        "CATALOG_RATE_BURST": str(args.rate_limit),
        **search_env(args),
        **dict(pair.split("=", 1) for pair in args.env),
    }


# ---- the run -------------------------------------------------------------------------------


async def measure(args: argparse.Namespace) -> SearchLoad:
    """Every phase in one `catalog up`; with --profile, then the profiled runs."""
    target = Target(args.database, args.host, args.port, args.user, args.password)
    results = SearchLoad(settings=settings_of(args))
    results.queries = await pick_queries(target, args.queries, args.seed)
    with kept_on_failure(args.keep or bool(args.profile)) as folder:
        async with catalog_up(
            args.workers, args.batch_size, args.ready_timeout, load_env(args)
        ) as up:
            folder.path = up.temp
            connector = aiohttp.TCPConnector(limit=4)
            async with aiohttp.ClientSession(headers=up.headers, connector=connector) as http:
                database_id, results.first_crawl = await first_crawl(http, up, target, args.timeout)
                # With --distinct the check uses queries of its own: the load's are never cached.
                checked = results.queries[-CHECKED_DISTINCT:] if args.distinct else results.queries
                await checked_queries(http, up, database_id, results, checked, args.kind)
                sent = results.queries[:-CHECKED_DISTINCT] if args.distinct else results.queries
                load = Load(args, up, database_id, sent)
                if args.idle_recrawl:
                    results.idle_crawl, _ = await crawl_under(
                        http, up, database_id, args, None, "idle re-crawl"
                    )
                results.idle = await idle_runs(load, args.repeat)
                crawl, runs = await crawl_under(
                    http, up, database_id, args, load, "loaded re-crawl"
                )
                results.loaded = LoadedCrawl(crawl, runs)
                if args.profile:
                    await profile(args, up, database_id, http, load)
    return results


async def profile(
    args: argparse.Namespace,
    up: CatalogUp,
    database_id: str,
    http: aiohttp.ClientSession,
    load: Load,
) -> None:
    """py-spy an extra idle run and an extra loaded re-crawl (not in the medians)."""
    out = Path(args.profile)
    idle_raw, crawl_raw = out / "idle.txt", out / "crawl.txt"
    async with profile_catalog(up.proc.pid, idle_raw, args.profile_rate, args.profile_gil):
        show("profiled idle wrk", await run_wrk(load.next_command()))
    async with profile_catalog(up.proc.pid, crawl_raw, args.profile_rate, args.profile_gil):
        await crawl_under(http, up, database_id, args, load, "profiled loaded re-crawl")
    report_profiles(out, (idle_raw, crawl_raw), args.profile_top)


async def main_async(args: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        print("wrk is not on PATH: apt-get install -y wrk", file=sys.stderr)
        return 1
    if args.profile:
        py_spy()
    try:
        results = await measure(args)
    except (BenchError, TimeoutError, OSError, aiohttp.ClientError) as exc:
        print(f"benchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print()
    print(
        "\n".join(
            render.wrk_run_lines(results.idle or [], results.loaded.runs if results.loaded else [])
        )
    )
    print()
    print("\n".join(render.search_load_summary(results, args.distinct)))
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = script_parser("bench.search_load", __doc__)
    add_catalog_args(parser, "bench_100k")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t")
    parser.add_argument("--connections", type=int, default=32, help="wrk -c")
    parser.add_argument("--duration", type=int, default=20, help="wrk -d, seconds per run")
    parser.add_argument("--repeat", type=int, default=3, help="idle wrk runs")
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=1_000_000,
        help="CATALOG_RATE_LIMIT and CATALOG_RATE_BURST for the run (default: out of the way)",
    )
    parser.add_argument(
        "--wrk-timeout", type=float, default=2, help="wrk --timeout, seconds (wrk's default: 2)"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for catalog up, e.g. CATALOG_SEARCH_CACHE_MB=0 (repeatable)",
    )
    parser.add_argument(
        "--crawl-runs",
        type=int,
        default=0,
        help="wrk runs during the re-crawl at most (0: until it is complete)",
    )
    parser.add_argument("--queries", type=int, default=20, help="one-typo names to rotate")
    parser.add_argument(
        "--kind",
        choices=("table", "any"),
        default="table",
        help="kind=table, or any: the search box's (no kind), which also ranks columns",
    )
    parser.add_argument(
        "--distinct",
        action="store_true",
        help="never repeat a query within a run (answer cache on, every query new); "
        "needs --queries of 20,000 or more",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--no-idle-recrawl",
        dest="idle_recrawl",
        action="store_false",
        help="skip the re-crawl with no load (the baseline for the loaded re-crawl)",
    )
    add_profile_args(parser, "an extra idle run and crawl")
    add_run_args(parser)
    args = parser.parse_args(argv)
    for name in ("workers", "batch_size", "threads", "connections", "duration", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if any("=" not in pair for pair in args.env):
        parser.error("--env takes NAME=VALUE")
    if args.distinct and args.queries < 20_000:
        parser.error("--distinct needs --queries 20000 or more")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
