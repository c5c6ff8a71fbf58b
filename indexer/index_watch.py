"""The index watch: notices a lost index, lost documents and stalled crawls, and mends them.

Every `index_check_interval` seconds, in each indexer process (what one does, another finds
done, so several at once are harmless):
- each database's live generation is counted in the index against the counts its crawl
  recorded; a database with fewer (all of them, if the index is missing) is marked lost
  (searches over it answer 503) and re-crawled;
- the index is created again if it went missing (deleted, its directory removed);
- crawls that have not moved on for `crawl_stall_timeout` are failed as `stalled`;
- changes older than `change_retention_days` leave the change history;
- scheduled crawls that are due start (each once, whichever indexer looks first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from catalog.errors import CatalogError, IndexLostError
from catalog.search import SearchIndex
from catalog.settings import Settings
from catalog.store import Store

log = logging.getLogger(__name__)

# Scheduled crawls started per round at most; the rest start in the next rounds.
_DUE_PER_ROUND = 100


class IndexWatch:
    def __init__(self, store: Store, index: SearchIndex, settings: Settings) -> None:
        self._store = store
        self._index = index
        self._settings = settings

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.check()
            except CatalogError as exc:  # an engine away: the next round tries again
                log.warning("index watch round failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._settings.index_check_interval)

    async def check(self) -> list[str]:
        """One round; the scopes found short, for tests. Lost documents are marked before a
        missing index is created again, so no reader meets an empty index it trusts."""
        short = await self.short_scopes()
        if short:
            crawls = await self._store.mark_index_lost(short)
            log.warning(
                "documents missing from the search index for %s; re-crawls requested: %s",
                ", ".join(sorted(short)),
                ", ".join(crawl.id for crawl in crawls) or "none new",
            )
        if await self._index.ensure():
            log.warning("the search index was missing; created it again")
        for crawl in await self._store.fail_stalled_crawls(self._settings.crawl_stall_timeout):
            log.error("crawl %s failed as stalled: %s", crawl.id, crawl.error_message)
        for crawl in await self._store.start_due_crawls(_DUE_PER_ROUND):
            log.info("scheduled crawl %s of database %s queued", crawl.id, crawl.database_id)
        retention = timedelta(days=self._settings.change_retention_days)
        if pruned := await self._store.prune_changes(datetime.now(UTC) - retention):
            log.info("%s changes older than %s left the change history", pruned, retention)
        return short

    async def short_scopes(self) -> list[str]:
        """Live generations with fewer documents in the index than their crawls wrote.

        The store is read before and after counting, and only generations live throughout are
        judged: a crawl published meanwhile makes its own generation live (all of its documents
        were visible before) and deletes older ones, which must not read as a loss.
        """
        before = await self._store.live_documents()
        try:
            counts = await self._index.document_counts(list(before))
        except IndexLostError:
            counts = {}  # the whole index is gone
        after = await self._store.live_documents()
        return [
            scope
            for scope, expected in before.items()
            if scope in after and counts.get(scope, 0) < expected
        ]
