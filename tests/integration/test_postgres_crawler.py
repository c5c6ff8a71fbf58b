"""PostgresCrawler against the suite's PostgreSQL, in a database of its own.

That server trusts its `postgres` superuser over loopback, and asks every other role for its
password (scram-sha-256), so a wrong password fails as it would in production.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import asyncpg
import pytest
import pytest_asyncio

from catalog.adapters.postgres_crawler import PostgresCrawler
from catalog.adapters.target_errors import UNREACHABLE
from catalog.errors import CrawlFailure, TransientError
from catalog.models import Column, Engine, ForeignKey, Index, Table, TableType, Target
from tests.engines.postgres import PostgresServer
from tests.target_schema import RELATIONS, SCHEMA

pytestmark = pytest.mark.asyncio(loop_scope="module")

HOST = "127.0.0.1"
# Distinctive, so a leak into an error message cannot be a coincidence.
PASSWORD = "pw-Zq8!leak-canary"

# file_fdw ships with PostgreSQL's contrib, which scripts/test-deps installs.
FOREIGN_TABLE = """
CREATE EXTENSION file_fdw;
CREATE SERVER files FOREIGN DATA WRAPPER file_fdw;
CREATE FOREIGN TABLE "Ops Data".imports (line text) SERVER files OPTIONS (filename '/dev/null');
"""


@dataclass(frozen=True)
class Scratch:
    server: PostgresServer
    dbname: str


async def admin(server: PostgresServer, dbname: str = "postgres") -> asyncpg.Connection:
    return await asyncpg.connect(server.url(dbname))


def target(dbname: str, *, user: str, port: int) -> Target:
    return Target(engine=Engine.POSTGRESQL, host=HOST, port=port, dbname=dbname, user=user)


def crawler(
    server: PostgresServer,
    dbname: str,
    *,
    user: str = "postgres",
    port: int | None = None,
    password: str = PASSWORD,
    connect_timeout: float = 5.0,
    statement_timeout: float = 10.0,
    application_name: str = "catalog-indexer-test",
) -> PostgresCrawler:
    return PostgresCrawler(
        target(dbname, user=user, port=port or server.port),
        password,
        connect_timeout=connect_timeout,
        statement_timeout=statement_timeout,
        application_name=application_name,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def scratch(postgres: PostgresServer) -> AsyncIterator[Scratch]:
    dbname = f"crawl_{uuid.uuid4().hex}"
    server = await admin(postgres)
    try:
        await server.execute(f'CREATE DATABASE "{dbname}"')
        db = await admin(postgres, dbname)
        try:
            await db.execute(SCHEMA)
            await db.execute(FOREIGN_TABLE)
        finally:
            await db.close()
        yield Scratch(postgres, dbname)
    finally:
        await server.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        await server.close()


async def relation_names(scratch: Scratch, refs: list[str]) -> list[tuple[str, str]]:
    db = await admin(scratch.server, scratch.dbname)
    try:
        rows = await db.fetch(
            """SELECT n.nspname, c.relname FROM unnest($1::oid[]) WITH ORDINALITY u(oid, ord)
               JOIN pg_class c ON c.oid = u.oid JOIN pg_namespace n ON n.oid = c.relnamespace
               ORDER BY u.ord""",
            [int(ref) for ref in refs],
        )
    finally:
        await db.close()
    return [(r["nspname"], r["relname"]) for r in rows]


async def all_oids(scratch: Scratch) -> list[str]:
    async with crawler(scratch.server, scratch.dbname) as c:
        return [r.ref async for r in c.list_relations()]


def col(name: str, position: int, data_type: str, nullable: bool = True, **kw: object) -> Column:
    return Column(name=name, position=position, data_type=data_type, nullable=nullable, **kw)


async def expected_tables(scratch: Scratch) -> list[Table]:
    """Every relation of SCHEMA, in list order; sizes come from the server, independently."""
    db = await admin(scratch.server, scratch.dbname)
    try:
        size = {
            r["relname"]: r["size"]
            for r in await db.fetch(
                """SELECT c.relname, pg_total_relation_size(c.oid) AS size
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname IN ('sales', 'Ops Data', 'données', 'public')"""
            )
        }
    finally:
        await db.close()
    assert size["customers"] > 0
    events_columns = (
        col("id", 1, "integer", False, primary_key=True),
        col("happened", 2, "date", False, primary_key=True),
        col("payload", 3, "jsonb"),
        col("customer_id", 4, "bigint"),
    )
    # A key declared on the partitioned table is cloned onto each partition, same name.
    events_keys = (
        ForeignKey("events_customer_id_fkey", ("customer_id",), "sales", "customers", ("id",)),
    )

    def partition(name: str, rows: int) -> Table:
        return Table(
            schema="sales",
            name=name,
            type=TableType.TABLE,
            columns=events_columns,
            row_estimate=rows,
            size_bytes=size[name],
            primary_key=("id", "happened"),
            foreign_keys=events_keys,
            indexes=(
                Index(
                    f"{name}_pkey",
                    ("id", "happened"),
                    unique=True,
                    primary=True,
                    definition=f"CREATE UNIQUE INDEX {name}_pkey ON sales.{name} "
                    "USING btree (id, happened)",
                ),
            ),
            partition_of="sales.events",
        )

    return [
        Table(
            schema="Ops Data",
            name="CamelCase",
            type=TableType.TABLE,
            columns=(
                col("Id", 1, "integer", False, primary_key=True, auto_increment=True),
                col("MixedCase", 2, "text"),
                col("doubled", 3, "integer", generated='("Id" * 2)'),
            ),
            row_estimate=0,
            size_bytes=size["CamelCase"],
            primary_key=("Id",),
            indexes=(
                Index(
                    "CamelCase_pkey",
                    ("Id",),
                    unique=True,
                    primary=True,
                    definition='CREATE UNIQUE INDEX "CamelCase_pkey" ON "Ops Data"."CamelCase" '
                    'USING btree ("Id")',
                ),
            ),
        ),
        Table(
            schema="Ops Data",
            name="imports",
            type=TableType.FOREIGN_TABLE,
            columns=(col("line", 1, "text"),),
        ),
        Table(
            schema="Ops Data",
            name="my table",
            type=TableType.TABLE,
            columns=(col("a column", 1, "integer", comment="spaced"), col("it's", 3, "text")),
            row_estimate=0,
            size_bytes=size["my table"],
        ),
        Table(
            schema="données",
            name="größe",
            type=TableType.TABLE,
            columns=(
                col("Id", 1, "integer", False, primary_key=True),
                col('label"quoted', 2, "text"),
                col("größe", 3, "smallint", False, default="1", comment="in cm"),
            ),
            comment="Größen, grandeurs",
            row_estimate=3,
            size_bytes=size["größe"],
            primary_key=("Id",),
            indexes=(
                Index(
                    'größe_label"quoted_key',
                    ('label"quoted',),
                    unique=True,
                    primary=False,
                    definition='CREATE UNIQUE INDEX "größe_label""quoted_key" '
                    'ON "données"."größe" USING btree ("label""quoted")',
                ),
                Index(
                    "größe_pkey",
                    ("Id",),
                    unique=True,
                    primary=True,
                    definition='CREATE UNIQUE INDEX "größe_pkey" ON "données"."größe" '
                    'USING btree ("Id")',
                ),
            ),
        ),
        Table(
            schema="public",
            name="plain",
            type=TableType.TABLE,
            columns=(col("x", 1, "integer"),),
            size_bytes=size["plain"],
        ),
        Table(
            schema="sales",
            name="customer_emails",
            type=TableType.VIEW,
            columns=(col("id", 1, "bigint"), col("email", 2, "text")),
            comment="Just the addresses",
            definition=" SELECT customers.id,\n    customers.email\n   FROM sales.customers;",
        ),
        Table(
            schema="sales",
            name="customers",
            type=TableType.TABLE,
            columns=(
                col(
                    "id",
                    1,
                    "bigint",
                    False,
                    default="nextval('sales.customers_id_seq'::regclass)",
                    primary_key=True,
                ),
                col("email", 2, "text", False, comment="Login e-mail"),
                col("name", 3, "character varying(200)", False, default="''::character varying"),
                col("a column", 4, "numeric(10,2)"),
                col("size_id", 5, "integer"),
            ),
            comment="People who buy",
            row_estimate=2,
            size_bytes=size["customers"],
            primary_key=("id",),
            foreign_keys=(
                ForeignKey("customers_size_id_fkey", ("size_id",), "données", "größe", ("Id",)),
            ),
            indexes=(
                Index(
                    "customers_email_key",
                    ("email",),
                    unique=True,
                    primary=False,
                    definition="CREATE UNIQUE INDEX customers_email_key ON sales.customers "
                    "USING btree (email)",
                ),
                Index(
                    "customers_lower_email_name",
                    ("lower(email)", "name"),
                    unique=False,
                    primary=False,
                    definition="CREATE INDEX customers_lower_email_name ON sales.customers "
                    "USING btree (lower(email), name)",
                ),
                Index(
                    "customers_name",
                    ("name",),
                    unique=False,
                    primary=False,
                    definition="CREATE INDEX customers_name ON sales.customers "
                    'USING btree (name) INCLUDE ("a column")',
                ),
                Index(
                    "customers_pkey",
                    ("id",),
                    unique=True,
                    primary=True,
                    definition="CREATE UNIQUE INDEX customers_pkey ON sales.customers "
                    "USING btree (id)",
                ),
            ),
        ),
        Table(
            schema="sales",
            name="event_notes",
            type=TableType.TABLE,
            columns=(
                col("event_id", 1, "integer", False),
                col("happened", 2, "date", False),
                col("note", 3, "text"),
            ),
            row_estimate=0,
            size_bytes=size["event_notes"],
            # One key, not one per partition of the referenced table.
            foreign_keys=(
                ForeignKey(
                    "event_notes_event_fk",
                    ("event_id", "happened"),
                    "sales",
                    "events",
                    ("id", "happened"),
                ),
            ),
        ),
        Table(
            schema="sales",
            name="events",
            type=TableType.PARTITIONED_TABLE,
            columns=events_columns,
            row_estimate=2,
            size_bytes=size["events_2025"] + size["events_2026"],
            partitions=2,
            primary_key=("id", "happened"),
            foreign_keys=events_keys,
            indexes=(
                Index(
                    "events_pkey",
                    ("id", "happened"),
                    unique=True,
                    primary=True,
                    definition="CREATE UNIQUE INDEX events_pkey ON ONLY sales.events "
                    "USING btree (id, happened)",
                ),
            ),
        ),
        partition("events_2025", 1),
        partition("events_2026", 1),
        Table(
            schema="sales",
            name="order_lines",
            type=TableType.TABLE,
            columns=(
                col("order_no", 1, "integer", False, primary_key=True),
                col("customer_id", 2, "bigint", False, primary_key=True),
                col("line", 3, "smallint", False, primary_key=True),
                col("quantity", 4, "integer", False, default="1"),
            ),
            row_estimate=1,
            size_bytes=size["order_lines"],
            primary_key=("customer_id", "order_no", "line"),
            foreign_keys=(
                ForeignKey(
                    "order_lines_order_fk",
                    ("order_no", "customer_id"),
                    "sales",
                    "orders",
                    ("order_no", "customer_id"),
                ),
            ),
            indexes=(
                Index(
                    "order_lines_pkey",
                    ("customer_id", "order_no", "line"),
                    unique=True,
                    primary=True,
                    definition="CREATE UNIQUE INDEX order_lines_pkey ON sales.order_lines "
                    "USING btree (customer_id, order_no, line)",
                ),
            ),
        ),
        Table(
            schema="sales",
            name="order_totals",
            type=TableType.MATERIALIZED_VIEW,
            columns=(col("customer_id", 1, "bigint"), col("total", 2, "numeric")),
            definition=" SELECT orders.customer_id,\n    sum(orders.total) AS total\n"
            "   FROM sales.orders\n  GROUP BY orders.customer_id;",
            row_estimate=2,
            size_bytes=size["order_totals"],
            indexes=(
                Index(
                    "order_totals_customer",
                    ("customer_id",),
                    unique=True,
                    primary=False,
                    definition="CREATE UNIQUE INDEX order_totals_customer ON sales.order_totals "
                    "USING btree (customer_id)",
                ),
            ),
        ),
        Table(
            schema="sales",
            name="orders",
            type=TableType.TABLE,
            columns=(
                col("customer_id", 1, "bigint", False, primary_key=True),
                col("order_no", 2, "integer", False, primary_key=True),
                col("total", 3, "numeric(12,2)", default="0"),
            ),
            row_estimate=2,
            size_bytes=size["orders"],
            primary_key=("customer_id", "order_no"),
            foreign_keys=(
                ForeignKey(
                    "orders_customer_id_fkey", ("customer_id",), "sales", "customers", ("id",)
                ),
            ),
            indexes=(
                Index(
                    "orders_pkey",
                    ("customer_id", "order_no"),
                    unique=True,
                    primary=True,
                    definition="CREATE UNIQUE INDEX orders_pkey ON sales.orders "
                    "USING btree (customer_id, order_no)",
                ),
            ),
        ),
    ]


async def test_list_relations_streams_every_relation_in_schema_then_name_order(
    scratch: Scratch,
) -> None:
    db = await admin(scratch.server, scratch.dbname)
    try:
        # Another session's temporary table lives in pg_temp_N and must not be listed.
        await db.execute("CREATE TEMPORARY TABLE scratch_temp (x text)")
        oids = await all_oids(scratch)
    finally:
        await db.close()

    names = await relation_names(scratch, oids)
    expected = sorted([*RELATIONS, ("Ops Data", "imports")])
    assert names == expected
    assert len(oids) == len(names)  # every oid is a live relation of this database


async def test_read_batch_returns_every_detail(scratch: Scratch) -> None:
    async with crawler(scratch.server, scratch.dbname) as c:
        oids = [r.ref async for r in c.list_relations()]
        tables = await c.read_batch(oids)

    expected = await expected_tables(scratch)
    assert [(t.schema, t.name) for t in tables] == [(t.schema, t.name) for t in expected]
    assert [t.ref for t in tables] == oids  # each table says which relation it is
    for got, want in zip(tables, expected, strict=True):
        assert replace(got, ref="") == want, f"{want.schema}.{want.name}"


async def test_the_session_is_read_only_and_named(scratch: Scratch) -> None:
    name = f"crawler-{uuid.uuid4().hex[:8]}"
    async with crawler(
        scratch.server, scratch.dbname, application_name=name, statement_timeout=2.5
    ) as c:
        connection = c._connection  # internal: the test inspects the session it opened
        assert connection is not None
        assert await connection.fetchval("SHOW default_transaction_read_only") == "on"
        assert await connection.fetchval("SHOW statement_timeout") == "2500ms"
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await connection.execute("CREATE TABLE public.written (x integer)")

        server = await admin(scratch.server)
        try:
            seen = await server.fetch(
                "SELECT datname FROM pg_stat_activity WHERE application_name = $1", name
            )
        finally:
            await server.close()
    assert [r["datname"] for r in seen] == [scratch.dbname]


# Permanent failures fail the crawl at once; unreachable and timeout are retried first.
Failure = CrawlFailure | TransientError
RETRIED = ("unreachable", "timeout")


async def crawl_failure(c: PostgresCrawler) -> Failure:
    """Open the crawler and read one batch; return the failure it raised."""
    with pytest.raises((CrawlFailure, TransientError)) as caught:
        async with c:
            await c.read_batch([r.ref async for r in c.list_relations()])
    failure = caught.value
    assert isinstance(failure, TransientError) == (failure.error_class in RETRIED)
    assert PASSWORD not in str(failure)
    assert all(PASSWORD not in str(arg) for arg in failure.args)
    assert failure.__cause__ is not None
    return failure


async def test_unknown_role_is_auth_failed(scratch: Scratch) -> None:
    failure = await crawl_failure(
        crawler(scratch.server, scratch.dbname, user=f"nobody_{uuid.uuid4().hex}")
    )
    assert failure.error_class == "auth_failed"
    assert isinstance(failure.__cause__, asyncpg.InvalidAuthorizationSpecificationError)


@pytest.mark.parametrize("password", ["x", "p", "e", "postgres", "error", "does"])
async def test_short_and_common_word_passwords_leave_messages_whole(
    scratch: Scratch, password: str
) -> None:
    """Messages are built without the password, never masked: masking `p` would have given
    `InvalidPasswordError: ***assword authentication failed`, and told the password's letter."""
    user = f"nobody_{uuid.uuid4().hex}"
    wrong = crawler(scratch.server, scratch.dbname, user=user, password=password)
    with pytest.raises(CrawlFailure) as caught:
        async with wrong:
            pass
    # A role unknown to a server asking for passwords fails as a wrong password would.
    assert str(caught.value) == (
        f'InvalidPasswordError: password authentication failed for user "{user}"'
    )


async def test_wrong_password_is_auth_failed(scratch: Scratch) -> None:
    role = f"crawl_role_{uuid.uuid4().hex}"
    server = await admin(scratch.server)
    try:
        await server.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
        wrong = crawler(scratch.server, scratch.dbname, user=role, password="wrong-password")
        failure = await crawl_failure(wrong)
    finally:
        await server.execute(f"DROP ROLE IF EXISTS {role}")
        await server.close()
    assert failure.error_class == "auth_failed"
    assert isinstance(failure.__cause__, asyncpg.InvalidPasswordError)


async def test_missing_database_is_database_missing(postgres: PostgresServer) -> None:
    failure = await crawl_failure(crawler(postgres, f"crawl_missing_{uuid.uuid4().hex}"))
    assert failure.error_class == "database_missing"


async def test_a_closed_port_and_a_silent_one_fail_alike_as_unreachable(
    scratch: Scratch, caplog: pytest.LogCaptureFixture
) -> None:
    """Refused and silent would tell a port scanner which ports listen: the tenant reads the
    same for both; the operator's log says which."""
    # Bound but not listening: the kernel refuses connections to it while we hold it.
    with socket.socket() as closed:
        closed.bind((HOST, 0))
        refused = await crawl_failure(
            crawler(scratch.server, scratch.dbname, port=closed.getsockname()[1])
        )
    # The kernel completes the handshake into the backlog; nobody ever reads or answers.
    with socket.create_server((HOST, 0)) as silent:
        unanswered = await crawl_failure(
            crawler(
                scratch.server, scratch.dbname, port=silent.getsockname()[1], connect_timeout=0.5
            )
        )
    for failure in (refused, unanswered):
        assert (failure.error_class, str(failure)) == ("unreachable", UNREACHABLE)
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "ConnectionRefusedError" in logged
    assert "TimeoutError" in logged


async def test_statement_timeout_is_timeout(scratch: Scratch) -> None:
    # An exclusive lock held elsewhere (think ALTER TABLE) blocks the size lookup until
    # statement_timeout cancels it.
    db = await admin(scratch.server, scratch.dbname)
    try:
        orders = await db.fetchval("SELECT 'sales.orders'::regclass::oid")
        async with db.transaction():
            await db.execute("LOCK TABLE sales.orders IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(TransientError) as caught:
                async with crawler(scratch.server, scratch.dbname, statement_timeout=0.3) as c:
                    await c.read_batch([orders])
    finally:
        await db.close()
    assert caught.value.error_class == "timeout"
    assert isinstance(caught.value.__cause__, asyncpg.QueryCanceledError)
    assert PASSWORD not in str(caught.value)


async def test_database_without_connect_privilege_is_permission(scratch: Scratch) -> None:
    role = f"crawl_role_{uuid.uuid4().hex}"
    locked = f"crawl_locked_{uuid.uuid4().hex}"
    server = await admin(scratch.server)
    try:
        await server.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
        await server.execute(f"CREATE DATABASE {locked}")
        await server.execute(f"REVOKE CONNECT ON DATABASE {locked} FROM PUBLIC")
        failure = await crawl_failure(crawler(scratch.server, locked, user=role))
    finally:
        await server.execute(f"DROP DATABASE IF EXISTS {locked} WITH (FORCE)")
        await server.execute(f"DROP ROLE IF EXISTS {role}")
        await server.close()
    assert failure.error_class == "permission"


async def test_connection_lost_mid_crawl_is_unreachable(scratch: Scratch) -> None:
    name = f"crawler-{uuid.uuid4().hex[:8]}"
    async with crawler(scratch.server, scratch.dbname, application_name=name) as c:
        oids = [r.ref async for r in c.list_relations()]
        server = await admin(scratch.server)
        try:
            terminated = await server.fetchval(
                "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                "WHERE application_name = $1",
                name,
            )
        finally:
            await server.close()
        assert terminated == 1
        with pytest.raises(TransientError) as caught:
            await c.read_batch(oids)
    assert caught.value.error_class == "unreachable"
    assert PASSWORD not in str(caught.value)


async def test_the_crawler_must_be_opened_first(scratch: Scratch) -> None:
    with pytest.raises(RuntimeError, match="async with"):
        await crawler(scratch.server, scratch.dbname).read_batch([1])
