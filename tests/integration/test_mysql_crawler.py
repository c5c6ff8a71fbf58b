"""What only the MySQL crawler does, against the suite's MariaDB: its session, its error codes,
MySQL's TLS modes, and the wrong-engine answer in both directions.

The engine-neutral behaviour is in the crawler contract suite (test_crawler_contract.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from asyncmy import errors

from catalog.adapters.mysql_crawler import MySqlCrawler, quote
from catalog.adapters.target_errors import UNREACHABLE
from catalog.crawlers import crawler_factory
from catalog.embedded import free_port
from catalog.errors import CrawlFailure, TransientError
from catalog.models import Engine, SslMode, TableType, Target
from catalog.netguard import TargetPolicy
from catalog.settings import Settings
from tests.engines.mariadb import MariaDbServer
from tests.engines.postgres import PostgresServer
from tests.streams import pipe
from tests.tls_postgres import UNRESOLVED_NAME

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Distinctive, so a leak into an error message cannot be a coincidence.
PASSWORD = "pw-My5ql!leak-canary"
LOOPBACK = TargetPolicy.from_lists(("127.0.0.0/8",), ())


@dataclasses.dataclass(frozen=True)
class Scratch:
    server: MariaDbServer
    schema: str
    user: str

    def target(self, **changes: object) -> Target:
        base = Target(
            Engine.MYSQL,
            self.server.host,
            self.server.port,
            self.schema,
            self.user,
            SslMode.DISABLED,
        )
        return dataclasses.replace(base, **changes)


@pytest.fixture(scope="module")
def scratch(mariadb: MariaDbServer) -> Iterator[Scratch]:
    schema, user = f"my_{uuid.uuid4().hex[:12]}", f"crawler_{uuid.uuid4().hex[:12]}"
    mariadb.client(
        f"CREATE DATABASE {schema}; CREATE TABLE {schema}.kept (id integer PRIMARY KEY);"
        f" CREATE USER '{user}'@'%' IDENTIFIED BY '{PASSWORD}';"
        f" GRANT SELECT ON {schema}.* TO '{user}'@'%'"
    )
    yield Scratch(mariadb, schema, user)
    mariadb.client(f"DROP DATABASE {schema}; DROP USER '{user}'@'%'")


def crawler(
    target: Target,
    password: str = PASSWORD,
    *,
    statement_timeout: float = 10.0,
    program_name: str = "catalog-indexer",
) -> MySqlCrawler:
    return MySqlCrawler(
        target,
        password,
        connect_timeout=3.0,
        statement_timeout=statement_timeout,
        program_name=program_name,
    )


async def failure_of(c: MySqlCrawler) -> CrawlFailure | TransientError:
    """Open the crawler and read one batch; the failure it raised, checked for the password."""
    with pytest.raises((CrawlFailure, TransientError)) as caught:
        async with c:
            await c.read_batch([r.ref async for r in c.list_relations()])
    failure = caught.value
    assert isinstance(failure, TransientError) == (
        failure.error_class in {"unreachable", "timeout"}
    )
    assert PASSWORD not in str(failure)
    assert all(PASSWORD not in str(arg) for arg in failure.args)
    return failure


async def test_the_session_is_read_only_and_time_limited(scratch: Scratch) -> None:
    async with crawler(scratch.target(), statement_timeout=2.5) as c:
        assert await c._fetch(
            "SELECT @@SESSION.tx_read_only, @@SESSION.max_statement_time", []
        ) == [(1, 2.5)]
        with pytest.raises(errors.OperationalError) as refused:
            await c._fetch(f"CREATE TABLE {scratch.schema}.written (x integer)", [])
    assert refused.value.args[0] == 1792  # cannot execute in a read-only transaction


async def test_an_empty_dbname_crawls_every_visible_schema_but_the_system_ones(
    scratch: Scratch,
) -> None:
    async with crawler(scratch.target(dbname="")) as c:
        refs = [r.ref async for r in c.list_relations()]
    # This user sees its schema only; root's view would include mysql.* and sys.* otherwise.
    assert refs == [f"{quote(scratch.schema)}.`kept`"]
    async with crawler(scratch.target(dbname="", user="root"), "") as c:
        schemas = {r.schema async for r in c.list_relations()}
    assert scratch.schema in schemas
    assert not schemas & {"mysql", "information_schema", "performance_schema", "sys"}


@contextlib.asynccontextmanager
async def recording_proxy(
    upstream_port: int, *, hide_tls: bool = False
) -> AsyncIterator[tuple[int, list[bytes]]]:
    """A TCP proxy in front of the server that records what the client sends; `hide_tls`
    clears the TLS bit from the server's greeting, as a server without TLS would send it."""
    sent: list[bytes] = []
    handlers: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_writer: asyncio.StreamWriter | None = None
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
            greeting = await up_reader.read(65536)
            if hide_tls:
                # header (4), protocol (1), version (NUL-ended), thread id (4), salt (8),
                # filler (1), then the low two bytes of the capability flags; TLS is bit 11.
                flags_at = greeting.index(b"\0", 5) + 1 + 4 + 8 + 1
                greeting = bytearray(greeting)
                greeting[flags_at + 1] &= ~(0x0800 >> 8) & 0xFF
            writer.write(bytes(greeting))

            async def record() -> None:
                while data := await reader.read(65536):
                    sent.append(data)
                    up_writer.write(data)
                    await up_writer.drain()
                up_writer.close()

            await asyncio.gather(record(), pipe(up_reader, writer), return_exceptions=True)
        finally:
            # Both sockets close here, whatever ended the connection: a transport left open
            # warns when collected, in whichever later test that happens.
            writer.close()
            if up_writer is not None:
                up_writer.close()

    def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Our own task, known from the moment the connection is accepted, so the proxy can
        # cancel it when it stops (the server's own task for a coroutine logs that cancel).
        handler = asyncio.create_task(serve(reader, writer))
        handlers.add(handler)
        handler.add_done_callback(handlers.discard)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], sent
    finally:
        server.close()
        for handler in list(handlers):
            handler.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


async def test_the_client_names_itself_in_a_connection_attribute(scratch: Scratch) -> None:
    async with recording_proxy(scratch.server.port) as (port, sent):
        named = crawler(scratch.target(port=port), program_name="catalog-test-7")
        async with named:
            pass
    handshake = sent[0]
    assert b"program_name" in handshake
    assert b"catalog-test-7" in handshake


async def test_a_wrong_password_is_auth_failed(scratch: Scratch) -> None:
    failure = await failure_of(crawler(scratch.target(), "not-the-password"))
    assert failure.error_class == "auth_failed"
    assert "(1045)" in str(failure)


@pytest.mark.parametrize("password", ["x", "e", "s", "mysql", "error", "denied"])
async def test_short_and_common_word_passwords_leave_messages_whole(
    scratch: Scratch, password: str
) -> None:
    failure = await failure_of(crawler(scratch.target(), password))
    assert failure.error_class == "auth_failed"
    assert "Access denied for user" in str(failure)
    assert "***" not in str(failure)


async def test_an_unknown_schema_is_database_missing_or_permission(scratch: Scratch) -> None:
    # MySQL answers 1044 (no access) rather than 1049 to a user who could not see it anyway.
    failure = await failure_of(crawler(scratch.target(dbname="nowhere_at_all")))
    assert failure.error_class == "permission"
    assert "(1044)" in str(failure)
    root = await failure_of(crawler(scratch.target(dbname="nowhere_at_all", user="root"), ""))
    assert root.error_class == "database_missing"
    assert "(1049)" in str(root)


async def test_a_closed_port_is_unreachable_without_details(scratch: Scratch) -> None:
    failure = await failure_of(crawler(scratch.target(port=free_port())))
    assert failure.error_class == "unreachable"
    assert str(failure) == UNREACHABLE


async def test_a_statement_over_the_time_limit_is_timeout(scratch: Scratch) -> None:
    async with crawler(scratch.target(), statement_timeout=0.2) as c:
        columns = "information_schema.COLUMNS"
        slow = f"SELECT count(*) FROM {columns} a, {columns} b, {columns} c"
        with pytest.raises(TransientError) as caught, c._translated():
            await c._fetch(slow, [])
    assert caught.value.error_class == "timeout"
    assert "(1969)" in str(caught.value)


async def test_a_connection_killed_mid_crawl_is_unreachable(scratch: Scratch) -> None:
    async with crawler(scratch.target()) as c:
        thread = (await c._fetch("SELECT CONNECTION_ID()", []))[0][0]
        scratch.server.client(f"KILL {thread}")
        with pytest.raises(TransientError) as caught:
            await c.read_batch([r.ref async for r in c.list_relations()])
    assert caught.value.error_class == "unreachable"


async def test_a_partitioned_table_is_one_table_with_its_partitions_rows_and_size(
    scratch: Scratch,
) -> None:
    scratch.server.client(
        f"CREATE TABLE {scratch.schema}.parts (id integer, at date, PRIMARY KEY (id, at))"
        " PARTITION BY RANGE (YEAR(at)) (PARTITION p1 VALUES LESS THAN (2026),"
        " PARTITION p2 VALUES LESS THAN (2027));"
        f" INSERT INTO {scratch.schema}.parts VALUES (1, '2025-01-01'), (2, '2026-01-01');"
        f" ANALYZE TABLE {scratch.schema}.parts"
    )
    try:
        async with crawler(scratch.target()) as c:
            tables = await c.read_batch([r.ref async for r in c.list_relations()])
    finally:
        scratch.server.client(f"DROP TABLE {scratch.schema}.parts")
    assert [t.name for t in tables] == ["kept", "parts"]  # no table per partition
    parts = tables[1]
    assert parts.type is TableType.PARTITIONED_TABLE
    assert parts.partitions == 2
    assert tables[0].partitions is None
    assert parts.row_estimate == 2
    assert parts.size_bytes is not None
    assert parts.size_bytes > 0


# TLS: the suite's MariaDB offers TLS with a certificate for localhost and UNRESOLVED_NAME.


def tls_target(scratch: Scratch, mode: SslMode, *, ca: bool = True, **changes: object) -> Target:
    assert scratch.server.ca_pem, "unset CATALOG_TEST_MYSQL_URL: these tests need our MariaDB"
    return scratch.target(sslmode=mode, ca_cert=scratch.server.ca_pem if ca else None, **changes)


async def cipher(target: Target, address: str | None = None) -> str:
    c = MySqlCrawler(target, PASSWORD, connect_timeout=3.0, statement_timeout=10.0, address=address)
    async with c:
        rows = await c._fetch("SHOW SESSION STATUS LIKE 'Ssl_cipher'", [])
    return rows[0][1]


@pytest.mark.parametrize(
    "mode",
    [SslMode.PREFERRED, SslMode.REQUIRED, SslMode.MYSQL_VERIFY_CA, SslMode.VERIFY_IDENTITY],
)
async def test_every_encrypting_mode_encrypts(scratch: Scratch, mode: SslMode) -> None:
    assert await cipher(tls_target(scratch, mode, host="localhost")) != ""


async def test_disabled_sends_plain_text(scratch: Scratch) -> None:
    assert await cipher(scratch.target()) == ""


async def test_preferred_goes_on_in_plain_text_where_no_tls_is_offered(scratch: Scratch) -> None:
    async with recording_proxy(scratch.server.port, hide_tls=True) as (port, _):
        assert await cipher(scratch.target(sslmode=SslMode.PREFERRED, port=port)) == ""
        failure = await failure_of(crawler(scratch.target(sslmode=SslMode.REQUIRED, port=port)))
    assert failure.error_class == "tls"
    assert "does not offer TLS" in str(failure)


@pytest.mark.parametrize("mode", [SslMode.MYSQL_VERIFY_CA, SslMode.VERIFY_IDENTITY])
async def test_a_certificate_from_an_unknown_ca_fails_as_tls(
    scratch: Scratch, mode: SslMode
) -> None:
    # Without our test CA, the system's CAs are used: they never signed this certificate.
    failure = await failure_of(crawler(tls_target(scratch, mode, ca=False, host="localhost")))
    assert failure.error_class == "tls"


async def test_verify_identity_checks_the_name_but_verify_ca_does_not(scratch: Scratch) -> None:
    # The address is this host's, but the certificate does not name "db.elsewhere.invalid".
    elsewhere = tls_target(scratch, SslMode.VERIFY_IDENTITY, host="db.elsewhere.invalid")
    c = MySqlCrawler(
        elsewhere, PASSWORD, connect_timeout=3.0, statement_timeout=10.0, address="127.0.0.1"
    )
    failure = await failure_of(c)
    assert failure.error_class == "tls"
    unnamed = dataclasses.replace(elsewhere, sslmode=SslMode.MYSQL_VERIFY_CA)
    assert await cipher(unnamed, address="127.0.0.1") != ""


async def test_verify_identity_connects_to_the_checked_address_and_verifies_the_name(
    scratch: Scratch,
) -> None:
    # UNRESOLVED_NAME resolves nowhere: the crawler must connect to the address it was given
    # and still check the certificate against the registered name.
    target = tls_target(scratch, SslMode.VERIFY_IDENTITY, host=UNRESOLVED_NAME)
    assert await cipher(target, address="127.0.0.1") != ""


async def test_a_tls_only_user_in_plain_text_is_refused_as_auth_failed(scratch: Scratch) -> None:
    user = f"tls_only_{uuid.uuid4().hex[:12]}"
    scratch.server.tls_only_user(user, PASSWORD)
    failure = await failure_of(crawler(scratch.target(user=user)))
    # MySQL's answer to a REQUIRE SSL account without TLS is a plain access denial (1045).
    assert failure.error_class == "auth_failed"
    assert await cipher(tls_target(scratch, SslMode.REQUIRED, user=user)) != ""


# The wrong engine, in both directions: a clear, permanent answer, quickly.


async def wrong_engine(target: Target) -> tuple[CrawlFailure, float]:
    open_crawler = crawler_factory(Settings(connect_timeout=3.0), LOOPBACK)
    started = time.perf_counter()
    with pytest.raises(CrawlFailure) as caught:
        async with open_crawler(target, PASSWORD):
            pass
    return caught.value, time.perf_counter() - started


@pytest.mark.parametrize("mode", [SslMode.PREFER, SslMode.DISABLE, SslMode.REQUIRE])
async def test_a_postgresql_database_that_is_a_mariadb_server_is_wrong_engine(
    scratch: Scratch, mode: SslMode
) -> None:
    target = Target(Engine.POSTGRESQL, "127.0.0.1", scratch.server.port, "db", "u", mode)
    failure, seconds = await wrong_engine(target)
    assert failure.error_class == "wrong_engine"
    assert "answered as a MySQL/MariaDB server" in str(failure)
    assert "registered as PostgreSQL" in str(failure)
    assert seconds < 5


async def test_a_mysql_database_that_is_a_postgresql_server_is_wrong_engine(
    postgres: PostgresServer,
) -> None:
    target = Target(Engine.MYSQL, "127.0.0.1", postgres.port, "db", "u", SslMode.PREFERRED)
    failure, seconds = await wrong_engine(target)
    assert failure.error_class == "wrong_engine"
    assert "answered as a PostgreSQL server" in str(failure)
    assert "registered as MySQL/MariaDB" in str(failure)
    assert seconds < 8  # the connect timeout (3 s), then the probe


async def test_a_connection_test_reports_the_wrong_engine_too(scratch: Scratch) -> None:
    open_crawler = crawler_factory(Settings(connect_timeout=3.0), LOOPBACK)
    target = Target(Engine.POSTGRESQL, "127.0.0.1", scratch.server.port, "db", "u")
    with pytest.raises(CrawlFailure) as caught:
        async with open_crawler(target, PASSWORD) as c:
            await c.check_access()
    assert caught.value.error_class == "wrong_engine"


async def test_the_right_engine_on_a_dead_port_stays_unreachable(scratch: Scratch) -> None:
    open_crawler = crawler_factory(Settings(connect_timeout=3.0), LOOPBACK)
    with pytest.raises(TransientError) as caught:
        async with open_crawler(scratch.target(port=free_port()), PASSWORD):
            pass
    assert caught.value.error_class == "unreachable"


async def test_a_table_named_with_backticks_and_dots_round_trips(scratch: Scratch) -> None:
    name = "we`ird.name"
    scratch.server.client(f"CREATE TABLE {scratch.schema}.{quote(name)} (x integer)")
    try:
        async with crawler(scratch.target()) as c:
            refs = [r.ref async for r in c.list_relations()]
            tables = await c.read_batch(refs)
    finally:
        scratch.server.client(f"DROP TABLE {scratch.schema}.{quote(name)}")
    assert f"{quote(scratch.schema)}.`we``ird.name`" in refs
    assert [t.name for t in tables] == ["kept", name]
