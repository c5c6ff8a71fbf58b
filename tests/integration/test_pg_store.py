"""The store against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from catalog import services
from catalog.adapters.pg_store import PgStore
from catalog.cipher import SecretCipher, generate_key
from catalog.crawl_plan import ORDINAL_SPACING, plan_crawl
from catalog.crawler import Relation
from catalog.credentials import open_sealed
from catalog.errors import (
    ConflictError,
    CrawlCapacityError,
    IndexLostError,
    NotFoundError,
    TransientError,
)
from catalog.messages import CRAWL_ENDED, CRAWL_FINISHING, CRAWL_REQUESTED
from catalog.models import DEFAULT_TENANT, ChangeKind, Crawl, CrawlState
from catalog.principal import Principal, Role
from catalog.store import OutboxMessage
from catalog.tokens import token_hash
from tests.factories import PASSWORD, full_plan, new_database, recorded_plan


@pytest.fixture
def cipher():
    return SecretCipher.from_keys([generate_key()])


async def test_migrations_are_idempotent(store, store_url):
    await store.migrate()
    again = await PgStore.connect(store_url)
    await again.close()


async def test_plans_stored_before_refs_were_opaque_keep_their_oids_as_text(
    store, store_url, cipher
):
    _, crawl = await services.register_database(store, cipher, new_database())
    await store.start_crawl(crawl.id, full_plan("16384", "16390"))
    # The store as migration 008 left it: refs were bigint[] (PostgreSQL OIDs).
    raw = await asyncpg.connect(store_url)
    try:
        await raw.execute(
            "ALTER TABLE crawl_batches ALTER COLUMN refs TYPE bigint[] USING refs::bigint[];"
            " DELETE FROM schema_migrations WHERE version = 9"
        )
    finally:
        await raw.close()
    await store.migrate()
    assert (await store.get_batch(crawl.id, 0)).refs == ("16384", "16390")


async def test_registration_writes_database_crawl_and_outbox_together(store, cipher):
    database, crawl = await services.register_database(store, cipher, new_database())
    assert await store.get_database(database.id) == database
    assert crawl.state is CrawlState.QUEUED
    assert crawl.generation == 1
    assert await store.latest_crawl(database.id) == crawl
    sealed = await store.sealed_password(database.id)
    assert PASSWORD.encode() not in sealed.blob
    assert open_sealed(cipher, sealed, database) == (PASSWORD, False)

    sent: list[OutboxMessage] = []

    async def publish(message: OutboxMessage) -> None:
        sent.append(message)

    assert await store.outbox_backlog() == 1
    assert await store.relay_outbox(publish, 100) == 1
    assert [(m.subject, m.payload) for m in sent] == [
        (CRAWL_REQUESTED, {"crawl_id": crawl.id, "database_id": database.id})
    ]
    assert await store.relay_outbox(publish, 100) == 0  # marked sent
    assert await store.outbox_backlog() == 0


async def test_a_failed_publish_leaves_the_outbox_row_for_later(store, cipher):
    await services.register_database(store, cipher, new_database())

    async def failing(message: OutboxMessage) -> None:
        raise TransientError("NATS did not accept the message")

    with pytest.raises(TransientError):
        await store.relay_outbox(failing, 100)
    sent: list[OutboxMessage] = []

    async def publish(message: OutboxMessage) -> None:
        sent.append(message)

    assert await store.relay_outbox(publish, 100) == 1
    assert len(sent) == 1


async def test_crawl_lifecycle_and_live_generation(store, cipher):
    database, crawl = await services.register_database(store, cipher, new_database())
    running = await store.start_crawl(crawl.id, full_plan("11", "12", "13", batch_size=2))
    assert (running.state, running.batches_total) == (CrawlState.RUNNING, 2)
    # A second plan (redelivery) keeps the first.
    assert (await store.start_crawl(crawl.id, full_plan("99"))).batches_total == 2
    batch = await store.get_batch(crawl.id, 1)
    assert (batch.refs, batch.ordinals) == (("13",), (3 * ORDINAL_SPACING,))
    with pytest.raises(NotFoundError):
        await store.get_batch(crawl.id, 5)

    after_one = await store.complete_batch(crawl.id, 0, {"11": 10, "12": 10})
    again = await store.complete_batch(crawl.id, 0, {"11": 10, "12": 10})
    assert (
        (again.batches_done, again.tables, again.columns)
        == (1, 2, 20)
        == (
            after_one.batches_done,
            after_one.tables,
            after_one.columns,
        )
    )
    await store.complete_batch(crawl.id, 1, {"13": 5})
    assert await store.live_scopes(DEFAULT_TENANT, [database.id]) == []
    done = await store.complete_crawl(crawl.id)
    assert done.state is CrawlState.COMPLETE
    assert done.finished_at is not None
    assert await store.live_scopes(DEFAULT_TENANT, [database.id]) == [f"{database.id}:1"]
    assert await store.live_scopes(DEFAULT_TENANT, None) == [f"{database.id}:1"]
    assert await store.live_scopes("another", None) == []
    # A failure after completion changes nothing.
    assert (await store.fail_crawl(crawl.id, "timeout", "late")).state is CrawlState.COMPLETE


async def test_recrawl_requests_coalesce_even_when_concurrent(store, cipher):
    database, first = await services.register_database(store, cipher, new_database())
    assert (await services.request_crawl(store, database.id)).id == first.id
    await store.start_crawl(first.id, full_plan())
    await store.complete_crawl(first.id)
    crawls = await asyncio.gather(*(services.request_crawl(store, database.id) for _ in range(5)))
    assert len({c.id for c in crawls}) == 1
    assert crawls[0].generation == 2


async def test_the_crawl_cap_holds_for_concurrent_registrations_and_recrawls(store, cipher):
    """40 registrations at once against a cap of 10 once made 46 active crawls: the count and
    the insert are now one transaction, serialised per tenant."""
    outcomes = await asyncio.gather(
        *(
            services.register_database(store, cipher, new_database(name=f"db{i}"), max_active=10)
            for i in range(40)
        ),
        return_exceptions=True,
    )
    registered = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, CrawlCapacityError)]
    assert (len(registered), len(refused)) == (10, 30)
    assert len(await store.list_databases(DEFAULT_TENANT, None, 100)) == 10

    # Finish them; 5 more start crawling (no cap asked); then re-crawl all 15 at once: the 5
    # return their running crawls, 5 more queue, up to the cap, and 5 are refused.
    for _, crawl in registered:
        await store.start_crawl(crawl.id, full_plan())
        await store.complete_crawl(crawl.id)
    more = [services.register_database(store, cipher, new_database(name=f"x{i}")) for i in range(5)]
    extra = [database for database, _ in await asyncio.gather(*more)]
    everyone = [database for database, _ in registered] + extra
    outcomes = await asyncio.gather(
        *(services.request_crawl(store, d.id, max_active=10) for d in everyone),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, CrawlCapacityError)]
    queued = {o.id for o in outcomes if not isinstance(o, BaseException)}
    assert (len(queued), len(refused)) == (10, 5)


async def test_a_database_and_its_latest_crawl_are_read_in_one_snapshot(store, cipher):
    """A crawl completing between two separate reads showed as complete beside the previous
    live generation (the cause of an intermittent end-to-end failure). Read together, a
    complete crawl always comes with its generation live."""
    database, crawl = await services.register_database(store, cipher, new_database())
    await store.start_crawl(crawl.id, full_plan())
    await store.complete_crawl(crawl.id)
    readings = []
    for _ in range(20):
        crawl = await services.request_crawl(store, database.id)
        await store.start_crawl(crawl.id, full_plan())

        async def poll() -> None:
            for _ in range(25):
                readings.append(await store.database_status(database.id))
                await asyncio.sleep(0)

        await asyncio.gather(poll(), poll(), store.complete_crawl(crawl.id))
    for db, latest in readings:
        complete = latest.state is CrawlState.COMPLETE
        assert db.live_generation == (latest.generation if complete else latest.generation - 1)
    assert len(readings) == 20 * 2 * 25
    with pytest.raises(NotFoundError):
        await store.database_status("db_missing")


async def test_failing_a_crawl_records_the_error(store, cipher):
    database, crawl = await services.register_database(store, cipher, new_database())
    failed = await store.fail_crawl(crawl.id, "auth_failed", "password authentication failed")
    assert (failed.state, failed.error_class) == (CrawlState.FAILED, "auth_failed")
    assert (await store.get_database(database.id)).live_generation is None


async def test_tokens_are_found_by_hash_and_named_by_id(store):
    token_id = await store.add_token(token_hash("cat_x"), "ci", Role.EDITOR, DEFAULT_TENANT)
    assert token_id.startswith("tok_")
    assert await store.token_principal(token_hash("cat_x")) == Principal(
        DEFAULT_TENANT, Role.EDITOR, f"token:{token_id}"
    )
    assert await store.token_principal(token_hash("cat_y")) is None
    # Added again (a restart re-adding the admin token): the same token, the same id.
    again = await store.add_token(token_hash("cat_x"), "ci", Role.ADMIN, DEFAULT_TENANT)
    assert again == token_id


async def test_tokens_are_listed_revoked_expired_and_replaced(store):
    now = datetime.now(UTC)
    kept = await store.add_token(token_hash("cat_keep"), "keep", Role.READER, DEFAULT_TENANT)
    gone = await store.add_token(token_hash("cat_gone"), "gone", Role.READER, DEFAULT_TENANT)
    await store.add_token(
        token_hash("cat_old"), "old", Role.READER, DEFAULT_TENANT, expires_at=now - timedelta(1)
    )
    listed = await store.list_tokens(DEFAULT_TENANT, None, 10)
    assert {t.name for t in listed} == {"keep", "gone", "old"}
    assert [t.id for t in listed] == sorted(t.id for t in listed)
    assert await store.token_principal(token_hash("cat_old")) is None  # expired

    assert await store.revoke_token("another-tenant", gone) is False
    assert await store.revoke_token(DEFAULT_TENANT, gone) is True
    assert await store.token_principal(token_hash("cat_gone")) is None
    assert await store.token_principal(token_hash("cat_keep")) is not None
    assert {t.id for t in await store.list_tokens(DEFAULT_TENANT, None, 10)} >= {kept}

    first = token_hash("cat_" + "a" * 40)
    await store.add_token(first, "admin", Role.ADMIN, DEFAULT_TENANT, bootstrap=True)
    second = token_hash("cat_" + "b" * 40)
    await store.add_token(second, "admin", Role.ADMIN, DEFAULT_TENANT, bootstrap=True)
    assert await store.revoke_bootstrap_tokens(keep=second) == 1
    assert await store.token_principal(first) is None
    assert await store.token_principal(second) is not None
    assert await store.token_principal(token_hash("cat_keep")) is not None


async def test_unknown_ids_are_not_found(store):
    with pytest.raises(NotFoundError):
        await store.get_database("db_nope")
    with pytest.raises(NotFoundError):
        await store.get_crawl("crawl_nope")
    with pytest.raises(NotFoundError):
        await store.request_crawl("db_nope", "crawl_x")


async def test_list_databases_pages_by_id(store, cipher):
    ids = [
        (await services.register_database(store, cipher, new_database()))[0].id for _ in range(3)
    ]
    first = await store.list_databases(DEFAULT_TENANT, None, 2)
    rest = await store.list_databases(DEFAULT_TENANT, first[-1].id, 2)
    assert await store.list_databases("another", None, 10) == []
    assert [d.id for d in first + rest] == sorted(ids)
    latest = await store.latest_crawls(ids)
    assert set(latest) == set(ids)
    assert all(crawl.database_id == i and crawl.generation == 1 for i, crawl in latest.items())


async def test_an_unreachable_store_is_transient():
    with pytest.raises(TransientError):
        await PgStore.connect("postgresql://postgres@127.0.0.1:1/none")


async def sent_messages(store: PgStore) -> list[tuple[str, dict]]:
    sent: list[OutboxMessage] = []

    async def publish(message: OutboxMessage) -> None:
        sent.append(message)

    await store.relay_outbox(publish, 1000)
    return [(message.subject, message.payload) for message in sent]


async def test_the_last_batch_moves_the_crawl_to_finishing_and_sends_its_finish_once(store, cipher):
    database, crawl = await services.register_database(store, cipher, new_database())
    await sent_messages(store)
    await store.start_crawl(crawl.id, full_plan("1", "2", batch_size=1))
    assert (await store.complete_batch(crawl.id, 0, {"1": 3})).state is CrawlState.RUNNING
    assert await sent_messages(store) == []
    last = await store.complete_batch(crawl.id, 1, {"2": 2})
    assert (last.state, last.batches_done, last.progressed_at is not None) == (
        CrawlState.FINISHING,
        2,
        True,
    )
    again = await store.complete_batch(crawl.id, 1, {"2": 2})
    assert (again.state, again.tables) == (CrawlState.FINISHING, 2)
    finishing = {"crawl_id": crawl.id, "database_id": database.id}
    assert await sent_messages(store) == [(CRAWL_FINISHING, finishing)]
    assert await store.live_documents() == {}
    done = await store.complete_crawl(crawl.id)
    assert (done.state, done.error_class) == (CrawlState.COMPLETE, None)
    assert await store.live_documents() == {f"{database.id}:1": 7}


async def test_a_request_after_the_plan_waits_for_that_crawl_and_goes_out_when_it_ends(
    store, cipher
):
    database, first = await services.register_database(store, cipher, new_database())
    await sent_messages(store)
    await store.start_crawl(first.id, full_plan("1"))
    follow_ups = await asyncio.gather(
        *(services.request_crawl(store, database.id) for _ in range(4))
    )
    assert len({c.id for c in follow_ups}) == 1
    follow_up = follow_ups[0]
    assert (follow_up.generation, follow_up.queued_after) == (2, first.id)
    assert (await store.latest_crawl(database.id)).id == first.id  # the one that runs
    assert await sent_messages(store) == []

    await store.fail_crawl(first.id, "timeout", "statement timeout")
    request = {"crawl_id": follow_up.id, "database_id": database.id}
    ended = {"crawl_id": first.id, "database_id": database.id}
    assert await sent_messages(store) == [(CRAWL_ENDED, ended), (CRAWL_REQUESTED, request)]
    # Failed again (a lost worker's advisory after it): no change, nothing sent.
    await store.fail_crawl(first.id, "worker_lost", "out of deliveries")
    assert (await store.get_crawl(first.id)).error_class == "timeout"
    assert await sent_messages(store) == []
    released = await store.latest_crawl(database.id)
    assert (released.id, released.queued_after) == (follow_up.id, None)


async def test_lost_documents_mark_the_database_refuse_readers_and_ask_for_one_crawl(store, cipher):
    database, crawl = await services.register_database(store, cipher, new_database())
    await store.start_crawl(crawl.id, full_plan())
    await store.complete_crawl(crawl.id)
    ended = {"crawl_id": crawl.id, "database_id": database.id}
    # Registered, planned with nothing to read (so finishing at once), then ended: once each.
    sent = [subject for subject, payload in await sent_messages(store) if payload == ended]
    assert sent == [CRAWL_REQUESTED, CRAWL_FINISHING, CRAWL_ENDED]
    await store.complete_crawl(crawl.id)  # asked again: already complete, nothing announced
    assert await sent_messages(store) == []
    scope = f"{database.id}:1"
    assert await store.mark_index_lost([f"{database.id}:7"]) == []  # not the live generation
    [again] = await store.mark_index_lost([scope])
    assert (again.generation, again.state) == (2, CrawlState.QUEUED)
    assert await store.mark_index_lost([scope]) == []  # known lost: no second crawl
    assert (await store.get_database(database.id)).index_lost_at is not None
    with pytest.raises(IndexLostError, match=database.id):
        await store.live_scopes(DEFAULT_TENANT, None)
    assert [subject for subject, _ in await sent_messages(store)] == [CRAWL_REQUESTED]

    await store.start_crawl(again.id, full_plan())
    await store.complete_crawl(again.id)
    assert (await store.get_database(database.id)).index_lost_at is None
    assert await store.live_scopes(DEFAULT_TENANT, None) == [f"{database.id}:2"]


async def test_crawls_that_stopped_moving_fail_as_stalled(store, store_url, cipher):
    database, crawl = await services.register_database(store, cipher, new_database())
    await store.start_crawl(crawl.id, full_plan("1"))
    follow_up = await services.request_crawl(store, database.id)
    assert await store.fail_stalled_crawls(600) == []
    raw = await asyncpg.connect(store_url)
    try:
        await raw.execute(
            "UPDATE crawls SET progressed_at = now() - interval '1 hour' WHERE id = $1", crawl.id
        )
    finally:
        await raw.close()
    [stalled] = await store.fail_stalled_crawls(600)
    assert (stalled.id, stalled.state, stalled.error_class) == (
        crawl.id,
        CrawlState.FAILED,
        "stalled",
    )
    assert "600 s" in stalled.error_message
    assert (await store.get_crawl(follow_up.id)).queued_after is None  # released


async def test_a_message_given_up_on_twice_is_one_dead_letter(store):
    """JetStream can report one message out of deliveries in two advisories."""
    for _ in range(2):
        await store.add_dead_letter("catalog.crawl.batch", "out of deliveries", None, 41, 8)
    await store.add_dead_letter("catalog.crawl.batch", "out of deliveries", None, 42, 8)
    letters = await store.list_dead_letters(None, None, None, 10)
    assert [letter.stream_sequence for letter in letters] == [41, 42]


def relation(ref: str, name: str, fingerprint: str, schema: str = "sales") -> Relation:
    return Relation(ref, schema, name, fingerprint)


async def crawled(store: PgStore, crawl_id: str, relations: list[Relation]) -> None:
    await store.start_crawl(crawl_id, recorded_plan(relations))
    await store.complete_crawl(crawl_id)


async def test_each_completed_crawl_records_its_changes_against_the_one_before(
    store, store_url, cipher
):
    database, first = await services.register_database(store, cipher, new_database())
    await crawled(
        store,
        first.id,
        [
            relation("1", "orders", "a"),
            relation("2", "customers", "b"),
            relation("3", "regions", "c"),
            relation("4", "old_name", "d"),
        ],
    )
    assert await store.list_changes(database.id, None, None, 10) == []  # the baseline
    await sent_messages(store)

    second = await services.request_crawl(store, database.id)
    await crawled(
        store,
        second.id,
        [
            relation("1", "orders", "a"),  # unchanged
            relation("2", "customers", "b2"),  # altered
            relation("4", "new_name", "d2"),  # renamed (the same ref)
            relation("5", "refunds", "e"),  # added; 3 dropped
        ],
    )
    changes = await store.list_changes(database.id, None, None, 10)
    assert [(c.kind, c.name, c.old_name) for c in changes] == [
        (ChangeKind.ALTERED, "customers", None),
        (ChangeKind.RENAMED, "new_name", "old_name"),
        (ChangeKind.ADDED, "refunds", None),
        (ChangeKind.DROPPED, "regions", None),
    ]
    assert {(c.crawl_id, c.generation, c.old_generation) for c in changes} == {(second.id, 2, 1)}
    # One relation's history: under its name, or renamed from it.
    old = await store.list_changes(database.id, None, None, 10, relation=("sales", "old_name"))
    assert [(c.kind, c.name) for c in old] == [(ChangeKind.RENAMED, "new_name")]
    new = await store.list_changes(database.id, None, None, 10, relation=("sales", "new_name"))
    assert new == old
    refunds = await store.list_changes(database.id, None, None, 10, relation=("sales", "refunds"))
    assert [c.kind for c in refunds] == [ChangeKind.ADDED]
    assert await store.list_changes(database.id, None, None, 10, relation=("x", "refunds")) == []
    # The finishing step describes what was altered or renamed, once.
    pending = await store.changes_to_describe(second.id)
    assert [c.name for c in pending] == ["customers", "new_name"]
    await store.describe_change(pending[0].id, {"columns": {"added": ["email"]}})
    assert [c.name for c in await store.changes_to_describe(second.id)] == ["new_name"]
    described = (await store.list_changes(database.id, None, None, 1))[0]
    assert described.detail == {"columns": {"added": ["email"]}}
    sent = await sent_messages(store)
    [event] = [payload for subject, payload in sent if subject.startswith("catalog.schema")]
    assert (f"catalog.schema.changed.{database.id}", event) in sent
    assert event["counts"] == {"altered": 1, "renamed": 1, "dropped": 1, "added": 1}
    assert event["changes"][1] == {
        "kind": "renamed",
        "schema": "sales",
        "name": "new_name",
        "old_schema": "sales",
        "old_name": "old_name",
    }
    # Paged, and from an instant; the first crawl's relations are no longer kept.
    assert [c.name for c in await store.list_changes(database.id, None, changes[1].id, 10)] == [
        "refunds",
        "regions",
    ]
    later = changes[0].changed_at + timedelta(seconds=1)
    assert await store.list_changes(database.id, later, None, 10) == []
    raw = await asyncpg.connect(store_url)
    try:
        kept = await raw.fetch("SELECT DISTINCT crawl_id FROM crawl_relations")
    finally:
        await raw.close()
    assert [row["crawl_id"] for row in kept] == [second.id]
    # Completing again (a redelivery) records nothing twice; pruning forgets the old.
    await store.complete_crawl(second.id)
    assert len(await store.list_changes(database.id, None, None, 10)) == 4
    assert await store.prune_changes(datetime.now(UTC) + timedelta(seconds=1)) == 4
    assert await store.list_changes(database.id, None, None, 10) == []


async def test_a_crawl_without_fingerprints_tells_no_alteration(store, cipher):
    """A first crawl lists no fingerprints: the next can tell what was added, dropped and
    renamed, not what was altered."""
    database, first = await services.register_database(store, cipher, new_database())
    await crawled(store, first.id, [Relation("1", "sales", "orders", None)])
    second = await services.request_crawl(store, database.id)
    await crawled(
        store,
        second.id,
        [Relation("1", "sales", "orders", "a"), Relation("2", "sales", "refunds", "b")],
    )
    changes = await store.list_changes(database.id, None, None, 10)
    assert [(c.kind, c.name) for c in changes] == [(ChangeKind.ADDED, "refunds")]


async def test_a_due_scheduled_crawl_starts_once_however_many_ask(store, store_url, cipher):
    new = dataclasses.replace(new_database(), crawl_interval=600)
    database, first = await services.register_database(store, cipher, new)
    stored = await store.get_database(database.id)
    assert stored.crawl_interval == 600
    assert stored.next_crawl_at is not None
    ahead = (stored.next_crawl_at - datetime.now(UTC)).total_seconds()
    assert 0.9 * 600 - 5 <= ahead <= 1.1 * 600 + 5  # an interval later, give or take 10%
    assert await store.start_due_crawls(10) == []  # not due yet

    raw = await asyncpg.connect(store_url)
    try:
        await raw.execute(
            "UPDATE databases SET next_crawl_at = now() - interval '1 second' WHERE id = $1",
            database.id,
        )
        # Due while its first crawl is still queued: only moved on.
        assert await store.start_due_crawls(10) == []
        await store.start_crawl(first.id, full_plan())
        await store.complete_crawl(first.id)
        await raw.execute(
            "UPDATE databases SET next_crawl_at = now() - interval '1 second' WHERE id = $1",
            database.id,
        )
    finally:
        await raw.close()
    started = await asyncio.gather(*(store.start_due_crawls(10) for _ in range(4)))
    [crawl] = [c for batch in started for c in batch]
    assert (crawl.generation, crawl.state) == (2, CrawlState.QUEUED)
    assert (await store.get_database(database.id)).next_crawl_at > datetime.now(UTC)

    stopped = dataclasses.replace(await store.get_database(database.id), crawl_interval=None)
    await store.update_database(stopped, None)
    after = await store.get_database(database.id)
    assert (after.crawl_interval, after.next_crawl_at) == (None, None)


async def read_all(store: PgStore, crawl_id: str, columns: dict[str, int]) -> Crawl:
    """Complete every batch of the crawl, each relation read with `columns[ref]` columns."""
    crawl = await store.get_crawl(crawl_id)
    for number in range(crawl.batches_total or 0):
        batch = await store.get_batch(crawl_id, number)
        await store.complete_batch(
            crawl_id, number, {ref: columns[ref] for ref in batch.refs if ref in columns}
        )
    return await store.get_crawl(crawl_id)


async def test_an_incremental_plan_keeps_what_did_not_change_and_retires_the_rest(
    store, store_url, cipher
):
    database, first = await services.register_database(store, cipher, new_database())
    kept = [relation(str(ref), f"t{ref}", "k") for ref in (5, 6, 7)]
    listed = [relation("1", "orders", "a"), relation("2", "regions", "b"), relation("3", "x", "c")]
    await store.start_crawl(first.id, plan_crawl([*listed, *kept], None, 2))
    await read_all(store, first.id, {"1": 3, "2": 2, "3": 4, "5": 1, "6": 1, "7": 1})
    await store.complete_crawl(first.id)
    live = await store.live_relations(database.id)
    assert live is not None
    assert live.generation == 1
    assert sorted((r.ref, r.ordinal) for r in live.relations)[:3] == [
        ("1", ORDINAL_SPACING),
        ("2", 2 * ORDINAL_SPACING),  # sales.orders, sales.regions, sales.t5 .. sales.x
        ("3", 6 * ORDINAL_SPACING),
    ]

    # Orders altered, x dropped, a new one; the rest kept.
    second = await services.request_crawl(store, database.id)
    now = [relation("1", "orders", "a2"), relation("2", "regions", "b"), relation("4", "p", "d")]
    plan = plan_crawl([*now, *kept], live, 10)
    assert (plan.full, [b.refs for b in plan.batches]) == (False, [("1", "4")])
    planned = await store.start_crawl(second.id, plan)
    assert (planned.incremental, planned.base_generation, planned.planned_on) == (True, 1, 1)
    assert (planned.tables, planned.columns) == (4, 5)  # regions and t5..t7, kept
    # "4" was dropped again before its batch read it: it is left out of the crawl.
    done = await read_all(store, second.id, {"1": 5})
    assert (done.state, done.tables, done.columns) == (CrawlState.FINISHING, 5, 10)
    assert sorted(await store.superseded_refs(second.id)) == ["1", "3"]
    published = await store.complete_crawl(second.id)
    assert published.state is CrawlState.COMPLETE
    assert await store.live_scopes(DEFAULT_TENANT, [database.id]) == [f"{database.id}:1-2"]
    now_live = await store.live_relations(database.id)
    assert now_live is not None
    assert sorted(r.ref for r in now_live.relations) == ["1", "2", "5", "6", "7"]
    changes = await store.list_changes(database.id, None, None, 10)
    assert [(c.kind, c.name, c.old_generation) for c in changes] == [
        (ChangeKind.ALTERED, "orders", 1),
        (ChangeKind.DROPPED, "x", 1),
    ]

    # A plan made against a generation that is no longer live is made again.
    third = await services.request_crawl(store, database.id)
    stale = plan_crawl([*now, *kept], live, 10)  # against generation 1; 2 is live
    with pytest.raises(TransientError):
        await store.start_crawl(third.id, stale)
    assert (await store.get_crawl(third.id)).state is CrawlState.QUEUED
    # Deleting the database deletes every crawl's relations too (no foreign key cascades).
    await store.delete_database(database.id)
    raw = await asyncpg.connect(store_url)
    try:
        left = await raw.fetchval(
            "SELECT count(*) FROM crawl_relations WHERE crawl_id = ANY($1::text[])",
            [first.id, second.id],
        )
    finally:
        await raw.close()
    assert left == 0


async def test_an_incremental_crawl_publishes_only_on_the_generation_it_was_planned_on(
    store, store_url, cipher
):
    database, first = await services.register_database(store, cipher, new_database())
    others = [relation(str(ref), f"t{ref}", "k") for ref in (5, 6, 7)]
    every = {"1": 1, "5": 1, "6": 1, "7": 1}

    def listing(orders: str) -> list[Relation]:
        return [relation("1", "orders", orders), *others]

    await store.start_crawl(first.id, plan_crawl(listing("a"), None, 10))
    await read_all(store, first.id, every)
    await store.complete_crawl(first.id)

    # A held incremental crawl, then a full one published over it.
    held = await services.request_crawl(store, database.id)
    live = await store.live_relations(database.id)
    assert (await store.start_crawl(held.id, plan_crawl(listing("b"), live, 10))).incremental
    await read_all(store, held.id, every)
    await store.hold_crawl(held.id, "fell")
    full = await services.request_crawl(store, database.id, full=True)
    assert full.full
    assert (await services.request_crawl(store, database.id)).id == full.id  # merged, still full
    await store.start_crawl(full.id, plan_crawl(listing("b"), None, 10))
    with pytest.raises(ConflictError):  # a newer crawl was planned after it
        await store.confirm_crawl(held.id)
    await read_all(store, full.id, every)
    assert (await store.complete_crawl(full.id)).state is CrawlState.COMPLETE

    # A crawl planned on generation 3 that finishes after another was published fails, and
    # asks for a crawl in its place.
    stale = await services.request_crawl(store, database.id)
    live = await store.live_relations(database.id)
    assert (await store.start_crawl(stale.id, plan_crawl(listing("c"), live, 10))).incremental
    await read_all(store, stale.id, every)
    raw = await asyncpg.connect(store_url)  # as if another crawl had been published meanwhile
    try:
        await raw.execute(
            "UPDATE databases SET live_generation = live_generation + 10 WHERE id = $1",
            database.id,
        )
    finally:
        await raw.close()
    failed = await store.complete_crawl(stale.id)
    assert (failed.state, failed.error_class) == (CrawlState.FAILED, "replanned")
    assert (await store.latest_crawl(database.id)).state is CrawlState.QUEUED
