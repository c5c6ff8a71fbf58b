"""Scenario 1: a worker is killed with SIGKILL mid-crawl; another worker finishes the crawl."""

from __future__ import annotations

import signal


async def test_a_killed_worker_is_replaced_and_nothing_is_lost(faults, make_target):
    target = await make_target(5000, 3)
    await faults.start_gateway()
    first = await faults.start_indexer("a")
    database_id, _ = await faults.register(target)
    await faults.wait_for_batches(database_id, 4)  # 20 batches of 250 tables in all
    first.send_signal(signal.SIGKILL)
    await first.wait()
    mid = (await faults.status(database_id))["crawl"]
    assert mid["state"] == "running"
    assert mid["batches_done"] < mid["batches_total"] == 20

    await faults.start_indexer("b")
    status = await faults.wait_for(database_id, 1, ("complete", "failed"), within=120)
    assert status["crawl"]["state"] == "complete", status
    assert status["crawl"]["tables"] == 5000
    await faults.assert_index_holds_exactly(database_id, target, generation=1)
