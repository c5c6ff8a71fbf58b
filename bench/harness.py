"""What the benchmarks share: `catalog up` in a fresh data folder, registration, crawl polling,
and peak RSS sampling of the catalog process and its embedded engines."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import aiohttp
import psutil

from catalog.embedded import free_port

CATALOG = str(Path(sys.executable).parent / "catalog")
POLL_SECONDS = 0.05
SAMPLE_SECONDS = 0.1
MB = 1024 * 1024
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


def _runs_module(proc: psutil.Process, module: str) -> bool:
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
        crawler = sum(_rss(p) for p in tree if _runs_module(p, "indexer"))
        gateways = sum(_rss(p) for p in tree if _runs_module(p, "gateway"))
        rest = [
            p for p in tree if not _runs_module(p, "indexer") and not _runs_module(p, "gateway")
        ]
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


def add_catalog_args(parser: argparse.ArgumentParser, database: str) -> None:
    """The options every bench that crawls a target in `catalog up` takes."""
    parser.add_argument("--database", default=database, help="the target database to crawl")
    parser.add_argument("--engine", default="postgresql", choices=["postgresql", "mysql"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5432)
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--password", default="bench", help="trust auth ignores it")
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


@contextlib.contextmanager
def kept_on_failure(keep: bool) -> Iterator[Folder]:
    """Remove the folder the caller sets once its work succeeded (unless `keep`); after a
    failure, keep it for inspection and show the last lines of its `catalog up` log."""
    folder = Folder()
    try:
        yield folder
    except BaseException:
        if folder.path is not None:
            log = folder.path / "catalog-up.log"
            print(f"\nlast lines of {log}:\n{tail(log)}", file=sys.stderr)
            print(f"kept {folder.path} for inspection", file=sys.stderr)
        raise
    if folder.path is not None:
        if keep:
            print(f"kept {folder.path}")
        else:
            shutil.rmtree(folder.path, ignore_errors=True)


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
