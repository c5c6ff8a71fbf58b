"""Scheduled crawls with real processes: due crawls start by themselves, once, whichever of two
indexers looks first, and the schedule outlives an indexer killed and started again."""

from __future__ import annotations

import asyncio
import itertools
import signal

import asyncpg

from tests.faults.harness import Cluster, TargetDatabase

INTERVAL = 2  # seconds; CATALOG_MIN_CRAWL_INTERVAL lets the tests go below the 5 minutes
QUICK = {"CATALOG_INDEX_CHECK_INTERVAL": "0.5", "CATALOG_MIN_CRAWL_INTERVAL": "1"}


async def crawls(faults: Cluster, database_id: str) -> list[asyncpg.Record]:
    """The database's crawls, as the store has them."""
    conn = await asyncpg.connect(faults.store_url)
    try:
        return await conn.fetch(
            "SELECT generation, state, requested_at FROM crawls WHERE database_id = $1"
            " ORDER BY generation",
            database_id,
        )
    finally:
        await conn.close()


async def wait_for_generation(faults: Cluster, database_id: str, generation: int) -> None:
    async with asyncio.timeout(60):
        while True:
            done = [c for c in await crawls(faults, database_id) if c["state"] == "complete"]
            if done and done[-1]["generation"] >= generation:
                return
            await asyncio.sleep(0.1)


async def test_due_crawls_start_once_by_themselves_and_outlive_an_indexer(
    faults: Cluster, make_target
):
    target: TargetDatabase = await make_target(100, 2)
    await faults.start_gateway(**QUICK)
    first = await faults.start_indexer("a", **QUICK)
    await faults.start_indexer("b", **QUICK)  # two watches look for due crawls every 0.5 s
    status, body = await faults.request(
        "POST", "/v1/databases", json=target.registration() | {"crawl_interval": INTERVAL}
    )
    assert status == 201, body
    database_id = body["id"]
    assert body["crawl_interval"] == INTERVAL
    assert body["next_crawl_at"] is not None

    await wait_for_generation(faults, database_id, 3)  # two crawls nobody asked for
    first.send_signal(signal.SIGKILL)
    await first.wait()
    await faults.start_indexer("c", **QUICK)
    await wait_for_generation(faults, database_id, 5)

    found = await crawls(faults, database_id)
    assert [c["generation"] for c in found] == list(range(1, len(found) + 1))
    # Started once each: no two requests closer than the interval, less its 10% jitter.
    gaps = [
        (later["requested_at"] - earlier["requested_at"]).total_seconds()
        for earlier, later in itertools.pairwise(found)
    ]
    assert min(gaps) >= 0.9 * INTERVAL - 0.01, gaps
    await faults.assert_index_holds_exactly(database_id, target, generation=found[-1]["generation"])
