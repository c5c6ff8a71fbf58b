"""The relay and the worker against a real nats-server -js with a temporary store."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from datetime import UTC, datetime

import pytest

from catalog import services
from catalog.adapters.pg_store import PgStore
from catalog.cipher import SecretCipher, generate_key
from catalog.embedded import embedded_nats, free_port, nats_server_binary, wait_for_port
from catalog.errors import PermanentError, TransientError
from catalog.messages import (
    CRAWL_BATCH,
    CRAWL_REQUESTED,
    CrawlBatchRequested,
    CrawlRequested,
    Message,
    encode,
)
from catalog.models import CrawlState, Tenant
from catalog.settings import Settings
from indexer.jetstream import STREAM, Bus, JetStreamPublisher, connect, ensure_stream
from indexer.relay import OutboxRelay
from indexer.worker import EARLIER_ATTEMPTS, Worker
from tests.factories import PASSWORD, full_plan, new_database
from tests.tls_postgres import certificates

SETTINGS = Settings(workers=2, ack_wait=1, max_deliver=4, retry_delay=0.05)


@pytest.fixture
async def js(nats_url):
    nc = await connect(nats_url, "test")
    js = nc.jetstream()
    await ensure_stream(js, SETTINGS)
    yield js
    await nc.close()


async def stream_messages(js) -> int:
    return (await js.stream_info(STREAM)).state.messages


async def test_stream_setup_is_idempotent_and_publishes_deduplicate(js):
    await ensure_stream(js, SETTINGS)
    publisher = JetStreamPublisher(js)
    batch = CrawlBatchRequested("crawl_1", "db_1", 0)
    for _ in range(3):
        await publisher.publish(CRAWL_BATCH, encode(batch), batch.message_id)
    assert await stream_messages(js) == 1
    consumer = await js.consumer_info(STREAM, "indexer")
    assert consumer.config.max_deliver >= 4
    assert consumer.config.ack_wait == 1
    assert not consumer.config.backoff  # retries back off by nak delays instead


async def test_relay_publishes_registrations_once_with_ids_only(js, store):
    cipher = SecretCipher.from_keys([generate_key()])
    _, crawl = await services.register_database(store, cipher, new_database())
    relay = OutboxRelay(store, JetStreamPublisher(js))
    assert await relay.relay_once() == 1
    assert await relay.relay_once() == 0
    msg = await js.get_msg(STREAM, 1)
    assert msg.subject == CRAWL_REQUESTED
    assert crawl.id.encode() in msg.data
    assert PASSWORD.encode() not in msg.data
    assert msg.headers["Nats-Msg-Id"].startswith("outbox-")


async def test_registration_succeeds_while_nats_is_down_and_is_relayed_when_it_returns(
    store, tmp_path
):
    cipher = SecretCipher.from_keys([generate_key()])
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    with pytest.raises(TransientError):
        await connect(url, "test", retry_for=0.3)
    _database, crawl = await services.register_database(store, cipher, new_database())
    assert (await store.get_crawl(crawl.id)).state is CrawlState.QUEUED

    async with embedded_nats(tmp_path / "late-nats", port=port):
        nc = await connect(url, "test", retry_for=5)
        js = nc.jetstream()
        await ensure_stream(js, SETTINGS)
        stop = asyncio.Event()
        relay_task = asyncio.create_task(OutboxRelay(store, JetStreamPublisher(js)).run(stop))
        try:
            async with asyncio.timeout(10):
                while await stream_messages(js) < 1:
                    await asyncio.sleep(0.05)
        finally:
            stop.set()
            await relay_task
        await nc.close()


class ScriptedHandler:
    """Raises the scripted errors in turn, then succeeds; records what it saw."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.seen: list[Message] = []
        self.done = asyncio.Event()

    async def __call__(self, message: Message) -> None:
        self.seen.append(message)
        if self.errors:
            raise self.errors.pop(0)
        self.done.set()


@contextlib.asynccontextmanager
async def running_worker(js, store, handler, settings=SETTINGS):
    stop = asyncio.Event()
    worker = Worker(js, handler, store, settings)
    task = asyncio.create_task(worker.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task


async def test_worker_acks_after_success_and_retries_transient_errors(js, store):
    handler = ScriptedHandler(TransientError("index down"), TransientError("index down"))
    batch = CrawlBatchRequested("crawl_1", "db_1", 0)
    await JetStreamPublisher(js).publish(CRAWL_BATCH, encode(batch), batch.message_id)
    async with running_worker(js, store, handler):
        await asyncio.wait_for(handler.done.wait(), 10)
        async with asyncio.timeout(5):
            while await stream_messages(js):  # work queue: acked messages leave the stream
                await asyncio.sleep(0.05)
    assert handler.seen == [batch, batch, batch]


async def test_worker_terminates_malformed_messages(js, store):
    handler = ScriptedHandler()
    await js.publish(CRAWL_BATCH, b"{not json", headers={"Nats-Msg-Id": "bad-1"})
    async with running_worker(js, store, handler):
        async with asyncio.timeout(5):
            while await stream_messages(js):
                await asyncio.sleep(0.05)
    assert handler.seen == []
    [letter] = await store.list_dead_letters(None, None, None, 10)
    assert letter.crawl_id is None
    assert "malformed" in letter.reason
    assert letter.stream_sequence == 1


async def test_worker_gives_up_after_max_deliver_and_fails_the_crawl(js, store):
    cipher = SecretCipher.from_keys([generate_key()])
    database, crawl = await services.register_database(store, cipher, new_database())
    handler = ScriptedHandler(*(TransientError("index down") for _ in range(10)))
    batch = CrawlBatchRequested(crawl.id, database.id, 0)
    await JetStreamPublisher(js).publish(CRAWL_BATCH, encode(batch), batch.message_id)
    async with running_worker(js, store, handler):
        async with asyncio.timeout(20):
            while (await store.get_crawl(crawl.id)).state is not CrawlState.FAILED:
                await asyncio.sleep(0.05)
    failed = await store.get_crawl(crawl.id)
    assert failed.error_class == "unavailable"
    assert "gave up after 4 attempts" in failed.error_message
    assert len(handler.seen) == SETTINGS.max_deliver
    [letter] = await store.list_dead_letters(None, crawl.id, None, 10)
    assert (letter.subject, letter.deliveries) == (CRAWL_BATCH, SETTINGS.max_deliver)


async def test_a_crawl_waiting_for_its_next_attempt_says_so(js, store):
    """Not `queued` with no error for minutes: the failure's class, the attempts and when the
    next one is due; once the crawl moves on, that is gone."""
    cipher = SecretCipher.from_keys([generate_key()])
    database, crawl = await services.register_database(store, cipher, new_database())
    handler = ScriptedHandler(TransientError("connection refused", "unreachable"))
    request = CrawlRequested(crawl.id, database.id)
    await JetStreamPublisher(js).publish(CRAWL_REQUESTED, encode(request), f"{crawl.id}:requested")
    slow = dataclasses.replace(SETTINGS, retry_delay=60)
    async with running_worker(js, store, handler, slow):
        async with asyncio.timeout(10):
            while (await store.get_crawl(crawl.id)).retry_attempts == 0:
                await asyncio.sleep(0.05)
    waiting = await store.get_crawl(crawl.id)
    assert waiting.state is CrawlState.QUEUED
    assert (waiting.retry_error_class, waiting.retry_attempts) == ("unreachable", 1)
    assert waiting.retry_at is not None
    due_in = (waiting.retry_at - datetime.now(UTC)).total_seconds()
    assert 50 < due_in <= 60

    moved_on = await store.start_crawl(crawl.id, full_plan())
    assert (moved_on.retry_attempts, moved_on.retry_error_class, moved_on.retry_at) == (
        0,
        None,
        None,
    )


async def test_a_batch_refused_for_good_fails_its_crawl_at_once(js, store):
    cipher = SecretCipher.from_keys([generate_key()])
    database, crawl = await services.register_database(store, cipher, new_database())
    handler = ScriptedHandler(PermanentError("the index rejected a document for good"))
    batch = CrawlBatchRequested(crawl.id, database.id, 0)
    await JetStreamPublisher(js).publish(CRAWL_BATCH, encode(batch), batch.message_id)
    async with running_worker(js, store, handler):
        async with asyncio.timeout(10):
            while (await store.get_crawl(crawl.id)).state is not CrawlState.FAILED:
                await asyncio.sleep(0.05)
    failed = await store.get_crawl(crawl.id)
    assert (failed.error_class, failed.error_message) == (
        "permanent",
        "the index rejected a document for good",
    )
    assert handler.seen == [batch]  # not retried
    [letter] = await store.list_dead_letters(None, crawl.id, None, 10)
    assert (letter.subject, letter.deliveries) == (CRAWL_BATCH, 1)


async def test_retries_back_off_exponentially_up_to_the_maximum(js, store):
    settings = Settings(retry_delay=0.5, retry_delay_max=3)
    worker = Worker(js, ScriptedHandler(), store, settings)
    assert [worker.retry_delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3, 3]


async def test_two_deployments_share_one_nats_and_each_gets_its_own_messages(
    js, store, postgres, create_database
):
    """Without a prefix of its own, the first deployment's indexer took and dropped the
    second's crawls: with one, each has its own subjects, stream and consumer."""
    second_store = await PgStore.connect(postgres.url(await create_database("catalog_store")))
    try:
        first = Bus("catalog", await store.deployment_id())
        second = Bus("second", await second_store.deployment_id())
        assert first.deployment != second.deployment
        await ensure_stream(js, SETTINGS, second)
        cipher = SecretCipher.from_keys([generate_key()])
        db_a, crawl_a = await services.register_database(store, cipher, new_database())
        db_b, crawl_b = await services.register_database(second_store, cipher, new_database())
        assert await OutboxRelay(store, JetStreamPublisher(js, first)).relay_once() == 1
        assert await OutboxRelay(second_store, JetStreamPublisher(js, second)).relay_once() == 1

        handler_a, handler_b = ScriptedHandler(), ScriptedHandler()
        stop = asyncio.Event()
        workers = [
            Worker(js, handler_a, store, SETTINGS, first).run(stop),
            Worker(js, handler_b, second_store, SETTINGS, second).run(stop),
        ]
        running = [asyncio.create_task(worker) for worker in workers]
        try:
            async with asyncio.timeout(10):
                await handler_a.done.wait()
                await handler_b.done.wait()
        finally:
            stop.set()
            await asyncio.gather(*running)
        assert handler_a.seen == [CrawlRequested(crawl_a.id, db_a.id)]
        assert handler_b.seen == [CrawlRequested(crawl_b.id, db_b.id)]
    finally:
        await second_store.close()


async def test_deployments_never_share_deduplication_ids(js, store, postgres, create_database):
    """Each store numbers its outbox from 1; on one stream (a prefix set alike by mistake) the
    second deployment's first message was dropped as a duplicate of the first's."""
    second_store = await PgStore.connect(postgres.url(await create_database("catalog_store")))
    try:
        cipher = SecretCipher.from_keys([generate_key()])
        for owner in (store, second_store):
            await services.register_database(owner, cipher, new_database())
            bus = Bus("catalog", await owner.deployment_id())
            assert await OutboxRelay(owner, JetStreamPublisher(js, bus)).relay_once() == 1
        assert await stream_messages(js) == 2
    finally:
        await second_store.close()


@contextlib.asynccontextmanager
async def guarded_nats(*flags: str):
    """A nats-server that asks for what `flags` say (a password, TLS)."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), *flags,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with asyncio.timeout(15):
            await wait_for_port(port, proc)
        yield port
    finally:
        proc.terminate()
        await proc.wait()


async def test_the_indexer_authenticates_to_nats_with_a_password_in_the_url(tmp_path):
    async with guarded_nats("--user", "catalog", "--pass", "s3cret-bus") as port:
        nc = await connect(f"nats://catalog:s3cret-bus@127.0.0.1:{port}", "test", retry_for=5)
        assert nc.is_connected
        await nc.close()
        with pytest.raises(TransientError):
            await connect(f"nats://catalog:wrong@127.0.0.1:{port}", "test", retry_for=2)


async def test_the_indexer_verifies_a_tls_nats_server_against_the_ca_it_is_given(tmp_path):
    ca_pem, cert_pem, key_pem = certificates()
    for name, text in (("ca.pem", ca_pem), ("cert.pem", cert_pem), ("key.pem", key_pem)):
        (tmp_path / name).write_text(text)
    flags = (
        "--tls",
        "--tlscert",
        str(tmp_path / "cert.pem"),
        "--tlskey",
        str(tmp_path / "key.pem"),
    )
    async with guarded_nats(*flags) as port:
        url = f"tls://127.0.0.1:{port}"
        nc = await connect(url, "test", retry_for=5, ca=str(tmp_path / "ca.pem"))
        assert nc.is_connected
        await nc.close()
        with pytest.raises(TransientError):  # the system's CAs do not know the test CA
            await connect(url, "test", retry_for=2)


class BlockingHandler:
    """Holds every message of `blocked` databases until released; records what it started."""

    def __init__(self, *blocked: str) -> None:
        self.blocked = set(blocked)
        self.started: list[Message] = []
        self.release = asyncio.Event()

    async def __call__(self, message: Message) -> None:
        self.started.append(message)
        if message.database_id in self.blocked:
            await self.release.wait()


async def test_a_tenant_with_its_share_busy_waits_at_the_back_and_other_tenants_go_first(js, store):
    """One tenant's hanging targets held every worker, and another tenant's crawl waited."""
    cipher = SecretCipher.from_keys([generate_key()])
    await store.add_tenant(Tenant("tenant_b", "b", datetime.now(UTC)))
    hanging = [
        (await services.register_database(store, cipher, new_database(tenant_id="tenant_b")))[0]
        for _ in range(3)
    ]
    other, _ = await services.register_database(store, cipher, new_database())
    settings = dataclasses.replace(SETTINGS, workers=1)  # two loops, one per tenant
    publisher = JetStreamPublisher(js)
    for number, database in enumerate([*hanging, other]):
        batch = CrawlBatchRequested(f"crawl_{number}", database.id, 0)
        await publisher.publish(CRAWL_BATCH, encode(batch), batch.message_id)

    handler = BlockingHandler(*(database.id for database in hanging))
    stop = asyncio.Event()
    worker = Worker(js, handler, store, settings)
    task = asyncio.create_task(worker.run(stop))
    try:
        async with asyncio.timeout(10):
            while other.id not in {m.database_id for m in handler.started}:
                await asyncio.sleep(0.02)
        # Tenant B's first message holds its one worker; its others went to the back.
        assert [m.database_id for m in handler.started] == [hanging[0].id, other.id]
        assert worker.shares.busy() == {"tenant_b": 1}
        info = await js.stream_info(STREAM)
        assert info.state.last_seq > 4  # copies put back at the end
        handler.release.set()
        async with asyncio.timeout(10):
            while await stream_messages(js):
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
    assert sorted(m.crawl_id for m in handler.started) == [f"crawl_{n}" for n in range(4)]
    assert await store.list_dead_letters(None, None, None, 10) == []


async def test_a_message_put_back_keeps_the_attempts_it_used(js, store):
    handler = ScriptedHandler(*(TransientError("index down") for _ in range(10)))
    batch = CrawlBatchRequested("crawl_1", "db_1", 0)
    # A copy that used three of the four attempts before it was put back.
    await js.publish(
        CRAWL_BATCH, encode(batch), headers={"Nats-Msg-Id": "copy-1", EARLIER_ATTEMPTS: "3"}
    )
    async with running_worker(js, store, handler):
        async with asyncio.timeout(10):
            while not await store.list_dead_letters(None, None, None, 10):
                await asyncio.sleep(0.05)
    [letter] = await store.list_dead_letters(None, None, None, 10)
    assert letter.deliveries == SETTINGS.max_deliver
    assert len(handler.seen) == 1  # the fourth attempt was its last
