"""`catalog up`'s processes: gateways and one indexer, started, watched, and stopped in order.

Python runs one core per process, so one process for everything left search and the crawler
fighting over a single core (measured in docs/benchmarks.md). Here every gateway process serves
the same port (SO_REUSEPORT: the kernel spreads connections over them), and the indexer runs
apart at a lower CPU priority. The children are the same `python -m gateway` and
`python -m indexer` that deployments run, pointed at the engines this process started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass

from catalog.engine_watch import Probe, watch_engines
from catalog.errors import PermanentError
from catalog.libc import libc
from catalog.settings import Settings

log = logging.getLogger(__name__)

# A child that exits with an error this soon after starting could not start (a port in use, a
# bad setting): it would only fail again, so everything stops.
_STARTUP_SECONDS = 5.0
_RESTART_DELAY = 1.0
# Killed or crashed later, it is restarted, unless it died this often within the window.
_MAX_RESTARTS, _RESTART_WINDOW_SECONDS = 5, 60.0
# SIGTERM first; SIGKILL for a child still running this long after.
_GRACE_SECONDS = 30.0
# Tells a child which process supervises it (see follow_supervisor).
SUPERVISOR_PID = "CATALOG_SUPERVISOR_PID"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass(frozen=True)
class Child:
    name: str
    module: str
    nice: int = 0


def children(settings: Settings) -> list[Child]:
    gateways = settings.gateway_processes or os.cpu_count() or 1
    return [
        Child("indexer", "indexer", settings.indexer_nice),
        *(Child(f"gateway-{n}", "gateway") for n in range(1, gateways + 1)),
    ]


def check_port_free(host: str, port: int) -> None:
    """Fail clearly if the port is taken, before the children bind it with SO_REUSEPORT (which
    would otherwise share it with another `catalog up` of the same user)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PermanentError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def follow_supervisor() -> None:
    """In a child of `catalog up`: get SIGTERM when the supervisor dies, however it dies.

    Otherwise a supervisor killed with SIGKILL would leave its gateways holding the port and its
    indexer holding the index. Linux only (prctl); elsewhere the children outlive it as before.
    """
    supervisor, c = os.environ.get(SUPERVISOR_PID), libc()
    if supervisor is None or c is None or not sys.platform.startswith("linux"):
        return
    c.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(supervisor):  # it died before the line above took effect
        os.kill(os.getpid(), signal.SIGTERM)


async def _spawn(child: Child, env: Mapping[str, str]) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", child.module, env=env)
    if child.nice:
        # Before the child starts any thread: threads inherit their creator's niceness.
        with contextlib.suppress(ProcessLookupError):
            os.setpriority(os.PRIO_PROCESS, proc.pid, child.nice)
    log.info(
        "%s started (pid %s%s)", child.name, proc.pid, f", nice {child.nice}" * bool(child.nice)
    )
    return proc


async def _watch(child: Child, env: Mapping[str, str], stop: asyncio.Event) -> None:
    """Run one child until `stop`, restarting it if it dies; raise if it cannot stay up."""
    restarts: list[float] = []
    while True:
        started = time.monotonic()
        proc = await _spawn(child, env)
        stopping = asyncio.create_task(stop.wait())
        exiting = asyncio.create_task(proc.wait())
        try:
            await asyncio.wait({stopping, exiting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if proc.returncode is None:
                await _terminate(child, proc)
            exiting.cancel()
        if stop.is_set():
            return
        code = proc.returncode
        now = time.monotonic()
        if code is not None and code > 0 and now - started < _STARTUP_SECONDS:
            raise PermanentError(f"{child.name} exited with code {code} on start")
        restarts = [t for t in restarts if now - t < _RESTART_WINDOW_SECONDS] + [now]
        if len(restarts) > _MAX_RESTARTS:
            raise PermanentError(
                f"{child.name} exited {len(restarts)} times within {_RESTART_WINDOW_SECONDS:.0f} s"
            )
        log.warning("%s exited with code %s; restarting it", child.name, code)
        await asyncio.sleep(_RESTART_DELAY)


async def _terminate(child: Child, proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(_GRACE_SECONDS):
            await proc.wait()
    except TimeoutError:
        log.warning("%s did not stop within %.0f s; killing it", child.name, _GRACE_SECONDS)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
    log.info("%s stopped (code %s)", child.name, proc.returncode)


async def supervise(
    settings: Settings,
    env: Mapping[str, str],
    stop: asyncio.Event,
    engines: Mapping[str, Probe] | None = None,
) -> None:
    """Run every child until `stop` is set (or one cannot stay up, or one of the `engines`
    stops answering), then stop them all."""
    env = {**env, "CATALOG_REUSE_PORT": "1", SUPERVISOR_PID: str(os.getpid())}
    check_port_free(settings.host, settings.port)

    async def stopping_all(work: Awaitable[None]) -> None:
        try:
            await work
        except PermanentError:
            stop.set()  # the others stop too
            raise

    async with asyncio.TaskGroup() as group:
        for child in children(settings):
            group.create_task(stopping_all(_watch(child, env, stop)))
        if engines:
            group.create_task(stopping_all(watch_engines(engines, stop)))
