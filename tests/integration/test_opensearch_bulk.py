"""The OpenSearch adapter at scale, on the real node: sized chunks, several in flight, retries of
refused requests and documents, and refresh turned off during crawls and restored after.

An aiohttp reverse proxy stands between the adapter and the node: it records every request and can
refuse bulk requests (whole, or document by document) the way a loaded cluster does.
"""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import pytest
from aiohttp import web
from opensearchpy import AsyncOpenSearch

from catalog import services
from catalog.adapters.opensearch_index import (
    INDEX_BODY,
    RESTING_REFRESH_KEY,
    BulkOptions,
    OpenSearchIndex,
)
from catalog.cipher import SecretCipher, generate_key
from catalog.documents import Document
from catalog.errors import CrawlFailure, PermanentError, TransientError
from catalog.messages import CrawlRequested
from catalog.models import CrawlState
from indexer.handlers import CrawlHandlers
from tests.factories import new_database, table
from tests.fakes import FakeCrawler, InMemoryStore, RecordingPublisher
from tests.search_helpers import generation_documents

# Retries in milliseconds, so refused requests cost the tests nothing.
FAST = {"initial_backoff": 0.005, "max_backoff": 0.02}


class OpenSearchProxy:
    """Forwards every request to the node; refuses or rewrites bulk requests when told to."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.url = ""
        self.log: list[str] = []  # "METHOD /path" of every request, in arrival order
        self.bulk_bodies: list[bytes] = []  # every bulk request's body, refused ones included
        self.refuse_bulk = 0  # answer this many of the next bulk requests whole with...
        self.refuse_status = 429
        self.refused = 0
        self.refuse_odd_items_once = False  # mark every other document of the next bulk 429
        self.refused_item_ids: list[str] = []
        self.delay = 0.0  # seconds each forwarded bulk request takes at least
        self.in_flight = 0
        self.max_in_flight = 0
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def bulk_documents(self) -> list[list[str]]:
        """The document ids of each bulk request, in order."""
        return [bulk_ids(body) for body in self.bulk_bodies]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.log.append(f"{request.method} {request.path}")
        if not request.path.endswith("/_bulk"):
            return await self._forward(request, body)
        self.bulk_bodies.append(body)
        if self.refuse_bulk > 0:
            self.refuse_bulk -= 1
            self.refused += 1
            error = {"type": "rejected_execution_exception", "reason": "bulk queue is full"}
            return web.json_response(
                {"error": error, "status": self.refuse_status}, status=self.refuse_status
            )
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            response = await self._forward(request, body)
        finally:
            self.in_flight -= 1
        if self.refuse_odd_items_once:
            self.refuse_odd_items_once = False
            response = self._refuse_odd_items(body, response)
        return response

    def _refuse_odd_items(self, body: bytes, response: web.Response) -> web.Response:
        """As a cluster whose write queue filled mid-request: every other document refused."""
        assert isinstance(response.body, bytes)
        answer = json.loads(response.body)
        ids = bulk_ids(body)
        for position in range(1, len(answer["items"]), 2):
            rejected = {"type": "es_rejected_execution_exception", "reason": "queue full"}
            answer["items"][position] = {"index": {"status": 429, "error": rejected}}
            self.refused_item_ids.append(ids[position])
        answer["errors"] = True
        return web.json_response(answer)

    async def _forward(self, request: web.Request, body: bytes) -> web.Response:
        assert self._session is not None
        headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
        async with self._session.request(
            request.method, f"{self.upstream}{request.path_qs}", data=body, headers=headers
        ) as upstream:
            data = await upstream.read()
            content_type = upstream.headers.get("Content-Type", "application/json")
            return web.Response(
                status=upstream.status, body=data, headers={"Content-Type": content_type}
            )


def bulk_ids(body: bytes) -> list[str]:
    lines = body.decode().splitlines()
    return [json.loads(line)["index"]["_id"] for line in lines[0::2]]


def documents(tables: int, columns: int = 3, database_id: str = "db-bulk") -> list[Document]:
    made = [
        table("public", f"table_{i:04d}", *(f"column_{c}" for c in range(columns)))
        for i in range(tables)
    ]
    return generation_documents(database_id, 1, made)


@pytest.fixture
async def proxy(opensearch_url: str) -> AsyncIterator[OpenSearchProxy]:
    running = OpenSearchProxy(opensearch_url)
    await running.start()
    yield running
    await running.close()


@pytest.fixture
def index_name() -> str:
    return f"catalog-bulk-{uuid.uuid4().hex}"


@pytest.fixture
async def raw(opensearch_url: str) -> AsyncIterator[AsyncOpenSearch]:
    """A client straight to the node, to look at what the adapter left."""
    client = AsyncOpenSearch(hosts=[opensearch_url])
    yield client
    await client.close()


@pytest.fixture
async def make_index(proxy: OpenSearchProxy, index_name: str):
    made: list[OpenSearchIndex] = []

    async def make(**options: object) -> OpenSearchIndex:
        index = OpenSearchIndex(proxy.url, index_name, BulkOptions(**options))  # type: ignore[arg-type]
        await index.open()
        made.append(index)
        return index

    yield make
    for index in made:
        await index.close()


async def count(raw: AsyncOpenSearch, index_name: str) -> int:
    await raw.indices.refresh(index=index_name)
    return (await raw.count(index=index_name))["count"]


async def refresh_interval(raw: AsyncOpenSearch, index_name: str) -> str | None:
    response = await raw.indices.get_settings(
        index=index_name, name="index.refresh_interval", flat_settings=True
    )
    return response.get(index_name, {}).get("settings", {}).get("index.refresh_interval")


async def set_refresh_interval(raw: AsyncOpenSearch, index_name: str, value: str | None) -> None:
    await raw.indices.put_settings(index=index_name, body={"index": {"refresh_interval": value}})


# --- chunks -------------------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_many_documents_in_tiny_chunks_all_land(
    make_index, proxy, raw, index_name, concurrency
):
    index = await make_index(chunk_size=7, concurrency=concurrency)
    docs = documents(tables=40)  # 160 documents
    proxy.delay = 0.02  # long enough for chunks in flight together to overlap

    await index.upsert(docs)

    assert await count(raw, index_name) == len(docs) == 160
    sent = proxy.bulk_documents()
    assert len(sent) == math.ceil(160 / 7) == index.bulk_stats.requests
    assert max(len(ids) for ids in sent) == 7
    assert sorted(i for ids in sent for i in ids) == sorted(d.id for d in docs)  # each once
    assert proxy.max_in_flight == concurrency
    assert (index.bulk_stats.documents, index.bulk_stats.retries) == (160, 0)


async def test_chunks_are_cut_by_bytes_as_well_as_by_count(make_index, proxy, raw, index_name):
    limit = 8 * 1024
    index = await make_index(chunk_size=10_000, max_chunk_bytes=limit)
    docs = documents(tables=40)

    await index.upsert(docs)

    assert await count(raw, index_name) == len(docs)
    sizes = [len(body) for body in proxy.bulk_bodies]
    total = sum(sizes)
    assert len(sizes) >= math.ceil(total / limit) > 1
    assert max(sizes) <= limit


async def test_an_empty_upsert_sends_nothing(make_index, proxy):
    index = await make_index()
    await index.upsert([])
    assert proxy.bulk_bodies == []


# --- retries ------------------------------------------------------------------------------------


async def test_bulk_requests_refused_with_429_are_retried_until_they_land(
    make_index, proxy, raw, index_name
):
    index = await make_index(chunk_size=50, concurrency=2, max_retries=5, **FAST)
    docs = documents(tables=25)  # 100 documents: 2 chunks
    proxy.refuse_bulk = 3

    await index.upsert(docs)

    assert await count(raw, index_name) == len(docs)
    assert proxy.refused == 3
    assert index.bulk_stats.retries == 3
    assert len(proxy.bulk_bodies) == index.bulk_stats.requests == 2 + 3


async def test_documents_refused_one_by_one_are_retried_alone(make_index, proxy, raw, index_name):
    index = await make_index(chunk_size=500, max_retries=3, **FAST)
    docs = documents(tables=5)  # 20 documents: one chunk
    proxy.refuse_odd_items_once = True

    await index.upsert(docs)

    assert await count(raw, index_name) == len(docs)
    first, retry = proxy.bulk_documents()
    assert first == [d.id for d in docs]
    assert retry == proxy.refused_item_ids == [d.id for d in docs[1::2]]
    assert (index.bulk_stats.retries, index.bulk_stats.documents) == (1, len(docs))


async def test_refusals_beyond_the_retries_raise_a_transient_error(make_index, proxy):
    index = await make_index(max_retries=2, **FAST)
    proxy.refuse_bulk = 100

    with pytest.raises(TransientError, match="429"):
        await index.upsert(documents(tables=2))

    assert proxy.refused == 3  # the first send and two retries
    assert index.bulk_stats.documents == 0


async def test_503_is_retried_by_the_transport_first_then_with_backoff(make_index, proxy):
    # opensearch-py's transport retries 502/503/504 three times at once (its default); the
    # adapter's backoff comes on top of that.
    index = await make_index(max_retries=2, **FAST)
    proxy.refuse_bulk, proxy.refuse_status = 4, 503

    await index.upsert(documents(tables=2))

    assert proxy.refused == 4
    assert len(proxy.bulk_bodies) == 5
    assert (index.bulk_stats.requests, index.bulk_stats.retries) == (2, 1)


async def test_a_document_rejected_for_good_raises_at_once(opensearch_url, raw, index_name):
    # An index whose mapping disagrees with ours: `comment` must be a number there.
    body = json.loads(json.dumps(INDEX_BODY))
    body["mappings"]["properties"]["comment"] = {"type": "long"}
    await raw.indices.create(index=index_name, body=body)
    index = OpenSearchIndex(opensearch_url, index_name, BulkOptions(max_retries=5, **FAST))
    docs = documents(tables=10)
    assert all(d.comment is None for d in docs)  # the factory's tables carry none: ours fail
    docs = [d if i % 4 else replace(d, comment="not a number") for i, d in enumerate(docs)]

    try:
        with pytest.raises(PermanentError, match="10 of 40 documents failed"):
            await index.upsert(docs)
    finally:
        await index.close()

    assert index.bulk_stats.retries == 0
    assert await count(raw, index_name) == 30  # written, yet the call failed: never swallowed


async def test_documents_rejected_for_good_beside_refused_ones_fail_the_call_as_transient(
    proxy, raw, index_name
):
    # As the adapter always mapped one response: any document refused for now makes the whole
    # call worth retrying later (the worker's retries then fail the crawl if it never passes).
    body = json.loads(json.dumps(INDEX_BODY))
    body["mappings"]["properties"]["comment"] = {"type": "long"}
    await raw.indices.create(index=index_name, body=body)
    index = OpenSearchIndex(proxy.url, index_name, BulkOptions(max_retries=5, **FAST))
    docs = [
        d if i % 4 else replace(d, comment="not a number")
        for i, d in enumerate(documents(tables=10))
    ]
    proxy.refuse_odd_items_once = True

    try:
        with pytest.raises(TransientError, match="30 of 40 documents failed"):
            await index.upsert(docs)
    finally:
        await index.close()

    assert index.bulk_stats.retries == 0  # the rejected ones would fail again: no retry


# --- refresh during crawls ----------------------------------------------------------------------


async def test_crawls_turn_refresh_off_and_put_back_what_was_there(make_index, raw, index_name):
    first, second = await make_index(), await make_index()  # as two indexer processes
    await set_refresh_interval(raw, index_name, "5s")

    await first.crawl_started()
    assert await refresh_interval(raw, index_name) == "-1"
    await second.crawl_started()  # a second crawl while refresh is off: nothing to record
    await first.crawl_ended()  # the first crawl ends while the second still writes
    assert await refresh_interval(raw, index_name) == "5s"
    await second.crawl_started()  # the second crawl's next batch turns it off again
    assert await refresh_interval(raw, index_name) == "-1"
    await second.crawl_ended()

    assert await refresh_interval(raw, index_name) == "5s"
    mapping = await raw.indices.get_mapping(index=index_name)
    assert mapping[index_name]["mappings"]["_meta"] == {RESTING_REFRESH_KEY: "5s"}


async def test_an_unset_refresh_interval_is_unset_again_after_a_crawl(make_index, raw, index_name):
    index = await make_index()
    assert await refresh_interval(raw, index_name) is None

    await index.crawl_started()
    assert await refresh_interval(raw, index_name) == "-1"
    await index.crawl_ended()

    assert await refresh_interval(raw, index_name) is None


async def test_a_refresh_interval_turned_off_by_hand_is_left_alone(make_index, raw, index_name):
    index = await make_index()
    await set_refresh_interval(raw, index_name, "-1")

    await index.crawl_started()
    await index.crawl_ended()

    assert await refresh_interval(raw, index_name) == "-1"


class RecordingStore(InMemoryStore):
    """Notes in the proxy's log when readers are switched to a crawl's generation."""

    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log

    async def complete_crawl(self, crawl_id: str):
        self.log.append("store: complete_crawl")
        return await super().complete_crawl(crawl_id)


class IntervalSpy(OpenSearchIndex):
    """Records the index's refresh interval as each batch writes."""

    def __init__(self, url: str, name: str, raw: AsyncOpenSearch, **options: object) -> None:
        super().__init__(url, name, BulkOptions(**options))  # type: ignore[arg-type]
        self.raw, self.name, self.seen = raw, name, []

    async def upsert(self, documents):
        self.seen.append(await refresh_interval(self.raw, self.name))
        await super().upsert(documents)


@pytest.fixture
async def crawl_world(proxy, raw, index_name):
    """The crawl handlers with the real adapter on the node (through the proxy) and fakes else."""
    index = IntervalSpy(proxy.url, index_name, raw, max_retries=1, **FAST)
    await index.open()
    await set_refresh_interval(raw, index_name, "5s")
    store = RecordingStore(proxy.log)
    crawler = FakeCrawler({str(ref): table("public", f"t{ref}", "id", "name") for ref in range(5)})
    publisher = RecordingPublisher()
    cipher = SecretCipher.from_keys([generate_key()])
    handlers = CrawlHandlers(
        store, index, cipher, crawler.factory(), publisher, batch_size=2, stale_fail_safe=0.5
    )
    database, crawl = await services.register_database(store, cipher, new_database())
    await handlers.handle(CrawlRequested(crawl.id, database.id))
    batches = publisher.batches()
    assert len(batches) == 3
    yield store, index, crawler, handlers, crawl.id, batches
    await index.close()


async def test_a_crawl_writes_with_refresh_off_and_refreshes_before_publishing(
    crawl_world, proxy, raw, index_name
):
    store, index, _, handlers, crawl_id, batches = crawl_world

    for batch in batches:
        await handlers.handle(batch)
    await store.finish_crawls(handlers.handle)

    assert (await store.get_crawl(crawl_id)).state is CrawlState.COMPLETE
    assert index.seen == ["-1", "-1", "-1"]
    assert await refresh_interval(raw, index_name) == "5s"
    # The refresh that makes the last batch visible comes before readers switch to it.
    last_bulk = max(i for i, line in enumerate(proxy.log) if line.endswith("/_bulk"))
    published = proxy.log.index("store: complete_crawl")
    refreshes = [i for i, line in enumerate(proxy.log) if line.endswith("/_refresh")]
    assert any(last_bulk < i < published for i in refreshes)
    assert await count(raw, index_name) == 15  # 5 tables, 10 columns


async def test_a_crawl_that_fails_puts_refresh_back(crawl_world, raw, index_name):
    store, _, crawler, handlers, crawl_id, batches = crawl_world

    await handlers.handle(batches[0])
    assert await refresh_interval(raw, index_name) == "-1"
    crawler.failure = CrawlFailure("timeout", "statement timeout")
    await handlers.handle(batches[1])

    assert (await store.get_crawl(crawl_id)).state is CrawlState.FAILED
    assert await refresh_interval(raw, index_name) == "5s"


async def test_a_batch_whose_writes_fail_puts_refresh_back(crawl_world, proxy, raw, index_name):
    # The worker may give up on this message and fail the crawl without the handlers: the
    # handlers restore refresh on every failed batch, before the error reaches the worker.
    store, _, _, handlers, crawl_id, batches = crawl_world
    await handlers.handle(batches[0])
    proxy.refuse_bulk = 100

    with pytest.raises(TransientError):
        await handlers.handle(batches[1])

    assert (await store.get_crawl(crawl_id)).state is CrawlState.RUNNING
    assert await refresh_interval(raw, index_name) == "5s"
