"""A private MariaDB from Debian's `mariadb-server`: `mariadb-install-db` in the run's folder, then
`mariadbd` on a free port at 127.0.0.1.

`root` logs in without a password over TCP from loopback (`--auth-root-authentication-method=
normal`, no password set); roles the tests make have passwords of their own.

The server offers TLS with a certificate from a test CA (`tests.tls_postgres.certificates`), but
does not demand it: the suite connects in plain text. A test that needs a server refusing plain
text makes a `REQUIRE SSL` user with `MariaDbServer.tls_only_user`.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from catalog.embedded import free_port
from tests.engines.process import EngineFailed, engine_folder, run_once, running, service_user
from tests.tls_postgres import certificates


@dataclass(frozen=True)
class MariaDbServer:
    host: str
    port: int
    user: str = "root"
    # The CA that signed the server's certificate; unknown (None) for a server given by URL.
    ca_pem: str | None = None

    @classmethod
    def from_url(cls, url: str) -> MariaDbServer:
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 3306, parts.username or "root")

    def url(self, dbname: str = "") -> str:
        return f"mysql://{self.user}@{self.host}:{self.port}/{dbname}"

    def client(self, sql: str) -> str:
        """Run SQL through the `mariadb` command-line client; its tab-separated output."""
        argv = [
            _binary("mariadb"), "--no-defaults", "-h", self.host, "-P", str(self.port),
            "-u", self.user, "--batch", "--skip-column-names", "-e", sql,
        ]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"mariadb client failed: {done.stderr.strip()}")
        return done.stdout

    def tls_only_user(self, name: str, password: str) -> None:
        """Make a user, allowed to read everything, that the server refuses without TLS.

        A TLS-only view of this server: the global `require_secure_transport` would refuse the
        suite's plain connections too. The user outlives the test, so give it a unique name.
        """
        account = f"{_literal(name)}@'%'"
        self.client(
            f"CREATE USER {account} IDENTIFIED BY {_literal(password)} REQUIRE SSL; "
            f"GRANT SELECT ON *.* TO {account}"
        )


def _literal(text: str) -> str:
    """A MariaDB string literal (backslashes escape by default, so they are doubled too)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _binary(name: str) -> str:
    # mariadbd lives in /usr/sbin, which a non-root PATH often lacks.
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        raise EngineFailed(f"no {name}; scripts/test-deps installs mariadb-server")
    return found


def _accepts_connections(port: int) -> bool:
    probe = [
        _binary("mariadb-admin"), "--no-defaults", "-h", "127.0.0.1", "-P", str(port), "-u",
        "root", "--connect-timeout=1", "ping",
    ]  # fmt: skip
    return subprocess.call(probe, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0


@contextlib.contextmanager
def running_mariadb(run: Path) -> Iterator[MariaDbServer]:
    user = service_user("mysql")
    folder = engine_folder(run, "mariadb", user)
    data = folder / "data"
    run_once(
        "mariadb-install-db",
        [
            _binary("mariadb-install-db"), "--no-defaults", f"--datadir={data}",
            "--auth-root-authentication-method=normal", "--skip-test-db",
        ],
        log=folder / "install.log",
        user=user,
    )  # fmt: skip
    ca_pem, cert_pem, key_pem = certificates()
    for kind, pem in (("ca", ca_pem), ("cert", cert_pem), ("key", key_pem)):
        # Only mariadbd reads them: its user owns them, as it does the folder, and no one else can.
        path = folder / f"tls-{kind}.pem"
        path.write_text(pem)
        path.chmod(0o600)
        if user is not None:
            shutil.chown(path, user, user)
    port = free_port()
    argv = [
        _binary("mariadbd"), "--no-defaults", f"--datadir={data}", f"--port={port}",
        "--bind-address=127.0.0.1", f"--socket={folder / 'mysqld.sock'}",
        # Temporary tables of its own: a second MariaDB on this host (a developer's) must
        # not share, and clean away, its files in /tmp.
        f"--tmpdir={folder}",
        f"--pid-file={folder / 'mysqld.pid'}", "--skip-name-resolve", "--skip-log-bin",
        # Durability is worth nothing to a throwaway test server.
        "--innodb-buffer-pool-size=64M", "--innodb-flush-log-at-trx-commit=0",
        "--innodb-doublewrite=0", "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_general_ci",
        f"--ssl-ca={folder / 'tls-ca.pem'}", f"--ssl-cert={folder / 'tls-cert.pem'}",
        f"--ssl-key={folder / 'tls-key.pem'}",
    ]  # fmt: skip
    ready = lambda: _accepts_connections(port)  # noqa: E731
    with running("mariadb", argv, folder=folder, user=user, ready=ready):
        yield MariaDbServer("127.0.0.1", port, ca_pem=ca_pem)
