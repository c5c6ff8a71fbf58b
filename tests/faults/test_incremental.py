"""Incremental crawls end to end: real processes, PostgreSQL, NATS and OpenSearch.

A crawl reads only what changed since the live one; killed halfway it leaves the live state
served, and two crawls asked for back to back end in one consistent state.
"""

from __future__ import annotations

import signal

from tests.faults.harness import Cluster, TargetDatabase


async def crawled_twice(faults: Cluster, target: TargetDatabase) -> str:
    """Registered and crawled twice: the second crawl lists fingerprints for the next."""
    database_id, _ = await faults.register(target)
    await faults.wait_for(database_id, 1, ("complete",), within=90)
    await recrawl(faults, database_id)
    await faults.wait_for(database_id, 2, ("complete",), within=90)
    return database_id


async def recrawl(faults: Cluster, database_id: str, **body: bool) -> dict:
    status, answer = await faults.request(
        "POST", f"/v1/databases/{database_id}/crawls", json=body or None
    )
    assert status == 202, answer
    return answer["crawl"]


async def test_an_incremental_crawl_killed_halfway_leaves_the_live_state_served(
    faults: Cluster, make_target
):
    target = await make_target(2000, 3)
    await faults.start_gateway()
    first = await faults.start_indexer("a")
    database_id = await crawled_twice(faults, target)

    # 600 of 2,000 tables gain a column (3 batches of 250), one is dropped, one is new.
    altered = target.names()[:600]
    await target.execute(
        "".join(f"ALTER TABLE {s}.{t} ADD COLUMN extra integer;" for s, t in altered)
    )
    await target.drop([target.names()[-1]])
    await target.execute("CREATE TABLE finance.brand_new (id integer)")
    crawl = await recrawl(faults, database_id)
    await faults.wait_for_batches(database_id, 1)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    mid = (await faults.status(database_id))["crawl"]
    assert (mid["generation"], mid["state"], mid["mode"]) == (3, "running", "incremental")
    assert mid["batches_total"] == 3  # the 600 altered and the new one, not all 2,000
    # Readers still see generation 2, whole: the dropped table, no new one.
    assert await faults.search_table(database_id, "brand_new") == []
    assert target.names()[-1][1] in await faults.search_table(database_id, target.names()[-1][1])

    await faults.start_indexer("b")
    status = await faults.wait_for(database_id, crawl["generation"], ("complete", "failed"))
    assert status["crawl"]["state"] == "complete", status
    assert (status["crawl"]["tables"], status["crawl"]["columns"]) == (2000, 6000 - 3 + 600 + 1)
    expected = target.expected_documents()
    expected |= {("column", s, t, "extra") for s, t in altered}
    expected |= {("table", "finance", "brand_new", None), ("column", "finance", "brand_new", "id")}
    await faults.assert_index_holds_exactly(database_id, target, crawl["generation"], expected)
    assert await faults.search_table(database_id, "brand_new") == ["brand_new"]


async def test_two_incremental_crawls_asked_back_to_back_end_in_one_consistent_state(
    faults: Cluster, make_target
):
    target = await make_target(1000, 2)
    await faults.start_gateway()
    await faults.start_indexer("a")
    await faults.start_indexer("b")
    database_id = await crawled_twice(faults, target)

    await target.execute("ALTER TABLE sales.table_00000 ADD COLUMN first_change integer")
    one = await recrawl(faults, database_id)
    await target.execute(
        "ALTER TABLE sales.table_00000 DROP COLUMN col_0;"
        " ALTER TABLE hr.table_00003 RENAME TO renamed_one"
    )
    two = await recrawl(faults, database_id)
    full = await recrawl(faults, database_id, full=True)  # merges into the second, made full
    assert full["id"] == two["id"] or full["queued_after"] is not None
    last = max(one["generation"], two["generation"], full["generation"])
    status = await faults.wait_for(database_id, last, ("complete", "failed"))
    assert status["crawl"]["state"] == "complete", status
    expected = {
        doc
        for doc in target.expected_documents()
        if doc[1:3] != ("hr", "table_00003") and doc != ("column", "sales", "table_00000", "col_0")
    }
    expected |= {("column", "sales", "table_00000", "first_change")}
    expected |= {("table", "hr", "renamed_one", None)}
    expected |= {("column", "hr", "renamed_one", "col_0"), ("column", "hr", "renamed_one", "col_1")}
    await faults.assert_index_holds_exactly(database_id, target, last, expected)
