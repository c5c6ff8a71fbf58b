"""The crawl handlers and an index that refreshes on a timer (SearchIndex.crawl_started/ended).

The OpenSearch side is in tests/integration/test_opensearch_bulk.py; here, fakes only: which
calls come when, and that an index that cannot restore refresh never hides why a crawl ended.
"""

from __future__ import annotations

import pytest

from catalog import services
from catalog.cipher import SecretCipher, generate_key
from catalog.errors import CrawlFailure, TransientError
from catalog.messages import CrawlBatchRequested, CrawlConfirmed, CrawlRequested
from catalog.models import CrawlState
from indexer.handlers import CrawlHandlers
from tests.factories import new_database, table
from tests.fakes import FakeCrawler, InMemorySearchIndex, InMemoryStore, RecordingPublisher


class RefreshingIndex(InMemorySearchIndex):
    """Records crawl_started / crawl_ended, with the crawl's state in the store at the time."""

    def __init__(self, store: InMemoryStore) -> None:
        super().__init__()
        self.store = store
        self.calls: list[tuple[str, list[CrawlState]]] = []
        self.ended_fails = False

    def _states(self) -> list[CrawlState]:
        return [crawl.state for crawl in self.store.crawls.values()]

    async def crawl_started(self) -> None:
        self.calls.append(("started", self._states()))

    async def crawl_ended(self) -> None:
        self.calls.append(("ended", self._states()))
        if self.ended_fails:
            raise TransientError("OpenSearch unreachable during refreshing after a crawl")

    async def upsert(self, documents) -> None:
        self.calls.append(("upsert", self._states()))
        await super().upsert(documents)


@pytest.fixture
def world():
    store = InMemoryStore()
    index = RefreshingIndex(store)
    crawler = FakeCrawler({str(ref): table("public", f"t{ref}", "id") for ref in range(5)})
    publisher = RecordingPublisher()
    cipher = SecretCipher.from_keys([generate_key()])
    handlers = CrawlHandlers(
        store, index, cipher, crawler.factory(), publisher, batch_size=2, stale_fail_safe=0.5
    )
    return store, index, crawler, publisher, cipher, handlers


async def planned(world) -> tuple[str, list[CrawlBatchRequested]]:
    store, _, _, publisher, cipher, handlers = world
    database, crawl = await services.register_database(store, cipher, new_database())
    await handlers.handle(CrawlRequested(crawl.id, database.id))
    batches = publisher.batches()
    return crawl.id, batches


async def test_every_batch_turns_refresh_off_and_the_end_refreshes_before_publishing(world):
    store, index, *_, handlers = world
    crawl_id, batches = await planned(world)

    for batch in batches:
        await handlers.handle(batch)
    await store.finish_crawls(handlers.handle)

    assert (await store.get_crawl(crawl_id)).state is CrawlState.COMPLETE
    running = [CrawlState.RUNNING]
    assert index.calls == [
        *[call for _ in batches for call in (("started", running), ("upsert", running))],
        ("ended", [CrawlState.FINISHING]),  # before the store switched readers to the crawl
    ]


async def test_a_held_crawl_restores_refresh_and_its_confirmation_refreshes_first(world):
    store, index, crawler, *_, handlers = world
    crawl_id, batches = await planned(world)
    for batch in batches:
        await handlers.handle(batch)
    await store.finish_crawls(handlers.handle)
    database_id = (await store.get_crawl(crawl_id)).database_id
    for ref in ("0", "1", "2", "3"):  # 80% of the tables vanish: beyond the 50% fail-safe
        del crawler.tables[ref]
    second = await services.request_crawl(store, database_id)
    index.calls.clear()
    await handlers.handle(CrawlRequested(second.id, database_id))
    await handlers.handle(CrawlBatchRequested(second.id, database_id, 0))
    await store.finish_crawls(handlers.handle)
    assert (await store.get_crawl(second.id)).state is CrawlState.HELD
    # Held: refresh restored before the crawl was held; nothing published.
    assert index.calls[-1] == ("ended", [CrawlState.COMPLETE, CrawlState.FINISHING])

    index.calls.clear()
    await store.confirm_crawl(second.id)
    await handlers.handle(CrawlConfirmed(second.id, database_id))

    assert (await store.get_crawl(second.id)).state is CrawlState.COMPLETE
    assert index.calls == [("ended", [CrawlState.COMPLETE, CrawlState.HELD])]


async def test_an_index_that_cannot_restore_refresh_does_not_hide_why_a_crawl_failed(world):
    store, index, crawler, *_, handlers = world
    crawl_id, batches = await planned(world)
    await handlers.handle(batches[0])
    index.ended_fails = True
    crawler.failure = CrawlFailure("timeout", "statement timeout")

    await handlers.handle(batches[1])

    crawl = await store.get_crawl(crawl_id)
    assert (crawl.state, crawl.error_class) == (CrawlState.FAILED, "timeout")
    assert index.calls[-1][0] == "ended"


async def test_a_failing_batch_restores_refresh_and_still_raises_its_own_error(world):
    store, index, crawler, *_, handlers = world
    crawl_id, batches = await planned(world)
    index.ended_fails = True
    crawler.failure = TransientError("connection refused", "unreachable")

    with pytest.raises(TransientError, match="connection refused"):
        await handlers.handle(batches[0])

    assert [name for name, _ in index.calls] == ["ended"]
    assert (await store.get_crawl(crawl_id)).state is CrawlState.RUNNING
