"""Scenarios 6 to 10: duplicates, concurrent requests, poison messages, SIGTERM, the fail-safe."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid

import nats
import nats.js.errors

from catalog.messages import CRAWL_BATCH, CRAWL_REQUESTED, CrawlBatchRequested, CrawlRequested
from catalog.messages import encode as encode_message
from indexer.jetstream import CONSUMER, STREAM


async def publish_fresh(faults, subject: str, data: bytes) -> None:
    """Publish with a new id, so JetStream's deduplication does not hide the repeat."""
    nc = await nats.connect(faults.nats.url)
    try:
        await nc.jetstream().publish(subject, data, headers={"Nats-Msg-Id": uuid.uuid4().hex})
    finally:
        await nc.close()


async def wait_until_consumed(faults, within: float = 30) -> None:
    nc = await nats.connect(faults.nats.url)
    try:
        js = nc.jetstream()
        async with asyncio.timeout(within):
            while True:
                with contextlib.suppress(nats.js.errors.NotFoundError):  # not created yet
                    info = await js.consumer_info(STREAM, CONSUMER)
                    if info.num_pending == 0 and info.num_ack_pending == 0:
                        return
                await asyncio.sleep(0.1)
    finally:
        await nc.close()


async def test_every_message_delivered_twice_gives_the_same_index(faults, make_target):
    target = await make_target(1500, 3)
    await faults.start_gateway()
    await faults.start_indexer("a")
    database_id, crawl_id = await faults.register(target)
    await faults.wait_for_batches(database_id, 1)
    # While the crawl runs: the request and every batch, again.
    await publish_fresh(
        faults, CRAWL_REQUESTED, encode_message(CrawlRequested(crawl_id, database_id))
    )
    for number in range(6):
        batch = CrawlBatchRequested(crawl_id, database_id, number)
        await publish_fresh(faults, CRAWL_BATCH, encode_message(batch))
    status = await faults.wait_for(database_id, 1, ("complete", "failed"), within=60)
    assert status["crawl"]["state"] == "complete", status
    await wait_until_consumed(faults)
    final = await faults.status(database_id)
    assert (final["crawl"]["tables"], final["crawl"]["batches_done"]) == (1500, 6)
    assert final["crawl"]["columns"] == 1500 * 3
    await faults.assert_index_holds_exactly(database_id, target, generation=1)


async def test_concurrent_recrawl_requests_coalesce_and_generations_never_interleave(
    faults, make_target
):
    target = await make_target(1000, 3)
    await faults.start_gateway()
    await faults.start_indexer("a")
    database_id, _ = await faults.register(target)
    await faults.wait_for(database_id, 1, ("complete",), within=60)

    answers = await asyncio.gather(
        *(faults.request("POST", f"/v1/databases/{database_id}/crawls") for _ in range(4))
    )
    assert {status for status, _ in answers} == {202}
    assert len({body["crawl"]["id"] for _, body in answers}) == 1
    assert {body["crawl"]["generation"] for _, body in answers} == {2}
    while (mid := await faults.status(database_id))["crawl"]["state"] != "complete":
        # Mid-crawl the readers still see generation 1 only (one snapshot: crawl and database).
        assert mid["live_generation"] == 1, mid
        assert "table_00007" in await faults.search_table(database_id, "table_00007")
        await asyncio.sleep(0.1)
    status = await faults.status(database_id)
    assert (status["crawl"]["generation"], status["live_generation"]) == (2, 2)
    await faults.assert_index_holds_exactly(database_id, target, generation=2)


async def test_poison_messages_are_terminated_counted_and_listed(faults):
    await faults.start_gateway()
    await faults.start_indexer("a")
    await wait_until_consumed(faults)  # the indexer has set up the stream and its consumer
    await publish_fresh(faults, CRAWL_BATCH, b"{this is not json")
    await publish_fresh(faults, CRAWL_REQUESTED, encode_message(CrawlRequested("crawl_x", "db_x")))
    await wait_until_consumed(faults)
    status, letters = await faults.request("GET", "/v1/dead-letters")
    assert status == 200
    reasons = sorted(letter["reason"] for letter in letters["items"])
    assert len(reasons) == 2
    assert "does not exist" in reasons[0]
    assert "malformed" in reasons[1]
    assert all(letter["deliveries"] == 1 for letter in letters["items"])  # not retried


async def test_sigterm_mid_crawl_exits_in_time_and_loses_nothing(faults, make_target):
    target = await make_target(3000, 3)
    await faults.start_gateway()
    first = await faults.start_indexer("a")
    database_id, _ = await faults.register(target)
    await faults.wait_for_batches(database_id, 2)
    first.send_signal(signal.SIGTERM)
    async with asyncio.timeout(15):  # the grace period
        assert await first.wait() == 0
    assert (await faults.status(database_id))["crawl"]["state"] == "running"

    await faults.start_indexer("b")
    status = await faults.wait_for(database_id, 1, ("complete", "failed"), within=90)
    assert status["crawl"]["state"] == "complete", status
    await faults.assert_index_holds_exactly(database_id, target, generation=1)


async def test_a_sudden_fall_in_tables_is_held_until_confirmed(faults, make_target):
    target = await make_target(1000, 2)
    await faults.start_gateway()
    await faults.start_indexer("a")
    database_id, _ = await faults.register(target)
    await faults.wait_for(database_id, 1, ("complete",), within=60)
    generation_one = target.expected_documents()

    await target.drop(target.names()[100:])  # 90% of the tables are gone
    await faults.request("POST", f"/v1/databases/{database_id}/crawls")
    held = await faults.wait_for(database_id, 2, ("held", "complete", "failed"), within=60)
    assert held["crawl"]["state"] == "held"
    assert "fell from 1000 to 100 (90% gone)" in held["crawl"]["error"]["message"]
    assert held["live_generation"] == 1
    assert "table_00999" in await faults.search_table(database_id, "table_00999")
    documents = await faults.documents(database_id)
    assert {d[:4] for d in documents if d[4] == 1} == generation_one

    crawl_id = held["crawl"]["id"]
    status, _ = await faults.request(
        "POST", f"/v1/databases/{database_id}/crawls/{crawl_id}/confirm"
    )
    assert status == 202
    published = await faults.wait_for(database_id, 2, ("complete",), within=30)
    assert published["live_generation"] == 2
    await faults.assert_index_holds_exactly(database_id, target, generation=2)
