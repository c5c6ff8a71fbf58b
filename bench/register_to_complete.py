"""Time from registering a database to its crawl being complete, with `catalog up` embedded.

    python -m bench.register_to_complete --database bench_1k --repeat 3

Starts `catalog up` (embedded PostgreSQL, NATS and tantivy) in a fresh data folder, registers
the target database --repeat times (each registration is a new database entry, so a new full
crawl), and polls its status every 50 ms. Build the target with bench.build_catalog first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
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


class BenchError(Exception):
    pass


@dataclass
class Peaks:
    """Peak resident memory, split into the crawling process and its embedded engines."""

    catalog: int = 0
    embedded: int = 0

    def reset(self) -> None:
        self.catalog = self.embedded = 0


@dataclass
class Run:
    wall: float
    duration: float | None
    queued: float | None  # requested -> started: queueing plus listing the relations
    tables: int
    columns: int
    batches: int | None
    batch_seconds: list[float] = field(default_factory=list)
    peak_catalog: int = 0
    peak_embedded: int = 0


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


async def sample_memory(pid: int, data_dir: Path, run: Peaks, overall: Peaks) -> None:
    """Sample RSS until cancelled. Summed RSS counts PostgreSQL's shared buffers per backend."""
    catalog = psutil.Process(pid)
    while True:
        own = _rss(catalog)
        embedded = [p for p in _tree(catalog) if p.pid != pid]
        postmaster = _postmaster(data_dir)
        if postmaster is not None:
            embedded += _tree(postmaster)
        others = sum(_rss(p) for p in {p.pid: p for p in embedded}.values())
        for peaks in (run, overall):
            peaks.catalog = max(peaks.catalog, own)
            peaks.embedded = max(peaks.embedded, others)
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


async def one_run(
    http: aiohttp.ClientSession, base: str, args: argparse.Namespace, number: int
) -> tuple[Run, str]:
    body = {
        # A new name each time: every registration is a new database entry and a full crawl.
        "name": f"{args.database}-bench-{number}-{uuid.uuid4().hex[:8]}",
        "dbname": args.database,
        "host": args.host,
        "port": args.port,
        "user": args.user,
        "password": args.password,
    }
    started = time.perf_counter()
    async with http.post(f"{base}/v1/databases", json=body) as response:
        if response.status != 201:
            raise BenchError(f"registration answered {response.status}: {await response.text()}")
        database_id = (await response.json())["id"]
    async with asyncio.timeout(args.timeout):
        while True:
            async with http.get(f"{base}/v1/databases/{database_id}") as response:
                if response.status != 200:
                    raise BenchError(f"status answered {response.status}: {await response.text()}")
                crawl = (await response.json())["crawl"]
            if crawl and crawl["state"] == "complete":
                wall = time.perf_counter() - started
                break
            if crawl and crawl["state"] not in ("queued", "running"):
                raise BenchError(f"crawl ended {crawl['state']}: {crawl.get('error')}")
            await asyncio.sleep(POLL_SECONDS)
    queued = None
    if crawl["started_at"]:
        queued = _seconds(crawl["requested_at"], crawl["started_at"])
    run = Run(
        wall=wall,
        duration=crawl["duration_seconds"],
        queued=queued,
        tables=crawl["tables"],
        columns=crawl["columns"],
        batches=crawl["batches_total"],
    )
    return run, crawl["id"]


def _seconds(start: str, end: str) -> float:
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


def fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def report(runs: list[Run], args: argparse.Namespace, startup: float, overall: Peaks) -> None:
    print()
    print(
        f"database {args.database}: {len(runs)} runs, workers {args.workers}, "
        f"batch size {args.batch_size}; catalog up ready in {startup:.2f} s"
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
        f"peak RSS over all runs: crawler (catalog up process) {overall.catalog / MB:.0f} MB; "
        f"embedded PostgreSQL + NATS, summed {overall.embedded / MB:.0f} MB "
        "(the sum counts shared buffers once per backend)"
    )


async def main_async(args: argparse.Namespace) -> int:
    temp = Path(tempfile.mkdtemp(prefix="bench-catalog-"))
    data_dir, log = temp / "data", temp / "catalog-up.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CATALOG_DATA_DIR": str(data_dir),
        "CATALOG_PORT": str(port),
        "CATALOG_WORKERS": str(args.workers),
        "CATALOG_BATCH_SIZE": str(args.batch_size),
        "CATALOG_LOG_LEVEL": "INFO",  # the per-batch lines say where the time goes
        # Embedded engines whatever the caller's environment says, and a token file to read.
        "CATALOG_DATABASE_URL": "",
        "CATALOG_NATS_URL": "",
        "CATALOG_OPENSEARCH_URL": "",
        "CATALOG_ADMIN_TOKEN": "",
    }
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            CATALOG, "up", env=env, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
    print(f"catalog up pid {proc.pid}, data in {data_dir}, log {log}", flush=True)
    run_peaks, overall = Peaks(), Peaks()
    sampler = asyncio.create_task(sample_memory(proc.pid, data_dir, run_peaks, overall))
    runs: list[Run] = []
    failed = False
    startup = 0.0
    try:
        began = time.perf_counter()
        async with aiohttp.ClientSession() as http, asyncio.timeout(args.ready_timeout):
            await wait_until_ready(http, base, proc)
        startup = time.perf_counter() - began
        token = (data_dir / "admin-token").read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            for number in range(1, args.repeat + 1):
                run_peaks.reset()
                run, crawl_id = await one_run(http, base, args, number)
                run.peak_catalog, run.peak_embedded = run_peaks.catalog, run_peaks.embedded
                run.batch_seconds = batch_seconds(log, crawl_id)
                runs.append(run)
                print(
                    f"run {number}: {run.wall:.2f} s, {run.tables} tables, {run.columns} columns",
                    flush=True,
                )
    except (BenchError, TimeoutError, OSError, aiohttp.ClientError) as exc:
        failed = True
        print(f"benchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        code = await stop(proc, data_dir)
    if code != 0:
        failed = True
        print(f"catalog up exited with {code}", file=sys.stderr)
    if runs:
        report(runs, args, startup, overall)
    if failed:
        print(f"\nlast lines of {log}:\n{tail(log)}", file=sys.stderr)
        print(f"kept {temp} for inspection", file=sys.stderr)
        return 1
    if args.keep:
        print(f"kept {temp}")
    else:
        shutil.rmtree(temp, ignore_errors=True)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.register_to_complete",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--database", default="bench_1k", help="the target database to crawl")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="CATALOG_WORKERS")
    parser.add_argument("--batch-size", type=int, default=500, help="CATALOG_BATCH_SIZE")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5432)
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--password", default="bench", help="trust auth ignores it")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per crawl")
    parser.add_argument("--ready-timeout", type=float, default=120)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.workers < 1 or args.batch_size < 1:
        parser.error("--repeat, --workers and --batch-size must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
