"""The crawler contract: the same tests, unchanged, against every engine's crawler and our fake.

Each target holds the logical schema of tests/contract_schema.py in its own dialect. What the
tests assert is what the rest of the product relies on, whatever the engine: opaque string refs
in a stable order, batches that can be split anywhere, dropped relations skipped, and the same
tables, keys, indexes and columns read from either engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import pytest
import pytest_asyncio

from catalog.adapters.mysql_crawler import MySqlCrawler, quote
from catalog.adapters.postgres_crawler import PostgresCrawler
from catalog.crawler import Crawler
from catalog.models import Engine, ForeignKey, SslMode, Table, TableType, Target
from tests import contract_schema
from tests.engines.mariadb import MariaDbServer
from tests.engines.postgres import PostgresServer
from tests.fakes import FakeCrawler

pytestmark = pytest.mark.asyncio(loop_scope="module")

PASSWORD = "pw-Contract!7"


@dataclass
class ContractTarget:
    """A database holding the logical schema, and how to crawl and change it."""

    name: str
    open: Callable[[], AbstractAsyncContextManager[Crawler]]
    add_table: Callable[[str, str], Awaitable[None]]
    drop_table: Callable[[str, str], Awaitable[None]]
    # Runs statements in the target's own dialect (not for the fake).
    sql: Callable[[str], Awaitable[None]] | None = None


def _opener(cls: type, target: Target) -> Callable[[], AbstractAsyncContextManager[Crawler]]:
    return lambda: cls(target, PASSWORD, connect_timeout=5.0, statement_timeout=10.0)


@contextlib.asynccontextmanager
async def postgres_target(server: PostgresServer) -> AsyncIterator[ContractTarget]:
    dbname = f"contract_{uuid.uuid4().hex}"
    user = f"contract_{uuid.uuid4().hex[:12]}"
    await server.execute("postgres", f'CREATE DATABASE "{dbname}"')
    await server.execute("postgres", f"CREATE ROLE {user} LOGIN PASSWORD '{PASSWORD}'")
    await server.execute(dbname, contract_schema.POSTGRESQL + "ANALYZE;")

    async def sql(text: str) -> None:
        await server.execute(dbname, text)

    async def add_table(schema: str, name: str) -> None:
        await sql(f'CREATE TABLE "{schema}"."{name}" (x integer)')

    async def drop_table(schema: str, name: str) -> None:
        await sql(f'DROP TABLE "{schema}"."{name}"')

    target = Target(Engine.POSTGRESQL, server.host, server.port, dbname, user, SslMode.DISABLE)
    try:
        yield ContractTarget(
            "postgresql", _opener(PostgresCrawler, target), add_table, drop_table, sql
        )
    finally:
        await server.execute("postgres", f'DROP DATABASE "{dbname}" WITH (FORCE)')
        await server.execute("postgres", f"DROP ROLE {user}")


@contextlib.asynccontextmanager
async def mysql_target(server: MariaDbServer) -> AsyncIterator[ContractTarget]:
    """The logical schema's three schemas, and a user that sees only them (an empty dbname:
    every schema it can see)."""
    user = f"contract_{uuid.uuid4().hex[:12]}"

    async def sql(text: str) -> None:
        await asyncio.to_thread(server.client, text)

    drop = "; ".join(f"DROP DATABASE IF EXISTS {quote(s)}" for s in contract_schema.SCHEMAS)
    await sql(drop)
    await sql(contract_schema.MYSQL)
    grants = "; ".join(
        f"GRANT SELECT, SHOW VIEW ON {quote(s)}.* TO '{user}'@'%'" for s in contract_schema.SCHEMAS
    )
    await sql(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{PASSWORD}'; {grants}")

    async def add_table(schema: str, name: str) -> None:
        await sql(f"CREATE TABLE {quote(schema)}.{quote(name)} (x integer)")

    async def drop_table(schema: str, name: str) -> None:
        await sql(f"DROP TABLE {quote(schema)}.{quote(name)}")

    target = Target(Engine.MYSQL, server.host, server.port, "", user, SslMode.DISABLED)
    try:
        yield ContractTarget("mysql", _opener(MySqlCrawler, target), add_table, drop_table, sql)
    finally:
        await sql(f"{drop}; DROP USER '{user}'@'%'")


@contextlib.asynccontextmanager
async def fake_target(server: PostgresServer) -> AsyncIterator[ContractTarget]:
    """Our FakeCrawler, loaded with what the PostgreSQL crawler read of the logical schema."""
    async with postgres_target(server) as real, real.open() as crawler:
        refs = [r.ref async for r in crawler.list_relations()]
        tables = await crawler.read_batch(refs)
    fake = FakeCrawler({ref: table for ref, table in zip(refs, tables, strict=True)})
    numbers = itertools.count(1)

    async def add_table(schema: str, name: str) -> None:
        fake.tables[f"added-{next(numbers)}"] = Table(schema, name, TableType.TABLE)

    async def drop_table(schema: str, name: str) -> None:
        for ref, table in list(fake.tables.items()):
            if (table.schema, table.name) == (schema, name):
                del fake.tables[ref]

    @contextlib.asynccontextmanager
    async def opened() -> AsyncIterator[Crawler]:
        yield fake

    yield ContractTarget("fake", opened, add_table, drop_table)


def contract_target(request: pytest.FixtureRequest) -> AbstractAsyncContextManager[ContractTarget]:
    """The target its parameter names, on the suite's engine it needs."""
    if request.param == "mysql":
        return mysql_target(request.getfixturevalue("mariadb"))
    if request.param == "postgresql":
        return postgres_target(request.getfixturevalue("postgres"))
    return fake_target(request.getfixturevalue("postgres"))


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["postgresql", "mysql", "fake"])
async def target(request: pytest.FixtureRequest) -> AsyncIterator[ContractTarget]:
    async with contract_target(request) as opened:
        yield opened


async def crawl(target: ContractTarget) -> tuple[list[str], list[Table]]:
    async with target.open() as crawler:
        refs = [r.ref async for r in crawler.list_relations()]
        return refs, await crawler.read_batch(refs)


def by_name(tables: list[Table]) -> dict[tuple[str, str], Table]:
    return {(t.schema, t.name): t for t in tables}


async def test_every_relation_is_listed_once_by_schema_then_name(target: ContractTarget) -> None:
    refs, tables = await crawl(target)
    assert all(isinstance(ref, str) for ref in refs)
    assert len(set(refs)) == len(refs) == len(tables)
    names = [(t.schema, t.name) for t in tables]
    assert names == sorted(names)
    assert sorted(n for n, t in zip(names, tables, strict=True) if t.partition_of is None) == (
        contract_schema.RELATIONS
    )
    # Partitions, where an engine lists them, hang under their parent.
    assert {t.partition_of for t in tables} <= {None, "sales.events"}


async def test_read_batch_follows_the_order_it_is_given(target: ContractTarget) -> None:
    refs, tables = await crawl(target)
    async with target.open() as crawler:
        backwards = await crawler.read_batch(refs[::-1])
    assert backwards == tables[::-1]


@pytest.mark.parametrize("cuts", [(1,), (3, 4), (2, 7, 8), tuple(range(1, 12))])
async def test_batches_split_anywhere_give_the_same_tables(
    target: ContractTarget, cuts: tuple[int, ...]
) -> None:
    refs, whole = await crawl(target)
    bounds = [0, *[cut for cut in cuts if cut < len(refs)], len(refs)]
    async with target.open() as crawler:
        pieces = [
            table
            for start, end in itertools.pairwise(bounds)
            for table in await crawler.read_batch(refs[start:end])
        ]
    assert pieces == whole


async def test_a_relation_dropped_after_the_plan_is_skipped(target: ContractTarget) -> None:
    await target.add_table("sales", "doomed")
    refs, tables = await crawl(target)
    doomed = next(ref for ref, t in zip(refs, tables, strict=True) if t.name == "doomed")
    await target.drop_table("sales", "doomed")
    async with target.open() as crawler:
        after = await crawler.read_batch(refs)
        nothing = await crawler.read_batch([doomed])
    assert nothing == []
    assert [(t.schema, t.name) for t in after] == [
        (t.schema, t.name) for t in tables if t.name != "doomed"
    ]


async def test_an_empty_batch_gives_no_tables(target: ContractTarget) -> None:
    async with target.open() as crawler:
        assert await crawler.read_batch([]) == []


async def test_kinds_views_and_partitioned_tables(target: ContractTarget) -> None:
    tables = by_name((await crawl(target))[1])
    view = tables["sales", "customer_emails"]
    assert view.type is TableType.VIEW
    assert view.definition is not None
    assert "customers" in view.definition
    assert [c.name for c in view.columns] == ["id", "email"]
    assert view.size_bytes is None
    assert tables["sales", "events"].type is TableType.PARTITIONED_TABLE
    assert tables["sales", "events"].partitions == 2
    orders = tables["sales", "orders"]
    assert orders.partitions is None
    assert orders.type is TableType.TABLE
    assert orders.size_bytes is not None
    assert orders.size_bytes > 0


async def test_primary_keys_and_composite_and_cross_schema_foreign_keys(
    target: ContractTarget,
) -> None:
    tables = by_name((await crawl(target))[1])
    assert tables["sales", "orders"].primary_key == ("customer_id", "order_no")
    assert tables["sales", "order_lines"].primary_key == ("customer_id", "order_no", "line")
    assert tables["sales", "order_lines"].foreign_keys == (
        ForeignKey(
            "order_lines_order_fk",
            ("order_no", "customer_id"),
            "sales",
            "orders",
            ("order_no", "customer_id"),
        ),
    )
    assert tables["sales", "customers"].foreign_keys == (
        ForeignKey("customers_size_fk", ("size_id",), "données", "größe", ("Id",)),
    )
    assert tables["Ops Data", "my table"].primary_key == ()


async def test_unique_full_text_and_spatial_indexes(target: ContractTarget) -> None:
    tables = by_name((await crawl(target))[1])
    customers = {i.name: i for i in tables["sales", "customers"].indexes}
    assert customers["customers_email_key"].unique
    assert customers["customers_email_key"].columns == ("email",)
    assert not customers["customers_text"].unique
    orders = {i.name: i for i in tables["sales", "orders"].indexes}
    assert orders["orders_number"].unique
    assert orders["orders_number"].columns == ("order_no", "customer_id")
    assert [i.primary for i in orders.values()].count(True) == 1
    stores = {i.name: i for i in tables["sales", "stores"].indexes}
    assert stores["stores_location"].columns == ("location",)
    assert all(i.definition for i in stores.values())


async def test_columns_with_comments_defaults_generation_and_odd_names(
    target: ContractTarget,
) -> None:
    tables = by_name((await crawl(target))[1])
    camel = {c.name: c for c in tables["Ops Data", "CamelCase"].columns}
    assert camel["Id"].auto_increment
    assert camel["Id"].primary_key
    assert not camel["Id"].nullable
    assert camel["doubled"].generated is not None
    assert "MixedCase" in camel["doubled"].generated
    assert camel["doubled"].default is None
    assert camel["MixedCase"].collation is not None
    customers = {c.name: c for c in tables["sales", "customers"].columns}
    assert customers["email"].comment == "Login e-mail"
    assert not customers["email"].nullable
    assert customers["name"].default is not None
    assert customers["a column"].nullable
    assert customers["a column"].default is None
    odd = tables["Ops Data", "my table"].columns
    assert [(c.name, c.position) for c in odd] == [("a column", 1), ("select", 2), ("we`ird", 3)]
    assert odd[0].comment == "spaced"
    größe = tables["données", "größe"]
    assert größe.comment == "Größen, grandeurs"
    assert [c.name for c in größe.columns] == ["Id", 'label"quoted', "größe"]
    assert tables["sales", "customers"].comment == "People who buy"
    assert tables["sales", "customer_emails"].comment is None


async def test_a_connection_test_reports_the_server(target: ContractTarget) -> None:
    async with target.open() as crawler:
        report = await crawler.check_access()
    assert report.ok
    assert report.server_version
    assert {check.name for check in report.checks} >= {"connect"}


async def test_fingerprints_are_computed_only_when_asked(target: ContractTarget) -> None:
    async with target.open() as crawler:
        plain = [r async for r in crawler.list_relations(fingerprints=False)]
        full = [r async for r in crawler.list_relations()]
    assert [(r.ref, r.schema, r.name) for r in plain] == [(r.ref, r.schema, r.name) for r in full]
    assert {r.fingerprint for r in plain} == {None}
    assert all(isinstance(r.fingerprint, str) and r.fingerprint for r in full)
    assert len({r.fingerprint for r in full}) == len(full)  # no two definitions alike here
