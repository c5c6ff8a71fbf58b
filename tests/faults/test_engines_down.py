"""Scenarios 2 to 5: NATS, the search engine, the target database and the store go away."""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import AsyncIterator

import aiohttp
import asyncpg

from tests.engines.postgres import PostgresServer
from tests.faults.harness import AUTH


async def test_registration_while_nats_is_down_is_crawled_when_it_returns(faults, make_target):
    target = await make_target(600, 3)
    await faults.start_gateway()
    await faults.start_indexer("a")
    await faults.nats.stop()

    database_id, _ = await faults.register(target)  # the gateway never needs NATS
    await asyncio.sleep(1.5)
    assert (await faults.status(database_id))["crawl"]["state"] == "queued"

    await faults.nats.start()
    status = await faults.wait_for(database_id, 1, ("complete", "failed"), within=60)
    assert status["crawl"]["state"] == "complete", status
    await faults.assert_index_holds_exactly(database_id, target, generation=1)


async def test_an_index_outage_mid_crawl_is_ridden_out(faults, make_target):
    target = await make_target(2000, 3)
    await faults.start_gateway()
    await faults.start_indexer("a", CATALOG_MAX_DELIVER="12")
    database_id, _ = await faults.register(target)
    await faults.wait_for_batches(database_id, 2)
    await faults.index_proxy.cut()
    await asyncio.sleep(2)
    assert (await faults.status(database_id))["crawl"]["state"] == "running"
    await faults.index_proxy.restore()

    status = await faults.wait_for(database_id, 1, ("complete", "failed"), within=90)
    assert status["crawl"]["state"] == "complete", status
    await faults.assert_index_holds_exactly(database_id, target, generation=1)
    assert "retrying" in faults.log("indexer-a")


async def test_an_index_that_never_returns_fails_the_crawl_and_keeps_the_old_documents(
    faults, make_target
):
    target = await make_target(1500, 3)
    await faults.start_gateway()
    await faults.start_indexer("a")
    database_id, _ = await faults.register(target)
    await faults.wait_for(database_id, 1, ("complete",), within=60)

    status, _ = await faults.request("POST", f"/v1/databases/{database_id}/crawls")
    assert status == 202
    await faults.wait_for_batches(database_id, 1)
    await faults.index_proxy.cut()
    async with searchable_throughout(faults, database_id, "table_00007"):
        failed = await faults.wait_for(database_id, 2, ("failed", "complete"), within=60)
    assert failed["crawl"]["state"] == "failed"
    assert failed["crawl"]["error"]["error_class"] == "unavailable"
    assert failed["live_generation"] == 1
    generation_one = [d for d in await faults.documents(database_id) if d[4] == 1]
    assert {d[:4] for d in generation_one} == target.expected_documents()

    await faults.index_proxy.restore()
    await faults.request("POST", f"/v1/databases/{database_id}/crawls")
    recovered = await faults.wait_for(database_id, 3, ("complete", "failed"), within=60)
    assert recovered["crawl"]["state"] == "complete", recovered
    await faults.assert_index_holds_exactly(database_id, target, generation=3)


async def test_a_target_that_vanishes_mid_crawl_fails_as_unreachable_and_deletes_nothing(
    faults, make_target
):
    target = await make_target(2000, 3)
    await faults.start_gateway()
    await faults.start_indexer("a")
    database_id, _ = await faults.register(target)
    await faults.wait_for(database_id, 1, ("complete",), within=60)

    await faults.request("POST", f"/v1/databases/{database_id}/crawls")
    await faults.wait_for_batches(database_id, 1)
    await shut_database(target.server, target.dbname, accept_connections=False)
    async with searchable_throughout(faults, database_id, "table_00007"):
        failed = await faults.wait_for(database_id, 2, ("failed", "complete"), within=60)
    assert failed["crawl"]["state"] == "failed"
    assert failed["crawl"]["error"]["error_class"] == "unreachable"
    generation_one = [d for d in await faults.documents(database_id) if d[4] == 1]
    assert {d[:4] for d in generation_one} == target.expected_documents()

    await shut_database(target.server, target.dbname, accept_connections=True)
    await faults.request("POST", f"/v1/databases/{database_id}/crawls")
    recovered = await faults.wait_for(database_id, 3, ("complete", "failed"), within=60)
    assert recovered["crawl"]["state"] == "complete", recovered
    await faults.assert_index_holds_exactly(database_id, target, generation=3)


async def test_the_gateway_answers_503_while_the_store_restarts_and_recovers_by_itself(
    faults, tmp_path
):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs, about XDG_RUNTIME_DIR
        import pgserver

    pgdata = tmp_path / "store"
    pgdata.mkdir()
    server = await asyncio.to_thread(pgserver.get_server, pgdata)
    await faults.start_gateway(CATALOG_DATABASE_URL=server.get_uri())
    status, _ = await faults.request("GET", "/v1/databases")
    assert status == 200

    await asyncio.to_thread(server.cleanup)  # the store goes down
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.get(f"{faults.base_url}/v1/databases") as response:
            assert response.status == 503
            assert response.headers["Retry-After"]
            assert response.content_type == "application/problem+json"
        async with http.get(f"{faults.base_url}/readyz") as response:
            assert response.status == 503

    server = await asyncio.to_thread(pgserver.get_server, pgdata)  # and comes back
    try:
        async with asyncio.timeout(20):
            while (await faults.request("GET", "/v1/databases"))[0] != 200:
                await asyncio.sleep(0.2)
    finally:
        await asyncio.to_thread(server.cleanup)


async def shut_database(postgres: PostgresServer, dbname: str, *, accept_connections: bool) -> None:
    """Close a database to new connections and end its sessions, or open it again."""
    conn = await asyncpg.connect(postgres.url())
    try:
        await conn.execute(
            f'ALTER DATABASE "{dbname}" WITH ALLOW_CONNECTIONS {str(accept_connections).lower()}'
        )
        if not accept_connections:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                dbname,
            )
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def searchable_throughout(faults, database_id: str, table: str) -> AsyncIterator[None]:
    """Keep searching while the body runs; every search must find the table."""
    misses: list[object] = []
    stop = asyncio.Event()

    async def probe() -> int:
        count = 0
        while not stop.is_set():
            found = await faults.search_table(database_id, table)
            if table not in found:
                misses.append(found)
            count += 1
            await asyncio.sleep(0.1)
        return count

    task = asyncio.create_task(probe())
    try:
        yield
    finally:
        stop.set()
        probes = await task
    assert probes > 3
    assert misses == []
