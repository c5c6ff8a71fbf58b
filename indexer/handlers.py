"""Message handlers: plan a crawl into batches, index each batch, finish the crawl.

Every handler is idempotent: a message handled twice leaves the same store and index. Finishing
(the fail-safe, then publishing) is a message of its own, which the store sends with the last
batch's completion: it is quick to redo, whichever worker dies doing it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

from catalog.cipher import SecretCipher
from catalog.crawl_plan import LiveCatalog, plan_crawl
from catalog.crawler import CrawlerFactory
from catalog.credentials import stored_password
from catalog.documents import document_id, documents_for_table, generation_scope
from catalog.errors import CrawlFailure, CredentialError, NotFoundError, PermanentError
from catalog.ids import new_id
from catalog.messages import (
    CRAWL_BATCH,
    CrawlBatchRequested,
    CrawlConfirmed,
    CrawlEnded,
    CrawlFinishing,
    CrawlRequested,
    DatabaseDeleted,
    Message,
    encode,
)
from catalog.metrics import DOCUMENTS_INDEXED, record_crawl_end
from catalog.models import Crawl, CrawlState, Database
from catalog.schema_diff import describe
from catalog.search import SearchIndex
from catalog.store import Store
from indexer.ports import Publisher

log = logging.getLogger(__name__)


class CrawlHandlers:
    def __init__(
        self,
        store: Store,
        index: SearchIndex,
        cipher: SecretCipher,
        open_crawler: CrawlerFactory,
        publisher: Publisher,
        batch_size: int,
        stale_fail_safe: float,
        full_crawl_after: timedelta = timedelta(days=7),
    ) -> None:
        self._store = store
        self._index = index
        self._cipher = cipher
        self._open_crawler = open_crawler
        self._publisher = publisher
        self._batch_size = batch_size
        self._stale_fail_safe = stale_fail_safe
        self._full_crawl_after = full_crawl_after

    async def handle(self, message: Message) -> None:
        if isinstance(message, CrawlRequested):
            await self.plan(message)
        elif isinstance(message, CrawlBatchRequested):
            try:
                await self.index_batch(message)
            except Exception:
                # It may be the crawl's last word: the worker can give up on it and fail the crawl.
                await self._crawl_ended_quietly()
                raise
        elif isinstance(message, CrawlFinishing):
            await self.finish(message)
        elif isinstance(message, CrawlConfirmed):
            await self.publish_confirmed(message)
        elif isinstance(message, CrawlEnded):
            await self.crawl_ended(message)
        else:
            await self.delete_documents(message)

    async def delete_documents(self, message: DatabaseDeleted) -> None:
        """Remove a deleted database's documents: only once the store no longer has it."""
        try:
            await self._store.get_database(message.database_id)
        except NotFoundError:
            await self._index.delete_database(message.database_id)
            log.info("database %s deleted: its documents are gone", message.database_id)
            return
        # The bus is not the authority: a message alone (forged, or misrouted) deletes nothing.
        log.warning(
            "database %s: a deletion message, but the store still has it; ignored",
            message.database_id,
        )

    async def _crawl(self, crawl_id: str) -> Crawl:
        try:
            return await self._store.get_crawl(crawl_id)
        except NotFoundError as exc:
            raise PermanentError(f"crawl {crawl_id} does not exist") from exc

    async def _password(self, database: Database) -> str:
        return await stored_password(self._store, self._cipher, database)

    async def plan(self, message: CrawlRequested) -> None:
        crawl = await self._crawl(message.crawl_id)
        if crawl.queued_after is not None:
            # The store sends the request again when that crawl ends; this one came early.
            log.info("crawl %s waits for crawl %s; not planned yet", crawl.id, crawl.queued_after)
            return
        if crawl.state not in (CrawlState.QUEUED, CrawlState.RUNNING):
            log.info("crawl %s is already %s; nothing to plan", crawl.id, crawl.state)
            return
        if crawl.state is CrawlState.QUEUED:
            try:
                crawl = await self._plan(crawl)
            except (CrawlFailure, CredentialError) as exc:
                await self._fail(crawl, exc)
                return
        if crawl.state is not CrawlState.RUNNING:
            return  # an empty plan: the crawl is finishing already
        # Published again on redelivery: the ids deduplicate, and batches are idempotent anyway.
        for number in range(crawl.batches_total or 0):
            batch = CrawlBatchRequested(crawl.id, crawl.database_id, number)
            await self._publisher.publish(CRAWL_BATCH, encode(batch), batch.message_id)
        log.info("crawl %s planned: %s batches", crawl.id, crawl.batches_total)

    async def _plan(self, crawl: Crawl) -> Crawl:
        database = await self._store.get_database(crawl.database_id)
        password = await self._password(database)
        # Fingerprints tell a crawl what changed since the live one; the first has none to
        # compare with, and does without (they cost the target a pass over every definition).
        fingerprints = database.live_generation is not None
        started = time.perf_counter()
        async with self._open_crawler(database.target, password) as crawler:
            # The store's list of the live relations loads while the target computes its own.
            live_task = asyncio.create_task(self._live_relations(crawl))
            try:
                relations = [r async for r in crawler.list_relations(fingerprints=fingerprints)]
            finally:
                live = await live_task
        listed = time.perf_counter()
        plan = plan_crawl(relations, live, self._batch_size)
        crawl = await self._store.start_crawl(crawl.id, plan)
        log.info(
            "crawl %s: %s relations listed in %.2f s, planned and stored in %.2f s (%s)",
            crawl.id,
            len(relations),
            listed - started,
            time.perf_counter() - listed,
            "full" if plan.full else f"incremental: {len(plan.reads)} to read",
        )
        return crawl

    async def _live_relations(self, crawl: Crawl) -> LiveCatalog | None:
        """What an incremental plan compares with; None for a full crawl: one asked for, or
        one due because the last full crawl is older than full_crawl_after."""
        live = None if crawl.full else await self._store.live_relations(crawl.database_id)
        if live is None or datetime.now(UTC) - live.base_finished_at > self._full_crawl_after:
            return None
        return live

    async def index_batch(self, message: CrawlBatchRequested) -> None:
        crawl = await self._crawl(message.crawl_id)
        if crawl.state is not CrawlState.RUNNING:
            log.info("crawl %s is %s; skipping batch %s", crawl.id, crawl.state, message.number)
            return
        started = time.perf_counter()
        batch = await self._store.get_batch(crawl.id, message.number)
        database = await self._store.get_database(crawl.database_id)
        try:
            password = await self._password(database)
            async with self._open_crawler(database.target, password) as crawler:
                tables = await crawler.read_batch(batch.refs)
        except (CrawlFailure, CredentialError) as exc:
            await self._fail(crawl, exc)
            return
        ordinals = dict(zip(batch.refs, batch.ordinals, strict=True))
        documents = [
            doc
            for table in tables
            for doc in documents_for_table(
                crawl.database_id,
                crawl.generation,
                ordinals[table.ref],
                table,
                tenant_id=database.tenant_id,
            )
        ]
        await self._index.crawl_started()  # each batch: another crawl's end may have undone it
        await self._index.upsert(documents)
        DOCUMENTS_INDEXED.inc(len(documents))
        columns = len(documents) - len(tables)
        read = {table.ref: len(table.columns) for table in tables}
        crawl = await self._store.complete_batch(crawl.id, batch.number, read)
        log.info(
            "crawl %s batch %s indexed: %s tables, %s columns in %.2f s (%s/%s batches done)",
            crawl.id,
            batch.number,
            len(tables),
            columns,
            time.perf_counter() - started,
            crawl.batches_done,
            crawl.batches_total,
        )

    async def finish(self, message: CrawlFinishing) -> None:
        crawl = await self._crawl(message.crawl_id)
        if crawl.state is CrawlState.FINISHING:
            await self._finish(crawl)
        elif crawl.state is CrawlState.COMPLETE:
            # Delivered again: the worker that published it may have died before the changes
            # were described or the old generations went.
            await self._describe_changes(crawl)
            await self._index.delete_superseded(_scope(crawl))
        else:
            log.info("crawl %s is %s; nothing to finish", crawl.id, crawl.state)

    async def publish_confirmed(self, message: CrawlConfirmed) -> None:
        crawl = await self._crawl(message.crawl_id)
        if crawl.confirmed_at is None:
            # The bus is not the authority: only a confirmation the store recorded counts.
            log.warning(
                "crawl %s: a confirmation message, but no confirmation in the store; ignored",
                crawl.id,
            )
            return
        if crawl.state in (CrawlState.HELD, CrawlState.COMPLETE):
            log.info("crawl %s confirmed despite the fail-safe; publishing it", crawl.id)
            await self._publish(crawl)
        else:
            log.warning("crawl %s is %s: nothing to confirm", crawl.id, crawl.state)

    async def _finish(self, crawl: Crawl) -> None:
        fall = await self._fall_beyond_fail_safe(crawl)
        if fall is not None:
            await self._crawl_ended_quietly()
            await self._store.hold_crawl(crawl.id, fall)
            log.warning("crawl %s held by the fail-safe: %s", crawl.id, fall)
            return
        await self._publish(crawl)

    async def _fall_beyond_fail_safe(self, crawl: Crawl) -> str | None:
        """Why the crawl must not publish yet, if it loses too many of the live tables."""
        live = await self._store.live_crawl(crawl.database_id)
        if live is None or live.tables == 0 or crawl.tables >= live.tables:
            return None
        gone = 1 - crawl.tables / live.tables
        if gone <= self._stale_fail_safe:
            return None
        return (
            f"tables fell from {live.tables} to {crawl.tables} ({gone:.0%} gone), beyond the"
            f" {self._stale_fail_safe:.0%} fail-safe; confirm the crawl to publish it"
        )

    async def _publish(self, crawl: Crawl) -> None:
        # Every document of the crawl is visible before readers switch to its generation.
        await self._index.crawl_ended()
        if crawl.incremental and not await self._supersede(crawl):
            return
        if await self._documents_lost(crawl):
            return
        # Readers switch to the new generation first; only then do the old documents go.
        crawl = await self._store.complete_crawl(crawl.id)
        if crawl.state is not CrawlState.COMPLETE:
            log.warning("crawl %s became %s while finishing; not published", crawl.id, crawl.state)
            return
        await self._describe_changes(crawl)  # while the replaced documents are still there
        await self._index.delete_superseded(_scope(crawl))
        log.info(
            "crawl %s complete: database %s generation %s, %s tables, %s columns",
            crawl.id,
            crawl.database_id,
            crawl.generation,
            crawl.tables,
            crawl.columns,
        )

    async def _supersede(self, crawl: Crawl) -> bool:
        """Retire the live documents an incremental crawl replaces, readers of the live
        generation seeing no difference; False (and the crawl ends) if the generation it was
        planned on is no longer live: another crawl published meanwhile."""
        database = await self._store.get_database(crawl.database_id)
        if database.live_generation != crawl.planned_on:
            crawl = await self._store.complete_crawl(crawl.id)  # fails it, asks for another
            log.warning("crawl %s is %s: the live catalog changed under it", crawl.id, crawl.state)
            return False
        live = generation_scope(database.id, database.live_generation, database.live_base)
        refs = await self._store.superseded_refs(crawl.id)
        await self._index.supersede(live, crawl.generation, refs)
        return True

    async def _describe_changes(self, crawl: Crawl) -> None:
        """Record, for each relation the crawl found altered or renamed, what differs column
        by column, from its table documents of both generations."""
        changes = await self._store.changes_to_describe(crawl.id)
        if not changes:
            return
        pairs = {
            change.id: (
                document_id(
                    crawl.database_id,
                    change.old_generation,
                    change.old_schema or change.schema,
                    change.old_name or change.name,
                ),
                document_id(crawl.database_id, crawl.generation, change.schema, change.name),
            )
            for change in changes
        }
        ids = [document for pair in pairs.values() for document in pair]
        found = {doc.id: doc for doc in await self._index.documents_by_id(ids)}
        for change_id, (old, new) in pairs.items():
            if old in found and new in found:  # else the older one went already: no detail
                detail = describe(found[old].payload, found[new].payload)
                await self._store.describe_change(change_id, detail)

    async def _documents_lost(self, crawl: Crawl) -> bool:
        """Whether documents the crawl wrote are missing (the index was lost while it ran): then
        it fails, deleting nothing, and a new crawl is requested in its place."""
        scope = _scope(crawl)
        found = (await self._index.document_counts([scope])).get(scope, 0)
        expected = crawl.tables + crawl.columns
        if found >= expected:
            return False
        await self._store.fail_crawl(
            crawl.id,
            "index_lost",
            f"{expected - found} of its {expected} documents went missing from the search index"
            " while it ran (the index was deleted or replaced); a new crawl was requested",
        )
        # Full: what it would keep of the live generation may be what went missing.
        again = await self._store.request_crawl(crawl.database_id, new_id("crawl"), full=True)
        log.warning(
            "crawl %s lost %s of %s documents from the index; crawl %s requested",
            crawl.id,
            expected - found,
            expected,
            again.id,
        )
        return True

    async def _fail(self, crawl: Crawl, exc: CrawlFailure | CredentialError) -> None:
        error_class = exc.error_class if isinstance(exc, CrawlFailure) else "credential"
        await self._crawl_ended_quietly()
        await self._store.fail_crawl(crawl.id, error_class, str(exc))
        log.warning("crawl %s failed (%s): %s", crawl.id, error_class, exc)

    async def crawl_ended(self, message: CrawlEnded) -> None:
        """Count a crawl that ended (catalog.metrics) and keep its record where dashboards read
        it (the store says so once per change of state, whichever step ended it)."""
        try:
            crawl = await self._store.get_crawl(message.crawl_id)
            database = await self._store.get_database(message.database_id)
        except NotFoundError:
            log.info(
                "crawl %s ended, and its database is gone since: not recorded", message.crawl_id
            )
            return
        changes = await self._store.count_changes(crawl.id)
        await self._index.record_crawl(crawl, database.tenant_id, changes)
        record_crawl_end(crawl)  # after the record: a retry of a refused one counts it once

    async def _crawl_ended_quietly(self) -> None:
        """Restore the index's refresh where a crawl stops; failing to must not hide why it did."""
        try:
            await self._index.crawl_ended()
        except Exception as exc:
            log.warning("could not restore the search index's refresh after a crawl: %s", exc)


def _scope(crawl: Crawl) -> str:
    """What readers of the crawl's generation see, once it is published."""
    return generation_scope(crawl.database_id, crawl.generation, crawl.base_generation)
