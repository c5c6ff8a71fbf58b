"""Shared fixtures: real engines, unique names per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import asyncpg
import pytest
from osmem_server import OsmemServer

from catalog.adapters.pg_store import PgStore
from catalog.embedded import embedded_nats

# The PostgreSQL this machine (and CI) runs; tests make their own databases in it.
POSTGRES_URL = os.environ.get(
    "CATALOG_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def database_url(name: str) -> str:
    base, _, _ = POSTGRES_URL.rpartition("/")
    return f"{base}/{name}"


async def run_sql(dbname: str, sql: str) -> None:
    """Run statements in one of the test server's databases, on a connection of their own."""
    conn = await asyncpg.connect(database_url(dbname))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


CreateDatabase = Callable[[str], Awaitable[str]]


@pytest.fixture
async def create_database() -> AsyncIterator[CreateDatabase]:
    """Make uniquely named databases; each is dropped when the test ends."""
    made: list[str] = []

    async def create(prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(POSTGRES_URL)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        made.append(name)
        return name

    yield create
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        for name in made:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def store_url(create_database: CreateDatabase) -> str:
    return database_url(await create_database("catalog_store"))


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[PgStore]:
    store = await PgStore.connect(store_url)
    yield store
    await store.close()


@pytest.fixture
async def nats_url(tmp_path) -> AsyncIterator[str]:
    """A JetStream server of the test's own, with a temporary store."""
    async with embedded_nats(tmp_path / "nats-data") as url:
        yield url


@pytest.fixture(scope="session")
def osmem_server(pytestconfig: pytest.Config) -> Iterator[OsmemServer]:
    """The plugin's server, started as the plugin does (same ini options), but closed fully.

    osmem-server 0.1.6's close() leaves the process's stdout pipe open; with
    filterwarnings=error the resulting ResourceWarning fails whichever test collects it.
    """
    server = OsmemServer.start(
        freeze=pytestconfig.getini("osmem_freeze"),
        japanese=pytestconfig.getini("osmem_japanese"),
    )
    yield server
    server.close()
    if server.process.stdout is not None:
        server.process.stdout.close()
