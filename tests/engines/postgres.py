"""A private PostgreSQL from Debian's binaries: `initdb` in the run's folder, then `postgres` on a
free port at 127.0.0.1 and a unix socket in its folder.

The `postgres` superuser is trusted over loopback (as on a developer's machine); every other role
must give its password (scram-sha-256), so tests see real authentication.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from catalog.embedded import free_port
from tests.engines.process import EngineFailed, engine_folder, run_once, running, service_user

HBA = """\
local all all                  trust
host  all postgres 127.0.0.1/32 trust
host  all postgres ::1/128      trust
host  all all      127.0.0.1/32 scram-sha-256
host  all all      ::1/128      scram-sha-256
"""

# Durability is worth nothing to a throwaway test server; these make it several times faster.
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "password_encryption": "scram-sha-256",
}


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str = "postgres"

    @classmethod
    def from_url(cls, url: str) -> PostgresServer:
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 5432, parts.username or "postgres")

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    async def execute(self, dbname: str, sql: str) -> None:
        """Run statements in one of the server's databases, as its superuser, on a connection
        of their own."""
        conn = await asyncpg.connect(self.url(dbname))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()


def binaries() -> Path:
    """The folder of `initdb` and `postgres`: on PATH, else Debian's newest under /usr/lib."""
    on_path = shutil.which("initdb")
    if on_path is not None:
        return Path(on_path).resolve().parent
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.parent.name)],
    )
    if not found:
        raise EngineFailed("no PostgreSQL server binaries; scripts/test-deps installs postgresql")
    return found[-1].parent


def _accepts_connections(bin_dir: Path, port: int) -> bool:
    """pg_isready: the port alone opens before recovery ends, while connections are refused."""
    probe = [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-t", "1"]
    return subprocess.call(probe, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0


@contextlib.contextmanager
def running_postgres(run: Path) -> Iterator[PostgresServer]:
    user = service_user("postgres")
    folder = engine_folder(run, "postgres", user)
    data, bin_dir = folder / "data", binaries()
    run_once(
        "initdb",
        [
            str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions",
        ],
        log=folder / "initdb.log",
        user=user,
    )  # fmt: skip
    (data / "pg_hba.conf").write_text(HBA)
    port = free_port()
    settings = {**SETTINGS, "port": str(port), "unix_socket_directories": str(folder)}
    argv = [str(bin_dir / "postgres"), "-D", str(data)]
    for name, value in settings.items():
        argv += ["-c", f"{name}={value}"]
    ready = lambda: _accepts_connections(bin_dir, port)  # noqa: E731
    with running("postgres", argv, folder=folder, user=user, ready=ready):
        yield PostgresServer("127.0.0.1", port)
