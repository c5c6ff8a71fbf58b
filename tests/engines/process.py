"""Starting an engine as a child of the test run: its own folder, a log, a readiness check with a
deadline, and a clean stop. Leftovers of a run that was killed are found and stopped.

Every run keeps its engines under one folder, `<tmp>/catalog-test-engines/run-<pid>`. Each
engine writes its pid there; a later run that finds the folder of a dead test process stops what
those pids still run and removes the folder, so a killed run costs nothing but a line.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from catalog.embedded import runs_on
from catalog.libc import libc

RUNS_ROOT = Path(tempfile.gettempdir()) / "catalog-test-engines"
START_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 30.0
POLL_SECONDS = 0.05
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class EngineFailed(Exception):
    """An engine did not start, or did not stop; the message carries its log's tail."""


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the test run dies, however it dies.

    Runs after the switch to the engine's user (Popen applies `user` first), which would
    otherwise clear the setting.
    """
    c = libc()
    if c is not None:
        c.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def alive(pid: int) -> bool:
    """Whether pid runs: it exists and is not a zombie (exited, but not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _stop_pid(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def clean_leftovers(root: Path = RUNS_ROOT) -> list[str]:
    """Stop the engines of test runs that died without stopping them; remove their folders.

    Returns one line per engine stopped, for the run to report.
    """
    reports: list[str] = []
    if not root.is_dir():
        return reports
    for run in root.glob("run-*"):
        try:
            owner = int((run / "owner.pid").read_text())
        except (OSError, ValueError):
            owner = None
        if owner is not None and alive(owner):
            continue
        for pid_file in run.glob("*/engine.pid"):
            with contextlib.suppress(OSError, ValueError):
                pid = int(pid_file.read_text())
                if alive(pid) and runs_on(pid, run):
                    _stop_pid(pid)
                    reports.append(
                        f"stopped a leftover {pid_file.parent.name} (pid {pid}) of a killed "
                        f"test run in {run}"
                    )
        shutil.rmtree(run, ignore_errors=True)
    return reports


def new_run_folder(root: Path = RUNS_ROOT) -> Path:
    """This test run's folder, after cleaning up what killed runs left."""
    for line in clean_leftovers(root):
        print(f"tests: {line}", file=sys.stderr)
    root.mkdir(mode=0o755, parents=True, exist_ok=True)
    run = Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=root))
    run.chmod(0o755)  # engines run as their own users (postgres, mysql) and must reach in
    (run / "owner.pid").write_text(str(os.getpid()))
    return run


def service_user(name: str) -> str | None:
    """The system user an engine runs as: `name` when we are root (PostgreSQL and MariaDB refuse
    to run as root), else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(name)
    except KeyError:
        raise EngineFailed(
            f"running as root, but there is no system user {name!r} to run the engine as; "
            "scripts/test-deps installs the package that creates it"
        ) from None
    return name


def engine_folder(run: Path, name: str, user: str | None) -> Path:
    folder = run / name
    folder.mkdir(mode=0o700)
    if user is not None:
        shutil.chown(folder, user, user)
    return folder


def _tail(log: Path, lines: int = 40) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def run_once(name: str, argv: Sequence[str], *, log: Path, user: str | None = None) -> None:
    """Run a setup command (initdb, mariadb-install-db) to completion, or fail with its output."""
    with log.open("ab") as out:
        code = subprocess.call(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            user=user,
            group=user,
            extra_groups=[] if user else None,
            cwd=log.parent,
        )
    if code != 0:
        raise EngineFailed(f"{name} exited with code {code}; the end of {log}:\n{_tail(log)}")


@dataclass
class Engine:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def failure(self, why: str) -> EngineFailed:
        return EngineFailed(f"{self.name} {why}; the end of {self.log}:\n{_tail(self.log)}")

    def wait_until(self, ready: Callable[[], bool], timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Poll `ready` until it holds; fail at once if the engine exits, or after the timeout."""
        deadline = time.monotonic() + timeout
        while not ready():
            code = self.process.poll()
            if code is not None:
                raise self.failure(f"exited with code {code} while starting")
            if time.monotonic() > deadline:
                self.stop()
                raise self.failure(f"was not ready within {timeout:g} s")
            time.sleep(POLL_SECONDS)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        (self.log.parent / "engine.pid").unlink(missing_ok=True)


@contextlib.contextmanager
def running(
    name: str,
    argv: Sequence[str],
    *,
    folder: Path,
    ready: Callable[[], bool],
    user: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = START_TIMEOUT_SECONDS,
) -> Iterator[Engine]:
    """Start an engine in its folder, wait until `ready`, yield it, stop it on exit."""
    log = folder / "engine.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})}, cwd=folder, user=user, group=user,
            extra_groups=[] if user else None, preexec_fn=_die_with_parent,
            # Its own session: a Ctrl-C meant for pytest must not stop it before the fixtures do.
            start_new_session=True,
        )  # fmt: skip
    (folder / "engine.pid").write_text(str(process.pid))
    engine = Engine(name, process, log)
    try:
        engine.wait_until(ready, timeout)
        yield engine
    finally:
        engine.stop()
