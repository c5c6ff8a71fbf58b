"""The crawl handlers against fakes of every port: planning, batches, finishing, failures."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest

from catalog import services
from catalog.browse import live_scope
from catalog.cipher import SecretCipher, generate_key
from catalog.documents import DocumentKind
from catalog.errors import ConflictError, CrawlFailure, PermanentError, TransientError
from catalog.messages import (
    CRAWL_BATCH,
    CRAWL_CONFIRMED,
    CRAWL_ENDED,
    CRAWL_REQUESTED,
    CrawlBatchRequested,
    CrawlConfirmed,
    CrawlFinishing,
    CrawlRequested,
    DatabaseDeleted,
    SchemaChanged,
    schema_changed_subject,
)
from catalog.models import DEFAULT_TENANT, ChangeKind, CrawlState
from indexer.handlers import CrawlHandlers
from tests.factories import PASSWORD, new_database, table
from tests.fakes import FakeCrawler, InMemorySearchIndex, InMemoryStore, RecordingPublisher


@pytest.fixture
def world():
    store, index, publisher = InMemoryStore(), InMemorySearchIndex(), RecordingPublisher()
    crawler = FakeCrawler(
        {
            "10": table("public", "orders", "id", "customer_id", "total"),
            "11": table("public", "customers", "id", "name"),
            "12": table("sales", "regions", "id"),
            "13": table("public", "audit_log", "id", "at"),
            "14": table("sales", "targets", "id", "region_id"),
        }
    )
    cipher = SecretCipher.from_keys([generate_key()])
    handlers = CrawlHandlers(
        store, index, cipher, crawler.factory(), publisher, batch_size=2, stale_fail_safe=0.5
    )
    return store, index, publisher, crawler, cipher, handlers


async def run_crawl(world, crawl_id: str, database_id: str) -> None:
    _store, _, publisher, _, _, handlers = world
    publisher.published.clear()
    await handlers.handle(CrawlRequested(crawl_id, database_id))
    for subject, data, _ in list(publisher.published):
        assert subject == CRAWL_BATCH
        await handlers.handle(CrawlBatchRequested(**json.loads(data)))
    await _store.finish_crawls(handlers.handle)


async def handle_crawls_ended(world) -> None:
    """Deliver the CrawlEnded messages the store sent, as the relay would."""
    store, *_, handlers = world
    for message in store.take_outbox(CRAWL_ENDED):
        await handlers.handle(message)


async def test_a_crawl_indexes_every_table_and_column_and_completes(world):
    store, index, publisher, crawler, cipher, handlers = world
    database, crawl = await services.register_database(store, cipher, new_database())
    await run_crawl(world, crawl.id, database.id)

    crawl = await store.get_crawl(crawl.id)
    assert crawl.state is CrawlState.COMPLETE
    assert (crawl.batches_total, crawl.batches_done) == (3, 3)
    assert (crawl.tables, crawl.columns) == (5, 10)
    assert (await store.get_database(database.id)).live_generation == 1
    kinds = sorted(d.kind for d in index.documents.values())
    assert kinds.count(DocumentKind.TABLE) == 5
    assert kinds.count(DocumentKind.COLUMN) == 10
    # Its record for dashboards (once, whatever else happens): the baseline, with no changes.
    await handle_crawls_ended(world)
    await handlers.handle(CrawlFinishing(crawl.id, database.id))  # delivered again
    await handle_crawls_ended(world)
    assert index.crawl_records == {crawl.id: (CrawlState.COMPLETE, DEFAULT_TENANT, 0)}
    # The crawler got the real password, decrypted; the messages carried ids only.
    assert crawler.passwords_seen
    assert set(crawler.passwords_seen) == {PASSWORD}
    assert all(PASSWORD.encode() not in data for _, data, _ in publisher.published)


async def test_batches_are_read_in_bulk_never_one_table_at_a_time(world):
    store, _, _, crawler, cipher, _ = world
    database, crawl = await services.register_database(store, cipher, new_database())
    await run_crawl(world, crawl.id, database.id)
    assert sorted(len(b) for b in crawler.batches_read) == [1, 2, 2]


async def test_handling_every_message_twice_gives_the_same_index_and_counts(world):
    store, index, _publisher, _, cipher, handlers = world
    database, crawl = await services.register_database(store, cipher, new_database())
    await run_crawl(world, crawl.id, database.id)
    before = dict(index.documents)
    counts = await store.get_crawl(crawl.id)
    await handlers.handle(CrawlRequested(crawl.id, database.id))
    for number in range(3):
        await handlers.handle(CrawlBatchRequested(crawl.id, database.id, number))
    assert index.documents == before
    after = await store.get_crawl(crawl.id)
    assert (after.tables, after.columns, after.batches_done) == (
        counts.tables,
        counts.columns,
        counts.batches_done,
    )


async def test_a_recrawl_removes_dropped_tables_only_when_it_completes(world):
    store, index, _, crawler, cipher, handlers = world
    database, crawl = await services.register_database(store, cipher, new_database())
    await run_crawl(world, crawl.id, database.id)
    del crawler.tables["13"]  # audit_log is dropped
    second = await services.request_crawl(store, database.id)
    assert second.generation == 2
    await handlers.handle(CrawlRequested(second.id, database.id))
    # Planned but no batch done yet: the first generation is still whole and live.
    assert (await store.get_database(database.id)).live_generation == 1
    assert any(d.table == "audit_log" for d in index.documents.values())
    await run_crawl(world, second.id, database.id)
    assert (await store.get_database(database.id)).live_generation == 2
    assert not any(d.table == "audit_log" for d in index.documents.values())
    assert {d.generation for d in index.documents.values()} == {2}


async def test_a_failed_crawl_records_its_class_and_deletes_nothing(world):
    store, index, _, crawler, cipher, handlers = world
    database, crawl = await services.register_database(store, cipher, new_database())
    await run_crawl(world, crawl.id, database.id)
    before = dict(index.documents)
    crawler.failure = CrawlFailure("unreachable", "could not connect to 127.0.0.1:5432")
    second = await services.request_crawl(store, database.id)
    await handlers.handle(CrawlRequested(second.id, database.id))
    failed = await store.get_crawl(second.id)
    assert failed.state is CrawlState.FAILED
    assert failed.error_class == "unreachable"
    await handle_crawls_ended(world)
    assert index.crawl_records[second.id] == (CrawlState.FAILED, DEFAULT_TENANT, 0)
    # Failing it again changes nothing, and says nothing.
    await store.fail_crawl(second.id, "worker_lost", "out of deliveries")
    assert (await store.get_crawl(second.id)).error_class == "unreachable"
    assert store.take_outbox(CRAWL_ENDED) == []
    assert index.documents == before
    assert (await store.get_database(database.id)).live_generation == 1


async def test_a_batch_failure_fails_the_crawl_and_later_batches_do_nothing(world):
    store, index, _publisher, crawler, cipher, handlers = world
    database, crawl = await services.register_database(store, cipher, new_database())
    await handlers.handle(CrawlRequested(crawl.id, database.id))
    crawler.failure = CrawlFailure("timeout", "statement timeout")
    await handlers.handle(CrawlBatchRequested(crawl.id, database.id, 0))
    crawler.failure = None
    await handlers.handle(CrawlBatchRequested(crawl.id, database.id, 1))
    crawl = await store.get_crawl(crawl.id)
    assert (crawl.state, crawl.error_class, crawl.batches_done) == (CrawlState.FAILED, "timeout", 0)
    assert index.documents == {}


async def test_a_database_with_no_tables_completes_at_once(world):
    store, _index, publisher, crawler, cipher, handlers = world
    crawler.tables.clear()
    database, crawl = await services.register_database(store, cipher, new_database())
    await handlers.handle(CrawlRequested(crawl.id, database.id))
    assert (await store.get_crawl(crawl.id)).state is CrawlState.FINISHING
    await store.finish_crawls(handlers.handle)
    assert (await store.get_crawl(crawl.id)).state is CrawlState.COMPLETE
    assert publisher.published == []


async def test_a_message_for_an_unknown_crawl_is_permanent(world):
    *_, handlers = world
    with pytest.raises(PermanentError):
        await handlers.handle(CrawlRequested("crawl_missing", "db_missing"))


async def test_a_password_that_no_longer_decrypts_fails_the_crawl_as_credential(world):
    store, _, _, crawler, cipher, handlers = world
    database, crawl = await services.register_database(store, cipher, new_database())
    # Another database's ciphertext copied onto this row must not decrypt.
    other, _ = await services.register_database(store, cipher, new_database("other-password"))
    store.passwords[database.id] = store.passwords[other.id]
    await handlers.handle(CrawlRequested(crawl.id, database.id))
    failed = await store.get_crawl(crawl.id)
    assert (failed.state, failed.error_class) == (CrawlState.FAILED, "credential")
    assert crawler.passwords_seen == []


async def test_a_fall_beyond_the_fail_safe_is_held_until_confirmed(world):
    store, index, _, crawler, cipher, handlers = world
    database, crawl = await services.register_database(store, cipher, new_database())
    await run_crawl(world, crawl.id, database.id)
    first_generation = dict(index.documents)
    for ref in ("10", "11", "12", "13"):  # four of five tables vanish: 80% > the 50% fail-safe
        del crawler.tables[ref]
    second = await services.request_crawl(store, database.id)
    await run_crawl(world, second.id, database.id)

    held = await store.get_crawl(second.id)
    assert held.state is CrawlState.HELD
    assert held.error_class == "fail_safe"
    assert "fell from 5 to 1 (80% gone)" in held.error_message
    await handle_crawls_ended(world)
    assert index.crawl_records[second.id] == (CrawlState.HELD, DEFAULT_TENANT, 0)
    assert (await store.get_database(database.id)).live_generation == 1
    assert all(index.documents[i] == d for i, d in first_generation.items())

    # A confirmation message no editor gave (forged on the bus) publishes nothing.
    await handlers.handle(CrawlConfirmed(second.id, database.id))
    assert (await store.get_crawl(second.id)).state is CrawlState.HELD
    assert (await store.get_database(database.id)).live_generation == 1

    await store.confirm_crawl(second.id)
    [(message, _)] = [m for m in store.outbox if m[0].subject == CRAWL_CONFIRMED]
    await handlers.handle(CrawlConfirmed(**message.payload))
    published = await store.get_crawl(second.id)
    assert published.state is CrawlState.COMPLETE
    # Published, it carries no error: the fall it was held for is no failure any more.
    assert (published.error_class, published.error_message) == (None, None)
    assert (await store.get_database(database.id)).live_generation == 2
    assert {d.table for d in index.documents.values()} == {"targets"}


async def test_a_deletion_message_for_a_database_the_store_still_has_deletes_nothing(world):
    """Anyone who can publish on the bus could otherwise empty a tenant's part of the index."""
    store, index, _, _, cipher, handlers = world
    database, crawl = await services.register_database(store, cipher, new_database())
    await run_crawl(world, crawl.id, database.id)
    before = dict(index.documents)
    await handlers.handle(DatabaseDeleted(database.id))
    assert index.documents == before

    await store.delete_database(database.id)  # the real thing: the store first, then the bus
    await handlers.handle(DatabaseDeleted(database.id))
    assert index.documents == {}


async def test_a_fall_within_the_fail_safe_publishes(world):
    store, index, _, crawler, cipher, _ = world
    database, crawl = await services.register_database(store, cipher, new_database())
    await run_crawl(world, crawl.id, database.id)
    del crawler.tables["10"], crawler.tables["11"]  # 40% gone, under the 50% fail-safe
    second = await services.request_crawl(store, database.id)
    await run_crawl(world, second.id, database.id)
    assert (await store.get_crawl(second.id)).state is CrawlState.COMPLETE
    assert len({d.table for d in index.documents.values()}) == 3


async def test_confirming_a_crawl_that_is_not_held_is_a_conflict(world):
    store, _, _, _, cipher, _ = world
    _, crawl = await services.register_database(store, cipher, new_database())
    with pytest.raises(ConflictError):
        await store.confirm_crawl(crawl.id)


async def test_an_unreachable_target_is_retried_not_failed_at_once(world):
    store, index, _, crawler, cipher, handlers = world
    database, crawl = await services.register_database(store, cipher, new_database())
    crawler.failure = TransientError("connection refused", "unreachable")
    with pytest.raises(TransientError):
        await handlers.handle(CrawlRequested(crawl.id, database.id))
    assert (await store.get_crawl(crawl.id)).state is CrawlState.QUEUED
    crawler.failure = None
    await run_crawl(world, crawl.id, database.id)
    assert (await store.get_crawl(crawl.id)).state is CrawlState.COMPLETE
    assert index.documents


async def test_a_request_after_the_plan_is_carried_by_one_follow_up_planned_when_it_ends(world):
    """A request merged into a crawl planned before it published dropped tables as live."""
    store, index, publisher, crawler, cipher, handlers = world
    database, crawl = await services.register_database(store, cipher, new_database())
    assert (await services.request_crawl(store, database.id)).id == crawl.id  # queued: merged
    store.take_outbox(CRAWL_REQUESTED)
    await handlers.handle(CrawlRequested(crawl.id, database.id))

    del crawler.tables["13"]  # dropped after the plan, then a re-crawl is asked for
    follow_up = await services.request_crawl(store, database.id)
    assert (follow_up.generation, follow_up.queued_after) == (2, crawl.id)
    assert (await services.request_crawl(store, database.id)).id == follow_up.id
    # Its request goes out only when the planned crawl ends; delivered early, it plans nothing.
    assert store.take_outbox(CRAWL_REQUESTED) == []
    await handlers.handle(CrawlRequested(follow_up.id, database.id))
    assert (await store.get_crawl(follow_up.id)).state is CrawlState.QUEUED
    # The status shows the crawl that runs, not the one waiting for it.
    assert (await store.latest_crawl(database.id)).id == crawl.id

    for batch in publisher.batches():
        await handlers.handle(batch)
    await store.finish_crawls(handlers.handle)
    assert (await store.get_crawl(crawl.id)).state is CrawlState.COMPLETE
    assert store.take_outbox(CRAWL_REQUESTED) == [CrawlRequested(follow_up.id, database.id)]
    await run_crawl(world, follow_up.id, database.id)
    assert (await store.get_crawl(follow_up.id)).state is CrawlState.COMPLETE
    assert "audit_log" not in {d.table for d in index.documents.values()}


async def test_documents_lost_while_a_crawl_ran_fail_it_and_a_new_crawl_is_requested(world):
    store, index, publisher, _, cipher, handlers = world
    database, crawl = await services.register_database(store, cipher, new_database())
    await handlers.handle(CrawlRequested(crawl.id, database.id))
    for batch in publisher.batches():
        await handlers.handle(batch)
    index.documents.clear()  # the index was deleted, and recreated empty, before finishing
    await store.finish_crawls(handlers.handle)

    lost = await store.get_crawl(crawl.id)
    assert (lost.state, lost.error_class) == (CrawlState.FAILED, "index_lost")
    assert "15 of its 15 documents went missing" in lost.error_message
    assert (await store.get_database(database.id)).live_generation is None
    again = await store.latest_crawl(database.id)
    assert (again.generation, again.state) == (2, CrawlState.QUEUED)
    await run_crawl(world, again.id, database.id)
    assert (await store.get_crawl(again.id)).state is CrawlState.COMPLETE


async def test_a_finishing_message_delivered_after_completion_removes_older_generations(world):
    """The worker that published may die before the old documents went: the redelivery does it."""
    store, index, _, _, cipher, handlers = world
    database, crawl = await services.register_database(store, cipher, new_database())
    await run_crawl(world, crawl.id, database.id)
    stale = {d.id: d for d in index.documents.values()}
    second = await services.request_crawl(store, database.id)
    await run_crawl(world, second.id, database.id)
    await index.upsert(list(stale.values()))  # as if deleting generation 1 had not happened
    await handlers.handle(CrawlFinishing(second.id, database.id))
    assert {d.generation for d in index.documents.values()} == {2}


async def test_a_recrawl_records_what_changed_and_announces_it_once(world):
    """The first crawl is the baseline, listed without fingerprints (nothing to compare them
    with); the next lists what was added and dropped; from then on, what was altered too."""
    store, index, _, crawler, cipher, _ = world
    database, crawl = await services.register_database(store, cipher, new_database())
    await run_crawl(world, crawl.id, database.id)
    assert store.changes == []
    assert store.take_outbox(schema_changed_subject(database.id)) == []

    del crawler.tables["11"]  # public.customers
    crawler.tables["15"] = table("public", "refunds", "id")
    second = await services.request_crawl(store, database.id)
    await run_crawl(world, second.id, database.id)
    crawler.tables["10"] = table("public", "orders", "id", "customer_id", "total", "note")
    third = await services.request_crawl(store, database.id)
    await run_crawl(world, third.id, database.id)

    assert crawler.fingerprints_asked == [False, True, True]
    changes = await store.list_changes(database.id, None, None, 10)
    assert [(c.generation, c.kind, c.schema, c.name) for c in changes] == [
        (2, ChangeKind.DROPPED, "public", "customers"),
        (2, ChangeKind.ADDED, "public", "refunds"),
        (3, ChangeKind.ALTERED, "public", "orders"),
    ]
    # The alteration, column by column; added and dropped relations need no detail.
    assert [c.detail for c in changes] == [None, None, {"columns": {"added": ["note"]}}]
    # Each crawl's record for dashboards counts the changes it found.
    await handle_crawls_ended(world)
    assert index.crawl_records[second.id] == (CrawlState.COMPLETE, DEFAULT_TENANT, 2)
    assert index.crawl_records[third.id] == (CrawlState.COMPLETE, DEFAULT_TENANT, 1)
    events = store.take_outbox(schema_changed_subject(database.id))
    assert [e.crawl_id for e in events if isinstance(e, SchemaChanged)] == [second.id, third.id]
    event = events[0]
    assert isinstance(event, SchemaChanged)
    assert (event.generation, event.tenant_id) == (2, DEFAULT_TENANT)
    assert event.counts == {"dropped": 1, "added": 1}
    assert not event.truncated
    assert PASSWORD not in json.dumps(dataclasses.asdict(event))


async def crawled_twice(world):
    """A database crawled twice: the second crawl lists fingerprints, so the next can compare."""
    store, _, _, crawler, cipher, _ = world
    database, crawl = await services.register_database(store, cipher, new_database())
    await run_crawl(world, crawl.id, database.id)
    second = await services.request_crawl(store, database.id)
    await run_crawl(world, second.id, database.id)
    crawler.batches_read.clear()
    return database


async def live_tables(store, index, database_id) -> dict[str, list[str]]:
    """What readers see: each live table's columns."""
    scope = live_scope(await store.get_database(database_id))
    return {
        f"{doc.schema}.{doc.table}": doc.column_names
        for doc in await index.tables_page(scope, None, 100)
    }


async def test_an_incremental_crawl_reads_only_what_changed_and_publishes_the_whole(world):
    store, index, _, crawler, _, _ = world
    database = await crawled_twice(world)
    before = await live_tables(store, index, database.id)

    crawler.tables["10"] = table("public", "orders", "id", "customer_id", "total", "note")
    del crawler.tables["13"]  # public.audit_log
    crawler.tables["15"] = table("public", "refunds", "id")
    third = await services.request_crawl(store, database.id)
    await run_crawl(world, third.id, database.id)

    third = await store.get_crawl(third.id)
    assert (third.state, third.incremental, third.base_generation) == (CrawlState.COMPLETE, True, 2)
    assert sorted(crawler.batches_read) == [("10", "15")]  # one batch: the changed and the new
    assert (third.tables, third.columns) == (5, 10)  # kept ones counted from the start
    expected = {**before, "public.orders": ["id", "customer_id", "total", "note"]}
    del expected["public.audit_log"]
    expected["public.refunds"] = ["id"]
    assert await live_tables(store, index, database.id) == expected
    # Only what readers see is left: kept documents (written by crawl 2) and crawl 3's.
    assert {(d.table, d.generation) for d in index.documents.values() if d.column is None} == {
        ("orders", 3),
        ("refunds", 3),
        ("customers", 2),
        ("regions", 2),
        ("targets", 2),
    }
    # Ordinals stay in (schema, name) order: refunds went between orders and sales.regions.
    pages = await index.tables_page(live_scope(await store.get_database(database.id)), None, 9)
    assert [d.table for d in pages] == ["customers", "orders", "refunds", "regions", "targets"]
    changes = await store.list_changes(database.id, None, None, 10)
    assert [(c.kind, c.name, c.detail) for c in changes] == [
        (ChangeKind.DROPPED, "audit_log", None),
        (ChangeKind.ALTERED, "orders", {"columns": {"added": ["note"]}}),
        (ChangeKind.ADDED, "refunds", None),
    ]


async def test_a_recrawl_with_nothing_changed_reads_nothing_and_keeps_every_document(world):
    store, index, _, crawler, _, _ = world
    database = await crawled_twice(world)
    before, documents = await live_tables(store, index, database.id), dict(index.documents)
    again = await services.request_crawl(store, database.id)
    await run_crawl(world, again.id, database.id)
    again = await store.get_crawl(again.id)
    assert (again.state, again.batches_total, again.tables, again.columns) == (
        CrawlState.COMPLETE,
        0,
        5,
        10,
    )
    assert crawler.batches_read == []
    assert index.documents == documents
    assert await live_tables(store, index, database.id) == before
    assert (await store.get_database(database.id)).live_generation == 3


async def test_a_full_crawl_reads_everything_whatever_the_fingerprints_say(world):
    store, index, _, crawler, _, _ = world
    database = await crawled_twice(world)
    full = await services.request_crawl(store, database.id, full=True)
    await run_crawl(world, full.id, database.id)
    full = await store.get_crawl(full.id)
    assert (full.full, full.incremental, full.base_generation) == (True, False, 3)
    read = sorted(ref for batch in crawler.batches_read for ref in batch)
    assert read == ["10", "11", "12", "13", "14"]
    assert {d.generation for d in index.documents.values()} == {3}


async def test_an_incremental_crawl_that_dies_after_retiring_leaves_readers_the_old_state(world):
    """Killed after retiring what it replaced, before publishing: readers still see the old
    generation whole; the next crawl restores what the dead one retired and drops its writes."""
    store, index, _, crawler, _, handlers = world
    database = await crawled_twice(world)
    before = await live_tables(store, index, database.id)
    crawler.tables["10"] = table("public", "orders", "id", "note")
    doomed = await services.request_crawl(store, database.id)
    await handlers.handle(CrawlRequested(doomed.id, database.id))
    await handlers.handle(CrawlBatchRequested(doomed.id, database.id, 0))
    live = live_scope(await store.get_database(database.id))
    await index.supersede(live, doomed.generation, await store.superseded_refs(doomed.id))
    await store.fail_crawl(doomed.id, "worker_lost", "killed")
    assert await live_tables(store, index, database.id) == before

    crawler.tables["10"] = table("public", "orders", "id", "customer_id", "total")  # put back
    crawler.tables["11"] = table("public", "customers", "id", "name", "email")
    after = await services.request_crawl(store, database.id)
    await run_crawl(world, after.id, database.id)
    assert (await store.get_crawl(after.id)).state is CrawlState.COMPLETE
    assert await live_tables(store, index, database.id) == {
        **before,
        "public.customers": ["id", "name", "email"],
    }
    assert doomed.generation not in {d.generation for d in index.documents.values()}


async def test_a_crawl_is_full_once_the_last_full_crawl_is_older_than_the_setting(world):
    """Incremental crawls keep the row estimates and sizes of what they do not read: a full
    crawl now and then bounds how old those get."""
    store, index, publisher, crawler, cipher, _ = world
    database = await crawled_twice(world)
    crawler.tables["10"] = table("public", "orders", "id", "customer_id", "total", "note")
    handlers = CrawlHandlers(
        store,
        index,
        cipher,
        crawler.factory(),
        publisher,
        batch_size=2,
        stale_fail_safe=0.5,
        full_crawl_after=timedelta(0),
    )
    due = await services.request_crawl(store, database.id)
    await run_crawl((store, index, publisher, crawler, cipher, handlers), due.id, database.id)
    due = await store.get_crawl(due.id)
    assert (due.state, due.incremental, due.base_generation) == (CrawlState.COMPLETE, False, 3)
    assert sorted(ref for batch in crawler.batches_read for ref in batch) == [
        "10",
        "11",
        "12",
        "13",
        "14",
    ]
