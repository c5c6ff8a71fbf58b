"""What the benchmarks share: `catalog up` in a fresh data folder, registration, crawl polling,
and peak RSS sampling of the catalog process and its embedded engines."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import aiohttp
import asyncpg
import psutil

from bench.records import MB, Machine, WrkRun
from catalog.embedded import free_port

CATALOG = str(Path(sys.executable).parent / "catalog")
POLL_SECONDS = 0.05
SAMPLE_SECONDS = 0.1
BATCH_LINE = re.compile(r"crawl (\S+) batch \d+ indexed: .* in ([\d.]+) s")
# The indexer's line per settled message: which worker (process:pull loop) handled which batch.
WORKER_LINE = re.compile(r"worker (\d+:\d+) acked catalog\.crawl\.batch of crawl (\S+) in ")


class BenchError(Exception):
    pass


@dataclass
class Peaks:
    """Peak resident memory: the crawling process (`catalog up`'s indexer child), its gateway
    processes (summed), and the rest (the supervisor and the embedded engines, summed)."""

    catalog: int = 0
    gateways: int = 0
    embedded: int = 0

    def reset(self) -> None:
        self.catalog = self.gateways = self.embedded = 0


@dataclass
class Target:
    """The database to register: what POST /v1/databases needs besides a name."""

    dbname: str
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = "bench"  # trust auth ignores it
    engine: str = "postgresql"


@dataclass
class CatalogUp:
    """A running `catalog up`: where it listens, its files, and the admin token."""

    proc: asyncio.subprocess.Process
    temp: Path
    data_dir: Path
    log: Path
    base: str
    startup: float = 0.0
    token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _rss(proc: psutil.Process) -> int:
    try:
        return proc.memory_info().rss
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0


def _tree(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc, *proc.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


def _postmaster(data_dir: Path) -> psutil.Process | None:
    # pg_ctl daemonises the postmaster, so it is no child of `catalog up`: use its pid file.
    pid_file = data_dir / "postgres" / "postmaster.pid"
    try:
        return psutil.Process(int(pid_file.read_text().split()[0]))
    except (OSError, ValueError, IndexError, psutil.NoSuchProcess):
        return None


def runs_module(proc: psutil.Process, module: str) -> bool:
    try:
        return proc.cmdline()[1:3] == ["-m", module]
    except (psutil.NoSuchProcess, psutil.AccessDenied, IndexError):
        return False


@contextlib.asynccontextmanager
async def sampling_memory(pid: int, data_dir: Path, *peaks: Peaks) -> AsyncIterator[None]:
    """Sample RSS into `peaks` while the block runs."""
    sampler = asyncio.create_task(_sample_memory(pid, data_dir, *peaks))
    try:
        yield
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler


async def _sample_memory(pid: int, data_dir: Path, *peaks: Peaks) -> None:
    """Sample RSS until cancelled. Summed RSS counts PostgreSQL's shared buffers per backend."""
    catalog = psutil.Process(pid)
    while True:
        tree = _tree(catalog)
        crawler = sum(_rss(p) for p in tree if runs_module(p, "indexer"))
        gateways = sum(_rss(p) for p in tree if runs_module(p, "gateway"))
        rest = [p for p in tree if not runs_module(p, "indexer") and not runs_module(p, "gateway")]
        postmaster = _postmaster(data_dir)
        if postmaster is not None:
            rest += _tree(postmaster)
        others = sum(_rss(p) for p in {p.pid: p for p in rest}.values())
        for peak in peaks:
            peak.catalog = max(peak.catalog, crawler)
            peak.gateways = max(peak.gateways, gateways)
            peak.embedded = max(peak.embedded, others)
        await asyncio.sleep(SAMPLE_SECONDS)


async def wait_until_ready(
    http: aiohttp.ClientSession, base: str, proc: asyncio.subprocess.Process
) -> None:
    while True:
        if proc.returncode is not None:
            raise BenchError(f"catalog up exited with {proc.returncode} before it was ready")
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(f"{base}/readyz") as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.1)


def batch_seconds(log: Path, crawl_id: str) -> list[float]:
    """Per-batch seconds as the indexer logs them: where the crawl's time goes."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        match = BATCH_LINE.search(line)
        if match and match.group(1) == crawl_id:
            found.append(float(match.group(2)))
    return found


async def batches_per_worker(
    log: Path, crawl_id: str, batches: int | None = None, wait: float = 5.0
) -> dict[str, int]:
    """How many of the crawl's batches each worker ("pid:slot") acknowledged, from the log.

    The last batch completes the crawl before its message is acked and logged, so a caller that
    saw `complete` waits (up to `wait` seconds) for all `batches` lines.
    """
    deadline = time.monotonic() + wait
    while True:
        found: Counter[str] = Counter()
        text = await asyncio.to_thread(log.read_text, errors="replace")
        for line in text.splitlines():
            match = WORKER_LINE.search(line)
            if match and match.group(2) == crawl_id:
                found[match.group(1)] += 1
        if batches is None or found.total() >= batches or time.monotonic() >= deadline:
            return dict(sorted(found.items()))
        await asyncio.sleep(0.1)


def git_commit() -> str:
    """The short commit, with "+ uncommitted" when the work tree differs from it."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"{head or '?'}{' + uncommitted' if dirty else ''}"


def fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


async def stop(proc: asyncio.subprocess.Process, data_dir: Path) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(60):
                await proc.wait()
        except TimeoutError:
            print("catalog up did not stop within 60 s of SIGTERM; killing it", file=sys.stderr)
            proc.kill()
            await proc.wait()
            # Its embedded PostgreSQL is daemonised and would outlive it; it is ours to stop.
            postmaster = _postmaster(data_dir)
            if postmaster is not None:
                postmaster.send_signal(signal.SIGTERM)
    return proc.returncode if proc.returncode is not None else -1


def script_parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """A bench script's parser: `python -m <module>`, its docstring as the help."""
    return argparse.ArgumentParser(
        prog=f"python -m {module}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_shape_args(parser: argparse.ArgumentParser, tables: int) -> None:
    """The shape of a generated catalog (bench.build_catalog's names and seed)."""
    parser.add_argument("--tables", type=int, default=tables)
    parser.add_argument("--columns", type=int, default=10, help="columns per table, id included")
    parser.add_argument("--schemas", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)


def add_run_args(
    parser: argparse.ArgumentParser,
    keep: str = "keep the catalog's data folder",
    timeout: str = "seconds per crawl",
) -> None:
    """The options of every bench that runs `catalog up`: its time limits, and --keep."""
    parser.add_argument("--timeout", type=float, default=1800, help=timeout)
    parser.add_argument("--ready-timeout", type=float, default=120)
    parser.add_argument("--keep", action="store_true", help=keep)


def add_profile_args(parser: argparse.ArgumentParser, what: str) -> None:
    """--profile DIR and its settings: py-spy over `what`, an extra run not in the medians."""
    parser.add_argument("--profile", metavar="DIR", help=f"py-spy {what}")
    parser.add_argument("--profile-rate", type=int, default=100, help="py-spy samples/s")
    parser.add_argument("--profile-top", type=int, default=15, help="frames to list")
    parser.add_argument(
        "--profile-all-threads",
        dest="profile_gil",
        action="store_false",
        help="sample every busy thread, not only the one holding the GIL",
    )


def add_target_args(parser: argparse.ArgumentParser) -> None:
    """Where the target PostgreSQL (or MySQL) server listens, and as whom to read it."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5432)
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--password", default="bench", help="trust auth ignores it")


def add_catalog_args(parser: argparse.ArgumentParser, database: str) -> None:
    """The options every bench that crawls a target in `catalog up` takes."""
    parser.add_argument("--database", default=database, help="the target database to crawl")
    parser.add_argument("--engine", default="postgresql", choices=["postgresql", "mysql"])
    add_target_args(parser)
    parser.add_argument("--workers", type=int, default=2, help="CATALOG_WORKERS")
    parser.add_argument("--batch-size", type=int, default=500, help="CATALOG_BATCH_SIZE")
    parser.add_argument(
        "--opensearch-url",
        help="index into this OpenSearch (e.g. `make opensearch`'s) instead of embedded tantivy",
    )


def search_env(args: argparse.Namespace) -> dict[str, str]:
    """The search engine `catalog up` writes to: tantivy in its data folder, or the OpenSearch
    of --opensearch-url in an index of this run's own, so runs never see each other's data."""
    if not args.opensearch_url:
        return {}
    return {
        "CATALOG_OPENSEARCH_URL": args.opensearch_url,
        "CATALOG_OPENSEARCH_INDEX": f"bench-{uuid.uuid4().hex[:12]}",
    }


async def opensearch_memory(url: str) -> str:
    """The node's JVM heap in use and its peak resident memory (when it runs on this machine)."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/_nodes/stats/jvm,process") as response:
            (node,) = (await response.json())["nodes"].values()
        async with http.get(f"{url}/_nodes/process") as response:
            (info,) = (await response.json())["nodes"].values()
    heap = node["jvm"]["mem"]
    line = (
        f"OpenSearch node: heap {heap['heap_used_in_bytes'] / MB:.0f} MB used of "
        f"{heap['heap_max_in_bytes'] / MB:.0f} MB"
    )
    peak = peak_rss_mb(info["process"]["id"])
    return line + f", peak RSS since it started {peak:.0f} MB" * bool(peak)


def peak_rss_mb(pid: int) -> float:
    """A process's peak resident memory (VmHWM), in MB; 0 for one that does not run here."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def catalog_env(
    data_dir: Path, port: int, workers: int, batch_size: int, extra: dict[str, str] | None = None
) -> dict[str, str]:
    return {
        **os.environ,
        "CATALOG_DATA_DIR": str(data_dir),
        "CATALOG_PORT": str(port),
        "CATALOG_WORKERS": str(workers),
        "CATALOG_BATCH_SIZE": str(batch_size),
        "CATALOG_LOG_LEVEL": "INFO",  # the per-batch lines say where the time goes
        # Embedded engines whatever the caller's environment says, and a token file to read.
        "CATALOG_DATABASE_URL": "",
        "CATALOG_NATS_URL": "",
        "CATALOG_OPENSEARCH_URL": "",
        "CATALOG_ADMIN_TOKEN": "",
        **(extra or {}),
    }


@contextlib.asynccontextmanager
async def catalog_up(
    workers: int,
    batch_size: int,
    ready_timeout: float,
    extra_env: dict[str, str] | None = None,
    reuse: Path | None = None,
) -> AsyncIterator[CatalogUp]:
    """Start `catalog up` in a fresh temporary folder on a free port; yield once it is ready.

    With `reuse` (an earlier run's `CatalogUp.temp`) it starts again on that folder's data, so
    what was crawled there is served without crawling it again (e.g. under other settings);
    the log is appended to. On exit it is stopped with SIGTERM; a non-zero exit raises
    BenchError. The folder is left for the caller to keep or remove (`CatalogUp.temp`).
    """
    temp = reuse or Path(tempfile.mkdtemp(prefix="bench-catalog-"))
    data_dir, log = temp / "data", temp / "catalog-up.log"
    port = free_port()
    env = catalog_env(data_dir, port, workers, batch_size, extra_env)
    with log.open("ab" if reuse else "wb") as out:
        proc = await asyncio.create_subprocess_exec(
            CATALOG, "up", env=env, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
    print(f"catalog up pid {proc.pid}, data in {data_dir}, log {log}", flush=True)
    up = CatalogUp(proc, temp, data_dir, log, f"http://127.0.0.1:{port}")
    failed = False
    try:
        began = time.perf_counter()
        async with aiohttp.ClientSession() as http, asyncio.timeout(ready_timeout):
            await wait_until_ready(http, up.base, proc)
        up.startup = time.perf_counter() - began
        up.token = (data_dir / "admin-token").read_text().strip()
        yield up
    except BaseException:
        failed = True
        raise
    finally:
        code = await stop(proc, data_dir)
        if code != 0 and not failed:
            raise BenchError(f"catalog up exited with {code}")


@dataclass
class Folder:
    """A catalog's temporary folder, once `catalog up` has made it."""

    path: Path | None = None


def leave(folder: Path, failed: bool, keep: bool) -> None:
    """After a run: keep a failed catalog's folder for inspection (with the last lines of its
    `catalog up` log shown) or one asked to be kept; remove the others."""
    if failed:
        log = folder / "catalog-up.log"
        print(f"\nlast lines of {log}:\n{tail(log)}", file=sys.stderr)
        print(f"kept {folder} for inspection", file=sys.stderr)
    elif keep:
        print(f"kept {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def kept_on_failure(keep: bool) -> Iterator[Folder]:
    """`leave` the folder the caller sets once the block is done, failed or not."""
    folder = Folder()
    try:
        yield folder
    except BaseException:
        if folder.path is not None:
            leave(folder.path, failed=True, keep=keep)
        raise
    if folder.path is not None:
        leave(folder.path, failed=False, keep=keep)


async def register(http: aiohttp.ClientSession, base: str, target: Target, label: str) -> str:
    """Register `target` under a new name (so a new database entry and a full crawl); its id."""
    body = {
        "name": f"{target.dbname}-{label}-{uuid.uuid4().hex[:8]}",
        "engine": target.engine,
        "dbname": target.dbname,
        "host": target.host,
        "port": target.port,
        "user": target.user,
        "password": target.password,
    }
    async with http.post(f"{base}/v1/databases", json=body) as response:
        if response.status != 201:
            raise BenchError(f"registration answered {response.status}: {await response.text()}")
        return (await response.json())["id"]


async def request_crawl(http: aiohttp.ClientSession, base: str, database_id: str) -> dict:
    """POST a re-crawl; the crawl that carries it (the one already queued, or a new one)."""
    async with http.post(f"{base}/v1/databases/{database_id}/crawls") as response:
        if response.status != 202:
            raise BenchError(f"re-crawl answered {response.status}: {await response.text()}")
        return (await response.json())["crawl"]


async def wait_for_crawl(
    http: aiohttp.ClientSession,
    base: str,
    database_id: str,
    crawl_id: str | None = None,
    poll: float = POLL_SECONDS,
) -> dict:
    """Poll until the latest crawl (or `crawl_id`) is complete; its status. Any other end fails.

    No time limit of its own: wrap it in `asyncio.timeout`.
    """
    while True:
        async with http.get(f"{base}/v1/databases/{database_id}") as response:
            if response.status != 200:
                raise BenchError(f"status answered {response.status}: {await response.text()}")
            crawl = (await response.json())["crawl"]
        if crawl and (crawl_id is None or crawl["id"] == crawl_id):
            if crawl["state"] == "complete":
                return crawl
            if crawl["state"] not in ("queued", "running", "finishing"):
                raise BenchError(f"crawl ended {crawl['state']}: {crawl.get('error')}")
        await asyncio.sleep(poll)


# ---- the machine ---------------------------------------------------------------------------


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def machine() -> Machine:
    """What the numbers were measured on; the target PostgreSQL's version is the caller's."""
    cpu = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return Machine(
        cores=os.cpu_count() or 0,
        memory_gib=round(psutil.virtual_memory().total / 1024**3),
        cpu=cpu,
        python=platform.python_version(),
        tantivy=package_version("tantivy"),
        # `wrk -v` prints "wrk <version> [engine] Copyright ..." and exits non-zero.
        wrk=" ".join((wrk.stdout + wrk.stderr).split()[:2]),
    )


async def server_version(host: str, port: int, user: str) -> str:
    connection = await asyncpg.connect(host=host, port=port, user=user, database="postgres")
    try:
        return await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()


# ---- wrk -----------------------------------------------------------------------------------

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
LATENCY = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
REQUESTS = re.compile(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)")
RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def _ms(value: str, unit: str) -> float:
    return float(value) * UNITS[unit]


def parse_wrk(output: str, cut: bool = False) -> WrkRun:
    """wrk --latency's summary as a record."""
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
    )


def wrk_command(args: argparse.Namespace, up: CatalogUp, script: Path) -> list[str]:
    """wrk with add_wrk_args' options and `script` against `up`, as its admin."""
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


def redacted(command: list[str]) -> list[str]:
    return [
        "Authorization: Bearer $TOKEN" if part.startswith("Authorization:") else part
        for part in command
    ]


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


# ---- profiling -----------------------------------------------------------------------------


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy")
    return found


@contextlib.asynccontextmanager
async def profile_catalog(pid: int, out: Path, rate: int, gil: bool = True) -> AsyncIterator[None]:
    """py-spy records `pid` and its children into `out` while the block runs."""
    # Raw (collapsed) stacks, so the top frames can be summed here as text. With --gil only the
    # thread holding the GIL is sampled: where the one core of Python goes. Native code that
    # releases the GIL (tantivy's Rust, once called) is then not counted. --subprocesses: the
    # pid is `catalog up`'s supervisor, and the gateways and the indexer are its children.
    proc = await asyncio.create_subprocess_exec(
        py_spy(), "record", "--pid", str(pid), "--subprocesses", "--rate", str(rate),
        "--format", "raw",
        "--output", str(out), "--duration", "3600", *(["--gil"] if gil else []),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
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


def report_profiles(out: Path, raws: Sequence[Path], top: int, heading: Sequence[str] = ()) -> None:
    """Print the summaries of py-spy raw profiles (after `heading`), and keep them in
    `out`/summary.txt."""
    lines = [*heading, *(line for raw in raws for line in summarise_profile(raw, top))]
    print("\n".join(lines), flush=True)
    (out / "summary.txt").write_text("\n".join(lines) + "\n")


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
