"""The outbox relay: publishes what the gateway committed to the outbox, in order, at least once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from catalog.errors import TransientError
from catalog.store import OutboxMessage, Store
from indexer.ports import Publisher

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(self, store: Store, publisher: Publisher, *, idle_wait: float = 0.2) -> None:
        self._store = store
        self._publisher = publisher
        self._idle_wait = idle_wait

    async def _publish(self, message: OutboxMessage) -> None:
        await self._publisher.publish(
            message.subject, json.dumps(message.payload).encode(), message.message_id
        )

    async def relay_once(self, limit: int = 100) -> int:
        return await self._store.relay_outbox(self._publish, limit)

    async def run(self, stop: asyncio.Event) -> None:
        backoff = self._idle_wait
        while not stop.is_set():
            try:
                sent = await self.relay_once()
            except Exception as exc:
                # The relay outlives any bad round: unsent rows stay for the next one.
                if isinstance(exc, TransientError):
                    log.warning("outbox relay paused: %s; retrying in %.1f s", exc, backoff)
                else:
                    log.exception("outbox relay round failed; retrying in %.1f s", backoff)
                sent = 0
                backoff = min(backoff * 2, 5.0)
            else:
                if sent:
                    log.info("outbox relay published %s messages", sent)
                backoff = self._idle_wait
            if not sent:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=backoff)
