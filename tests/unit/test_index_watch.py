"""The index watch over fakes: lost documents are noticed and re-crawled, stalled crawls fail."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from catalog import services
from catalog.cipher import SecretCipher, generate_key
from catalog.errors import IndexLostError
from catalog.models import DEFAULT_TENANT, CrawlState
from catalog.settings import Settings
from indexer.handlers import CrawlHandlers
from indexer.index_watch import IndexWatch
from tests.factories import new_database, table
from tests.fakes import FakeCrawler, InMemorySearchIndex, InMemoryStore, RecordingPublisher


@pytest.fixture
def world():
    store, index, publisher = InMemoryStore(), InMemorySearchIndex(), RecordingPublisher()
    crawler = FakeCrawler({str(ref): table("public", f"t{ref}", "id", "name") for ref in range(4)})
    cipher = SecretCipher.from_keys([generate_key()])
    handlers = CrawlHandlers(
        store, index, cipher, crawler.factory(), publisher, batch_size=2, stale_fail_safe=0.5
    )
    watch = IndexWatch(store, index, Settings(crawl_stall_timeout=600))
    return store, index, publisher, cipher, handlers, watch


async def crawl(world, crawl_id: str, database_id: str) -> None:
    store, _, publisher, _, handlers, _ = world
    publisher.published.clear()
    for message in store.take_outbox("catalog.crawl.requested"):
        await handlers.handle(message)
    for batch in publisher.batches():
        await handlers.handle(batch)
    await store.finish_crawls(handlers.handle)
    assert (await store.get_crawl(crawl_id)).state is CrawlState.COMPLETE


async def test_lost_documents_are_noticed_refused_to_readers_and_recrawled(world):
    store, index, _, cipher, _, watch = world
    database, first = await services.register_database(store, cipher, new_database())
    await crawl(world, first.id, database.id)
    scope = f"{database.id}:1"
    assert await watch.check() == []

    index.documents.clear()  # the index came back empty
    assert await watch.check() == [scope]
    assert (await store.get_database(database.id)).index_lost_at is not None
    with pytest.raises(IndexLostError, match=database.id):
        await store.live_scopes(DEFAULT_TENANT, None)
    again = await store.latest_crawl(database.id)
    assert (again.generation, again.state) == (2, CrawlState.QUEUED)
    # Found short again before the re-crawl ends: no second crawl is asked for.
    assert await watch.check() == [scope]
    assert len(store.crawls) == 2

    await crawl(world, again.id, database.id)
    assert (await store.get_database(database.id)).index_lost_at is None
    assert await store.live_scopes(DEFAULT_TENANT, None) == [f"{database.id}:2"]
    assert await watch.check() == []


async def test_a_crawl_that_stopped_moving_fails_as_stalled_and_lets_the_next_one_run(world):
    store, _, _, cipher, handlers, watch = world
    database, first = await services.register_database(store, cipher, new_database())
    for message in store.take_outbox("catalog.crawl.requested"):
        await handlers.handle(message)  # planned; then its batches are never answered
    follow_up = await services.request_crawl(store, database.id)
    assert follow_up.queued_after == first.id
    assert await watch.check() == []
    assert (await store.get_crawl(first.id)).state is CrawlState.RUNNING

    long_ago = datetime.now(UTC) - timedelta(hours=1)
    store.crawls[first.id] = dataclasses.replace(store.crawls[first.id], progressed_at=long_ago)
    await watch.check()
    stalled = await store.get_crawl(first.id)
    assert (stalled.state, stalled.error_class) == (CrawlState.FAILED, "stalled")
    await crawl(world, follow_up.id, database.id)
