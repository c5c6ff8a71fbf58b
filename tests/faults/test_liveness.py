"""Scenarios 11 to 16: no crawl waits forever, a lost index is noticed and rebuilt, a re-crawl
asked after a change sees it, and an indexer waits for a slow index instead of dying."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import time
from collections.abc import AsyncIterator

import aiohttp
import asyncpg

from tests.faults.harness import Cluster, TargetDatabase

# Small so that running out of deliveries takes seconds: 3 deliveries of 2 s each.
ACK_WAIT, MAX_DELIVER = 2, 3
SHORT_DELIVERIES = {"CATALOG_ACK_WAIT": str(ACK_WAIT), "CATALOG_MAX_DELIVER": str(MAX_DELIVER)}
# The index watch looks every second here (30 s by default).
QUICK_WATCH = {"CATALOG_INDEX_CHECK_INTERVAL": "1"}
SEARCH = {"q": "table_00007", "kind": "table"}


@contextlib.asynccontextmanager
async def row_locked(url: str, sql: str, *args: object) -> AsyncIterator[asyncpg.Connection]:
    """Hold the row (or table) locks `sql` takes, in an open transaction, until the block ends."""
    conn = await asyncpg.connect(url)
    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.execute(sql, *args)
        yield conn
    finally:
        await transaction.rollback()
        await conn.close()


async def lock_waiters(url: str, dbname: str) -> int:
    """Sessions of `dbname` waiting for a lock (each a delivery stuck behind ours)."""
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
            dbname,
        )
    finally:
        await conn.close()


async def wait_for_waiters(url: str, dbname: str, count: int, within: float = 30) -> None:
    async with asyncio.timeout(within):
        while await lock_waiters(url, dbname) < count:
            await asyncio.sleep(0.05)


async def kill(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGKILL)
    await proc.wait()


async def test_a_batch_whose_worker_dies_on_every_delivery_fails_its_crawl_with_a_dead_letter(
    faults: Cluster, make_target
):
    """Killed on its last delivery, a batch used to leave its crawl `running` for good, and every
    re-crawl request returned that crawl."""
    target: TargetDatabase = await make_target(1000, 2)
    server = target.server
    await faults.start_gateway()
    database_id, crawl_id = await faults.register(target)
    # A table of the third batch is locked: its batch blocks until its worker is killed.
    async with row_locked(
        server.url(target.dbname), "LOCK TABLE ops.table_00501 IN ACCESS EXCLUSIVE MODE"
    ):
        for delivery in range(1, MAX_DELIVER + 1):
            worker = await faults.start_indexer(f"doomed-{delivery}", **SHORT_DELIVERIES)
            await wait_for_waiters(server.url(), target.dbname, delivery)
            # Only the blocked batch is in flight when it dies (a kill costs every message in
            # flight a delivery).
            await faults.wait_for_batches(database_id, 3)
            await kill(worker)
            if delivery == 1:
                killed_first = time.monotonic()
        await faults.start_indexer("survivor", **SHORT_DELIVERIES)
        failed = await faults.wait_for(database_id, 1, ("failed", "complete"), within=30)
        took = time.monotonic() - killed_first
    crawl = failed["crawl"]
    assert (crawl["state"], crawl["error"]["error_class"]) == ("failed", "worker_lost"), crawl
    assert "out of deliveries" in crawl["error"]["message"]
    assert took < ACK_WAIT * MAX_DELIVER + 20  # a few seconds for each indexer to start
    status, letters = await faults.request("GET", f"/v1/dead-letters?crawl_id={crawl_id}")
    assert status == 200
    assert len(letters["items"]) == 1, letters
    [letter] = letters["items"]
    assert (letter["subject"], letter["deliveries"]) == ("catalog.crawl.batch", MAX_DELIVER)

    # Nothing waits for it any more: the next request runs a new crawl to the end.
    status, body = await faults.request("POST", f"/v1/databases/{database_id}/crawls")
    assert (status, body["crawl"]["generation"]) == (202, 2)
    done = await faults.wait_for(database_id, 2, ("complete", "failed"), within=60)
    assert done["crawl"]["state"] == "complete", done
    await faults.assert_index_holds_exactly(database_id, target, generation=2)


async def test_the_worker_finishing_a_crawl_is_killed_again_and_again_and_it_still_completes(
    faults: Cluster, make_target
):
    """A crawl whose batches were all done completed 296 s late, because each worker that took
    its last step re-read the last batch first and was killed meanwhile."""
    target: TargetDatabase = await make_target(500, 2)
    await faults.start_gateway()
    database_id, _ = await faults.register(target)
    store_db = faults.store_url.rsplit("/", 1)[1].split("?")[0]
    # Publishing switches the database's live generation: with its row locked, the finishing
    # step waits, and whoever runs it can be killed while it does.
    async with row_locked(
        faults.store_url, "SELECT 1 FROM databases WHERE id = $1 FOR UPDATE", database_id
    ):
        for attempt in range(1, 3):
            worker = await faults.start_indexer(f"finisher-{attempt}")
            await wait_for_waiters(faults.store_url, store_db, attempt)
            crawl = (await faults.status(database_id))["crawl"]
            assert (crawl["state"], crawl["batches_done"]) == ("finishing", crawl["batches_total"])
            await kill(worker)
        await faults.start_indexer("last")
        await wait_for_waiters(faults.store_url, store_db, 3)
        released = time.monotonic()
    done = await faults.wait_for(database_id, 1, ("complete", "failed"), within=30)
    assert done["crawl"]["state"] == "complete", done
    assert time.monotonic() - released < 10  # not one more ack_wait, nor a batch read again
    assert done["crawl"]["tables"] == 500
    await faults.assert_index_holds_exactly(database_id, target, generation=1)


async def test_a_recrawl_asked_after_a_drop_during_a_running_crawl_no_longer_has_the_table(
    faults: Cluster, make_target
):
    """A request merged into the running crawl, planned before the DROP, published the dropped
    tables as live."""
    target: TargetDatabase = await make_target(2000, 2)
    await faults.start_gateway()
    await faults.start_indexer("a")
    database_id, first = await faults.register(target)
    await faults.wait_for_batches(database_id, 1)
    await target.drop(target.names()[1500:1600])
    status, body = await faults.request("POST", f"/v1/databases/{database_id}/crawls")
    assert status == 202
    follow_up = body["crawl"]
    assert (follow_up["generation"], follow_up["queued_after"]) == (2, first)

    done = await faults.wait_for(database_id, 2, ("complete", "failed"), within=90)
    assert done["crawl"]["state"] == "complete", done
    assert done["crawl"]["tables"] == 1900
    await faults.assert_index_holds_exactly(database_id, target, generation=2)


async def test_a_deleted_opensearch_index_answers_503_then_is_recreated_and_recrawled(
    faults: Cluster, make_target
):
    target: TargetDatabase = await make_target(600, 2)
    await faults.start_gateway()
    await faults.start_indexer("a", **QUICK_WATCH)
    database_id, _ = await faults.register(target)
    await faults.wait_for(database_id, 1, ("complete",), within=60)

    async with (
        aiohttp.ClientSession() as http,
        http.delete(f"{faults.opensearch_url}/{faults.index_name}") as response,
    ):
        assert response.status == 200
    params = SEARCH | {"database_id": database_id}
    status, body = await faults.request("GET", "/v1/search", params=params)
    assert status == 503, body  # at once: the index is missing (it was a 500)
    await expect_503_until_rebuilt(faults, database_id)
    await faults.assert_index_holds_exactly(database_id, target, generation=2)


async def test_a_removed_tantivy_directory_answers_503_then_is_recreated_and_recrawled(
    faults: Cluster, make_target
):
    target: TargetDatabase = await make_target(2000, 2)
    embedded = {"CATALOG_OPENSEARCH_URL": ""}  # the default: tantivy in the data folder
    await faults.start_gateway(**embedded)
    await faults.start_indexer("a", **embedded, **QUICK_WATCH)
    database_id, _ = await faults.register(target)
    await faults.wait_for(database_id, 1, ("complete",), within=60)
    assert len(await tables(faults, database_id)) == 2000

    shutil.rmtree(faults.tmp / "data" / "index")
    await expect_503_until_rebuilt(faults, database_id)
    expected = {name for _, name in target.names()}
    assert {t["name"] for t in await tables(faults, database_id)} == expected


async def expect_503_until_rebuilt(faults: Cluster, database_id: str) -> None:
    """The watch marks the database lost and asks for a re-crawl on its own; search answers 503
    (never 500, never an empty 200) until that re-crawl completes; then all is whole again."""
    async with asyncio.timeout(30):
        while (lost := await faults.status(database_id))["index_lost_at"] is None:
            await asyncio.sleep(0.05)
    assert lost["crawl"]["generation"] == 2
    params = SEARCH | {"database_id": database_id}
    status, body = await faults.request("GET", "/v1/search", params=params)
    assert status == 503, body
    assert database_id in body["detail"]
    async with asyncio.timeout(90):
        while status != 200:
            assert status == 503, body
            await asyncio.sleep(0.1)
            status, body = await faults.request("GET", "/v1/search", params=params)
    assert body["hits"], "an empty answer over a database being rebuilt"
    status = await faults.status(database_id)
    assert (status["crawl"]["generation"], status["crawl"]["state"]) == (2, "complete")
    assert (status["live_generation"], status["index_lost_at"]) == (2, None)


async def tables(faults: Cluster, database_id: str) -> list[dict]:
    found: list[dict] = []
    cursor = None
    while True:
        params = {"limit": "500"} | ({"cursor": cursor} if cursor else {})
        status, page = await faults.request(
            "GET", f"/v1/databases/{database_id}/tables", params=params
        )
        assert status == 200, page
        found += page["items"]
        if (cursor := page["next_cursor"]) is None:
            return found


async def test_an_indexer_started_while_opensearch_does_not_answer_waits_and_then_works(
    faults: Cluster, make_target
):
    """Indexers started against a slow OpenSearch exited on the first timeout."""
    target: TargetDatabase = await make_target(300, 2)
    await faults.start_gateway()
    await faults.index_proxy.cut()
    indexer = await faults.start_indexer("patient")
    async with asyncio.timeout(30):
        while "not ready: cannot open the search index" not in faults.log("indexer-patient"):
            assert indexer.returncode is None, faults.log("indexer-patient")
            await asyncio.sleep(0.1)
    database_id, _ = await faults.register(target)

    await faults.index_proxy.restore()
    done = await faults.wait_for(database_id, 1, ("complete", "failed"), within=60)
    assert done["crawl"]["state"] == "complete", done
    assert indexer.returncode is None
    await faults.assert_index_holds_exactly(database_id, target, generation=1)
