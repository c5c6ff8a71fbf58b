"""The whole system in one event loop: gateway over HTTP, relay and workers over real NATS,
a real PostgreSQL store and target, and a tantivy index."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestClient

from catalog.bootstrap import Services, open_services
from catalog.settings import Settings
from gateway.app import create_app
from indexer.runtime import run_indexer
from tests.engines.postgres import PostgresServer
from tests.target_schema import SCHEMA

ADMIN_TOKEN = "cat_e2e-admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@dataclass
class Target:
    server: PostgresServer
    dbname: str
    user: str
    password: str

    async def execute(self, sql: str) -> None:
        await self.server.execute(self.dbname, sql)

    def registration(self) -> dict[str, object]:
        return {
            "dbname": self.dbname,
            "user": self.user,
            "password": self.password,
            "host": self.server.host,
            "port": self.server.port,
        }


@pytest.fixture
async def target(postgres, create_database) -> AsyncIterator[Target]:
    """A target database with a read-only role that has a password of its own."""
    dbname = await create_database("e2e_target")
    user = f"reader_{uuid.uuid4().hex[:8]}"
    found = Target(postgres, dbname, user, f"pw-{uuid.uuid4().hex}-leak-canary")
    await found.execute(SCHEMA)
    await found.execute(
        f"CREATE ROLE {user} LOGIN PASSWORD '{found.password}';"
        f'GRANT USAGE ON SCHEMA sales, "Ops Data", données TO {user};'
    )
    yield found
    await found.execute(f"DROP OWNED BY {user}")
    await found.execute(f"DROP ROLE {user}")


@dataclass
class System:
    client: TestClient
    services: Services

    async def wait_for_crawl(self, database_id: str, generation: int) -> dict:
        async with asyncio.timeout(90):  # generous: a loaded CI machine is slow, not wrong
            while True:
                response = await self.client.get(f"/v1/databases/{database_id}", headers=AUTH)
                body = await response.json()
                crawl = body["crawl"]
                if crawl["generation"] == generation and crawl["state"] in ("complete", "failed"):
                    return body
                await asyncio.sleep(0.05)


@pytest.fixture
def batch_size() -> int:
    """Several batches even for a small schema; a test may parametrize another."""
    return 3


@pytest.fixture
async def system(
    tmp_path, store_url, nats_url, aiohttp_client, batch_size
) -> AsyncIterator[System]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=store_url,
        nats_url=nats_url,
        admin_token=ADMIN_TOKEN,
        target_this_host=True,  # the targets are the suite's own PostgreSQL, on loopback
        batch_size=batch_size,
        ack_wait=5,
        retry_delay=0.05,  # an unreachable target gives up in a fraction of a second
        max_deliver=4,
    )
    stop = asyncio.Event()
    async with open_services(settings, with_events=True) as services:
        indexer = asyncio.create_task(run_indexer(services, stop))
        app = create_app(services)
        client = await aiohttp_client(app)
        try:
            yield System(client, services)
        finally:
            stop.set()
            await indexer
            await client.close()
