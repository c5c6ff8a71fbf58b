"""Shared fixtures: real engines, unique names per test."""

from __future__ import annotations

import contextlib
import os
import shutil
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest

from catalog.adapters.pg_store import PgStore
from catalog.embedded import embedded_nats
from tests.engines.chromium import running_chromium
from tests.engines.mariadb import MariaDbServer, running_mariadb
from tests.engines.opensearch_node import running_opensearch
from tests.engines.postgres import PostgresServer, running_postgres
from tests.engines.process import EngineFailed, new_run_folder

T = TypeVar("T")


@pytest.fixture(scope="session")
def engine_run() -> Iterator[Path]:
    """This run's folder for private engines (leftovers of killed runs are cleaned up first)."""
    run = new_run_folder()
    yield run
    shutil.rmtree(run, ignore_errors=True)


@contextlib.contextmanager
def started(engine: AbstractContextManager[T]) -> Iterator[T]:
    """An engine that cannot start ends the whole run at once, with its log's tail."""
    try:
        with engine as running:
            yield running
    except EngineFailed as exc:
        pytest.exit(f"engine failed: {exc}", returncode=1)


@contextlib.contextmanager
def given_or_started(
    variable: str, given: Callable[[str], T], engine: AbstractContextManager[T]
) -> Iterator[T]:
    """The server the environment variable names, or else a private one of ours."""
    url = os.environ.get(variable)
    if url:
        yield given(url)
        return
    with started(engine) as running:
        yield running


@pytest.fixture(scope="session")
def postgres(engine_run: Path) -> Iterator[PostgresServer]:
    """The PostgreSQL for the store and crawl targets: CATALOG_TEST_POSTGRES_URL, or our own."""
    variable, engine = "CATALOG_TEST_POSTGRES_URL", running_postgres(engine_run)
    with given_or_started(variable, PostgresServer.from_url, engine) as server:
        yield server


@pytest.fixture(scope="session")
def mariadb(engine_run: Path) -> Iterator[MariaDbServer]:
    """The MariaDB for MySQL-family crawl targets: CATALOG_TEST_MYSQL_URL, or our own."""
    variable, engine = "CATALOG_TEST_MYSQL_URL", running_mariadb(engine_run)
    with given_or_started(variable, MariaDbServer.from_url, engine) as server:
        yield server


@pytest.fixture(scope="session")
def chromium(engine_run: Path) -> Iterator[str]:
    """A headless Chromium's DevTools endpoint, for Playwright's connect_over_cdp."""
    with started(running_chromium(engine_run)) as endpoint:
        yield endpoint


CreateDatabase = Callable[[str], Awaitable[str]]


@pytest.fixture
async def create_database(postgres: PostgresServer) -> AsyncIterator[CreateDatabase]:
    """Make uniquely named databases; each is dropped when the test ends."""
    made: list[str] = []

    async def create(prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(postgres.url())
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        made.append(name)
        return name

    yield create
    conn = await asyncpg.connect(postgres.url())
    try:
        for name in made:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def store_url(postgres: PostgresServer, create_database: CreateDatabase) -> str:
    return postgres.url(await create_database("catalog_store"))


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
def opensearch_node(engine_run: Path) -> Iterator[str]:
    """A real single-node OpenSearch: CATALOG_TEST_OPENSEARCH_URL, or our own."""
    variable, engine = "CATALOG_TEST_OPENSEARCH_URL", running_opensearch(engine_run)
    with given_or_started(variable, lambda url: url.rstrip("/"), engine) as node:
        yield node


@pytest.fixture
def opensearch_url(opensearch_node: str) -> Iterator[str]:
    """The node, emptied after the test: each test starts with no indices of an earlier one."""
    yield opensearch_node
    request = urllib.request.Request(
        f"{opensearch_node}/*,-.*?expand_wildcards=open,closed", method="DELETE"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
