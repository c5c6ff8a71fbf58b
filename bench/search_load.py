"""Search under load with wrk: idle, and while the same database is re-crawled.

    python -m bench.search_load --database bench_100k --write-docs

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
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from random import Random
from urllib.parse import urlencode

import aiohttp
import asyncpg
import psutil

from bench.harness import (
    MB,
    BenchError,
    CatalogUp,
    Peaks,
    Target,
    add_catalog_args,
    catalog_up,
    register,
    request_crawl,
    sampling_memory,
    search_env,
    tail,
    wait_for_crawl,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
SECTION = "## Search under load (idle and while crawling)"
GOALS = "idle >= 2,000 req/s with p99 < 20 ms; during a crawl p99 < 50 ms"
# A run stopped at the crawl's end this soon after it began says too little to count.
MIN_RUN_SECONDS = 5.0
# With --distinct, queries set apart to check what the searches find (and so never in the load).
CHECKED_DISTINCT = 200
LETTERS = "abcdefghijklmnopqrstuvwxyz"
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
LATENCY = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
REQUESTS = re.compile(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)")
RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass
class WrkRun:
    rps: float
    p50: float  # ms
    p99: float  # ms
    requests: int
    seconds: float
    errors: int  # non-2xx responses plus socket errors
    non_2xx: int = 0
    timeouts: int = 0  # no answer within wrk's --timeout: left out of the latency distribution
    cut: bool = False  # stopped with SIGINT when the crawl completed
    output: str = ""


@dataclass
class Crawl:
    wall: float  # requested (or registered) -> seen complete, polled
    duration: float | None  # the crawl's own started -> finished
    tables: int
    columns: int
    peak_catalog: int = 0
    peak_embedded: int = 0


@dataclass
class Results:
    build_note: str = ""
    startup: float = 0.0
    first: Crawl | None = None
    idle_crawl: Crawl | None = None
    idle: list[WrkRun] = field(default_factory=list)
    loaded_crawl: Crawl | None = None
    loaded: list[WrkRun] = field(default_factory=list)
    queries: list[tuple[str, str]] = field(default_factory=list)  # (table, typo)
    found_top10: int = 0
    found_top1: int = 0
    checked: int = 0  # queries checked for what they find (with --distinct, not in the load)
    distinct: bool = False
    peak_overall: Peaks = field(default_factory=Peaks)
    profile_lines: list[str] = field(default_factory=list)
    log: Path | None = None  # catalog up's log, for a failure's last lines
    wrk_timeout: float = 2.0


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


async def check_queries(
    http: aiohttp.ClientSession,
    base: str,
    database_id: str,
    results: Results,
    queries: list[tuple[str, str]],
    kind: str,
) -> None:
    """Every query must answer 200; count how often the misspelled table is found."""
    for table, typo in queries:
        async with http.get(base + search_path(typo, database_id, kind)) as response:
            if response.status != 200:
                raise BenchError(f"search {typo!r} answered {response.status}: "
                                 f"{(await response.text())[:300]}")  # fmt: skip
            hits = (await response.json())["hits"]
        tables = [hit["table"] for hit in hits]
        results.found_top10 += table in tables
        results.found_top1 += bool(tables) and tables[0] == table


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


# ---- wrk -----------------------------------------------------------------------------------


def _ms(value: str, unit: str) -> float:
    return float(value) * UNITS[unit]


def parse_wrk(output: str, cut: bool = False) -> WrkRun:
    latencies = {p: _ms(v, u) for p, v, u in LATENCY.findall(output)}
    requests, rps = REQUESTS.search(output), RPS.search(output)
    if not requests or not rps or "50" not in latencies or "99" not in latencies:
        raise BenchError(f"cannot parse wrk output:\n{output}")
    non_2xx = NON_2XX.search(output)
    sockets = SOCKET_ERRORS.search(output)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (
        sum(int(n) for n in sockets.groups()) if sockets else 0
    )
    return WrkRun(
        rps=float(rps.group(1)),
        p50=latencies["50"],
        p99=latencies["99"],
        requests=int(requests.group(1)),
        seconds=_ms(requests.group(2), requests.group(3)) / 1e3,
        errors=errors,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        timeouts=int(sockets.group(4)) if sockets else 0,
        cut=cut,
        output=output,
    )


def wrk_command(args: argparse.Namespace, up: CatalogUp, script: Path) -> list[str]:
    return [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--latency",
        f"--timeout={args.wrk_timeout:g}s",
        "-s",
        str(script),
        "-H",
        f"Authorization: Bearer {up.token}",
        up.base,
    ]


async def run_wrk(command: list[str], until: asyncio.Event | None = None) -> WrkRun:
    """One wrk run; if `until` is set before it ends, stop it there (SIGINT: wrk still reports)."""
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    finished = asyncio.ensure_future(proc.communicate())
    cut = False
    if until is not None:
        stopped = asyncio.ensure_future(until.wait())
        await asyncio.wait({finished, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not finished.done():
            cut = True
            proc.send_signal(signal.SIGINT)
        stopped.cancel()
    out, _ = await finished
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise BenchError(f"wrk exited with {proc.returncode}:\n{text}")
    return parse_wrk(text, cut)


def show(label: str, run: WrkRun) -> None:
    note = " (stopped at crawl end)" if run.cut else ""
    errors = (
        f", {run.errors} errors ({run.non_2xx} non-2xx, {run.timeouts} timeouts)"
        if run.errors
        else ""
    )
    print(
        f"{label}: {run.rps:.0f} req/s, p50 {run.p50:.2f} ms, p99 {run.p99:.2f} ms, "
        f"{run.requests} requests in {run.seconds:.1f} s{errors}{note}",
        flush=True,
    )


# ---- crawls --------------------------------------------------------------------------------


async def crawl_under(
    http: aiohttp.ClientSession,
    up: CatalogUp,
    database_id: str,
    args: argparse.Namespace,
    load: Load | None,
    label: str,
) -> tuple[Crawl, list[WrkRun]]:
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
    crawl = Crawl(
        wall, status["duration_seconds"], status["tables"], status["columns"],
        peaks.catalog, peaks.embedded,
    )  # fmt: skip
    print(
        f"{label}: crawl {fmt(crawl.duration)} s (requested -> complete {wall:.1f} s), "
        f"peak RSS catalog {crawl.peak_catalog / MB:.0f} MB",
        flush=True,
    )
    return crawl, runs


# ---- profiling -----------------------------------------------------------------------------


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy")
    return found


async def start_profile(
    pid: int, out: Path, rate: int, gil: bool = True
) -> asyncio.subprocess.Process:
    # Raw (collapsed) stacks, so the top frames can be summed here as text. With --gil only the
    # thread holding the GIL is sampled: where the one core of Python goes. Native code that
    # releases the GIL (tantivy's Rust, once called) is then not counted. --subprocesses: the
    # pid is `catalog up`'s supervisor, and the gateways and the indexer are its children.
    return await asyncio.create_subprocess_exec(
        py_spy(), "record", "--pid", str(pid), "--subprocesses", "--rate", str(rate),
        "--format", "raw",
        "--output", str(out), "--duration", "3600", *(["--gil"] if gil else []),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def stop_profile(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)  # py-spy writes what it has on Ctrl-C
        async with asyncio.timeout(60):
            await proc.wait()


def _frame(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/module.py:123)": keep function and file.
    match = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
    if not match:
        return frame
    name, path = match.groups()
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


# Leaves where py-spy sees a thread as busy though it waits in C (without --gil).
IDLE_LEAVES = ("_worker (concurrent/futures/thread.py)", "_do_waitpid (asyncio/unix_events.py)")
# Frames on nearly every stack, which say nothing about where the time goes.
PLUMBING = ("threading.py", "asyncio/", "<module>", "main (catalog/cli.py)", "<string>")


def summarise_profile(raw: Path, top: int) -> list[str]:
    """Top frames of a py-spy raw profile: by own samples, and by samples under the frame."""
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_frame(f) for f in stack.split(";") if f]
        if not frames or frames[-1] in IDLE_LEAVES:
            continue
        total += n
        own[frames[-1]] += n
        for name in set(frames):
            if not any(marker in name for marker in PLUMBING):
                under[name] += n
    if not total:
        return [f"{raw.name}: no samples"]
    lines = [f"{raw.name}: {total} samples"]
    lines.append("  own time (the frame itself was running):")
    lines += [f"    {n / total:6.1%}  {name}" for name, n in own.most_common(top)]
    lines.append(
        "  total time (the frame was on the stack; event loop and thread plumbing left out):"
    )
    lines += [f"    {n / total:6.1%}  {name}" for name, n in under.most_common(top * 2)]
    return lines


# ---- the run -------------------------------------------------------------------------------


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def counted(runs: list[WrkRun]) -> list[WrkRun]:
    """The runs the medians are over: all but stubs cut short at the crawl's end."""
    kept = [run for run in runs if run.requests and run.seconds >= MIN_RUN_SECONDS]
    return kept or runs


def median(runs: list[WrkRun], attr: str) -> float:
    return statistics.median(getattr(run, attr) for run in counted(runs))


def load_env(args: argparse.Namespace) -> dict[str, str]:
    """`catalog up`'s extra environment: --env, and the rate limit out of the way (it would cap
    one token's load far below what is measured here)."""
    return {
        "CATALOG_RATE_LIMIT": str(args.rate_limit),
        "CATALOG_RATE_BURST": str(args.rate_limit),
        **search_env(args),
        **dict(pair.split("=", 1) for pair in args.env),
    }


async def measure(args: argparse.Namespace, results: Results) -> None:
    target = Target(args.database, args.host, args.port, args.user, args.password)
    results.queries = await pick_queries(target, args.queries, args.seed)
    async with catalog_up(args.workers, args.batch_size, args.ready_timeout, load_env(args)) as up:
        results.startup, results.log = up.startup, up.log
        connector = aiohttp.TCPConnector(limit=4)
        try:
            async with (
                sampling_memory(up.proc.pid, up.data_dir, results.peak_overall),
                aiohttp.ClientSession(headers=up.headers, connector=connector) as http,
            ):
                await run_phases(args, results, up, target, http)
        finally:
            if args.keep or args.profile:
                print(f"kept {up.temp}")
            else:
                shutil.rmtree(up.temp, ignore_errors=True)


async def first_crawl(
    http: aiohttp.ClientSession, up: CatalogUp, target: Target, args: argparse.Namespace
) -> tuple[str, Crawl]:
    """Register the target and wait for its crawl: the database id, and the crawl measured."""
    peaks = Peaks()
    async with sampling_memory(up.proc.pid, up.data_dir, peaks):
        started = time.perf_counter()
        database_id = await register(http, up.base, target, "search-load")
        async with asyncio.timeout(args.timeout):
            status = await wait_for_crawl(http, up.base, database_id)
        wall = time.perf_counter() - started
    crawl = Crawl(
        wall, status["duration_seconds"], status["tables"], status["columns"],
        peaks.catalog, peaks.embedded,
    )  # fmt: skip
    print(
        f"registration -> complete {wall:.1f} s (crawl {fmt(crawl.duration)} s), "
        f"{status['tables']} tables, {status['columns']} columns, "
        f"peak RSS catalog {peaks.catalog / MB:.0f} MB, engines {peaks.embedded / MB:.0f} MB",
        flush=True,
    )
    return database_id, crawl


async def checked_queries(
    http: aiohttp.ClientSession,
    up: CatalogUp,
    database_id: str,
    results: Results,
    queries: list[tuple[str, str]],
    kind: str,
) -> None:
    """check_queries, with what it found printed."""
    await check_queries(http, up.base, database_id, results, queries, kind)
    results.checked = len(queries)
    print(
        f"{len(queries)} one-typo queries checked, e.g. "
        + ", ".join(f"{t} -> {q}" for t, q in queries[:3])
        + f"; misspelled table in the top 10 for {results.found_top10}, first for "
        f"{results.found_top1}",
        flush=True,
    )


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


async def run_phases(
    args: argparse.Namespace,
    results: Results,
    up: CatalogUp,
    target: Target,
    http: aiohttp.ClientSession,
) -> None:
    database_id, results.first = await first_crawl(http, up, target, args)
    # With --distinct the check uses queries of its own, so the load's are never cached.
    checked = results.queries[-CHECKED_DISTINCT:] if args.distinct else results.queries
    await checked_queries(http, up, database_id, results, checked, args.kind)
    sent = results.queries[:-CHECKED_DISTINCT] if args.distinct else results.queries
    load = Load(args, up, database_id, sent)
    if args.idle_recrawl:
        results.idle_crawl, _ = await crawl_under(
            http, up, database_id, args, None, "idle re-crawl"
        )
    results.idle = await idle_runs(load, args.repeat)
    results.loaded_crawl, results.loaded = await crawl_under(
        http, up, database_id, args, load, "loaded re-crawl"
    )
    if args.profile:
        await profile(args, results, up, database_id, http, load)


async def profile(
    args: argparse.Namespace,
    results: Results,
    up: CatalogUp,
    database_id: str,
    http: aiohttp.ClientSession,
    load: Load,
) -> None:
    out = Path(args.profile)  # created by main()
    idle_raw, crawl_raw = out / "idle.txt", out / "crawl.txt"
    spy = await start_profile(up.proc.pid, idle_raw, args.profile_rate, args.profile_gil)
    try:
        show("profiled idle wrk", await run_wrk(load.next_command()))
    finally:
        await stop_profile(spy)
    spy = await start_profile(up.proc.pid, crawl_raw, args.profile_rate, args.profile_gil)
    try:
        await crawl_under(http, up, database_id, args, load, "profiled loaded re-crawl")
    finally:
        await stop_profile(spy)
    for raw in (idle_raw, crawl_raw):
        results.profile_lines += summarise_profile(raw, args.profile_top)
    print("\n".join(results.profile_lines), flush=True)
    (out / "summary.txt").write_text("\n".join(results.profile_lines) + "\n")


def redacted(command: list[str]) -> list[str]:
    return [
        "Authorization: Bearer $TOKEN" if part.startswith("Authorization:") else part
        for part in command
    ]


# ---- report --------------------------------------------------------------------------------


def table_lines(results: Results) -> list[str]:
    idle, loaded = results.idle, results.loaded
    rows = [("idle", run) for run in idle] + [("during crawl", run) for run in loaded]
    lines = [
        "| phase | run | req/s | p50 ms | p99 ms | requests | seconds | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    counts: Counter[str] = Counter()
    for phase, run in rows:
        counts[phase] += 1
        cut = " (cut at crawl end)" if run.cut else ""
        if run not in counted(idle if phase == "idle" else loaded):
            cut += ", not in the median"
        lines.append(
            f"| {phase} | {counts[phase]}{cut} | {run.rps:.0f} | {run.p50:.2f} | {run.p99:.2f} "
            f"| {run.requests} | {run.seconds:.1f} | {run.errors} |"
        )
    for phase, runs in (("idle", idle), ("during crawl", loaded)):
        if runs:
            lines.append(
                f"| **{phase}** | **median** | **{median(runs, 'rps'):.0f}** "
                f"| **{median(runs, 'p50'):.2f}** | **{median(runs, 'p99'):.2f}** "
                f"| {sum(r.requests for r in counted(runs))} "
                f"| {sum(r.seconds for r in counted(runs)):.1f} "
                f"| {sum(r.errors for r in counted(runs))} |"
            )
    return lines


def summary_lines(results: Results) -> list[str]:
    lines = []
    first, idle_crawl, loaded_crawl = results.first, results.idle_crawl, results.loaded_crawl
    if first:
        lines.append(
            f"- Registration -> complete: {first.wall:.1f} s (the crawl itself "
            f"{fmt(first.duration)} s) for {first.tables:,} tables and {first.columns:,} "
            f"columns; peak RSS of the crawling process (`catalog up`'s indexer) "
            f"{first.peak_catalog / MB:.0f} MB "
            f"(embedded PostgreSQL + NATS, summed, {first.peak_embedded / MB:.0f} MB)."
        )
    if idle_crawl and loaded_crawl and idle_crawl.duration and loaded_crawl.duration:
        lines.append(
            f"- Re-crawl with no load: {idle_crawl.duration:.1f} s; under search load: "
            f"{loaded_crawl.duration:.1f} s (x{loaded_crawl.duration / idle_crawl.duration:.2f})."
            f" Peak RSS of the indexer during the loaded re-crawl "
            f"{loaded_crawl.peak_catalog / MB:.0f} MB."
        )
    if results.idle and results.loaded:
        idle_p99, loaded_p99 = median(results.idle, "p99"), median(results.loaded, "p99")
        lines.append(
            f"- Medians idle: {median(results.idle, 'rps'):.0f} req/s, p50 "
            f"{median(results.idle, 'p50'):.2f} ms, p99 {idle_p99:.2f} ms. During the crawl: "
            f"{median(results.loaded, 'rps'):.0f} req/s, p50 {median(results.loaded, 'p50'):.2f}"
            f" ms, p99 {loaded_p99:.2f} ms. p99 during crawl / idle: x{loaded_p99 / idle_p99:.2f}."
        )
        idle_ok = median(results.idle, "rps") >= 2000 and idle_p99 < 20
        lines.append(
            f"- Goals ({GOALS}): idle {'met' if idle_ok else 'missed'}, during crawl "
            f"{'met' if loaded_p99 < 50 else 'missed'}."
        )
    runs = results.idle + results.loaded
    timeouts, non_2xx = sum(r.timeouts for r in runs), sum(r.non_2xx for r in runs)
    if timeouts or non_2xx:
        lines.append(
            f"- wrk counted {non_2xx:,} non-2xx answers and {timeouts:,} timeouts (requests "
            f"unanswered after its {results.wrk_timeout:g} s `--timeout`) over all runs. wrk "
            "leaves timeouts out of the latency distribution, so where a run has them its p50 "
            "and p99 are lower bounds."
        )
    if results.queries:
        lines.append(
            f"- Queries: {len(results.queries):,} one-typo names of real tables, "
            + (
                "each run a slice of its own, none sent twice in a run"
                if results.distinct
                else "rotated by a wrk Lua script"
            )
            + f" (e.g. {', '.join(f'`{q}`' for _, q in results.queries[:4])}); of "
            f"{results.checked} checked, the misspelled table was in the top 10 for "
            f"{results.found_top10} and first for {results.found_top1}."
        )
    return lines


def report(results: Results) -> None:
    print()
    print("\n".join(table_lines(results)))
    print()
    print("\n".join(summary_lines(results)))


def machine() -> str:
    memory = psutil.virtual_memory().total / 1024**3
    cpu = platform.processor() or platform.machine()
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    wrk_version = (wrk.stdout + wrk.stderr).split("\n")[0].strip()
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, shared with other work (noisy); "
        f"Python {platform.python_version()}, {wrk_version}"
    )


def section(results: Results, args: argparse.Namespace, argv: list[str]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    command = " ".join(["python -m bench.search_load", *map(shlex.quote, argv)])
    wrk = (
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency "
        f"--timeout={args.wrk_timeout:g}s -s search.lua "
        '-H "Authorization: Bearer $TOKEN" http://127.0.0.1:$PORT'
    )
    parts = [
        SECTION,
        "",
        f"Measured {when} at commit {commit or '?'} (working tree with others' edits in "
        f"progress) on {machine()}. `catalog up` on embedded defaults (workers "
        f"{args.workers}, batch size {args.batch_size}), wrk on the same machine, so wrk, the "
        "embedded PostgreSQL and `catalog up`'s processes (a gateway per CPU, the indexer at a "
        "lower CPU priority) share the 2 cores. The per-caller rate limit is lifted for the run "
        f"(CATALOG_RATE_LIMIT = CATALOG_RATE_BURST = {args.rate_limit}): one token makes all "
        "the load.",
        "",
        "```sh",
        "apt-get install -y wrk",
        f"python -m bench.build_catalog --tables 100000 --columns 10 --schemas 20 "
        f"--database {args.database}",
        command,
        f"# each measurement: {wrk}",
        "```",
        "",
        "Load: GET `/v1/search?q=<one-typo table name>&kind=table&database_id=<id>`, "
        + (
            f"{args.queries - CHECKED_DISTINCT:,} distinct queries, each run a slice of its "
            "own (no query repeated within a run: every search misses the answer cache), "
            if args.distinct
            else f"rotating over {args.queries} queries (after the first round, answer-cache "
            "hits), "
        )
        + f"{args.connections} connections, {args.threads} threads, {args.duration} s per run; "
        f"idle {args.repeat} runs; during the crawl, runs back to back from the re-crawl "
        "request until it is complete (the last run stopped there). Goals from the issues: "
        f"{GOALS}.",
        "",
    ]
    if results.build_note:
        parts += [results.build_note, ""]
    parts += [*summary_lines(results), "", *table_lines(results), ""]
    if results.profile_lines:
        parts += [
            "py-spy (`--profile`: an extra idle run and an extra loaded re-crawl, not in the "
            "medians above):",
            "",
            "```",
            *results.profile_lines,
            "```",
            "",
        ]
    return "\n".join(parts)


def write_docs(text: str, path: Path = DOCS) -> None:
    """Replace this benchmark's section of docs/benchmarks.md, or append it; keep the rest.

    Re-read right before writing: other benchmarks add their own sections to the same file.
    """
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    lines = current.splitlines()
    try:
        start = lines.index(SECTION)
    except ValueError:
        updated = current.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if re.match(r"^#{1,2} ", lines[i])),
            len(lines),
        )
        kept_after = "\n".join(lines[end:])
        updated = "\n".join(lines[:start]) + "\n" + text.rstrip("\n") + "\n"
        if kept_after:
            updated += "\n" + kept_after + "\n"
    path.write_text(updated)
    print(f"wrote the section {SECTION!r} of {path}")


async def main_async(args: argparse.Namespace, argv: list[str]) -> int:
    if shutil.which("wrk") is None:
        print("wrk is not on PATH: apt-get install -y wrk", file=sys.stderr)
        return 1
    if args.profile:
        py_spy()
    results = Results(
        build_note=args.build_note, wrk_timeout=args.wrk_timeout, distinct=args.distinct
    )
    failed = False
    try:
        await measure(args, results)
    except (BenchError, TimeoutError, OSError, aiohttp.ClientError) as exc:
        failed = True
        print(f"benchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    report(results)
    if failed:
        if results.log is not None:
            print(f"\nlast lines of {results.log}:\n{tail(results.log)}", file=sys.stderr)
        return 1
    if args.write_docs:
        write_docs(section(results, args, argv))
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.search_load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per crawl")
    parser.add_argument("--ready-timeout", type=float, default=120)
    parser.add_argument("--profile", metavar="DIR", help="py-spy an extra idle run and crawl")
    parser.add_argument("--profile-rate", type=int, default=100, help="py-spy samples/s")
    parser.add_argument("--profile-top", type=int, default=15, help="frames to list")
    parser.add_argument(
        "--profile-all-threads",
        dest="profile_gil",
        action="store_false",
        help="sample every busy thread, not only the one holding the GIL",
    )
    parser.add_argument("--write-docs", action="store_true", help=f"update {DOCS}")
    parser.add_argument("--build-note", default="", help="a line about the build, for the docs")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
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
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    return asyncio.run(main_async(args, argv))


if __name__ == "__main__":
    sys.exit(main())
