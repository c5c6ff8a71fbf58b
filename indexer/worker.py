"""The worker loop: pull crawl messages from the durable consumer and map outcomes to acks.

This is the one place that decides ack / nak(delay) / term:
- handled → ack, only after the handler's writes are durable;
- TransientError or an unexpected error → nak with a growing delay, until max_deliver;
  the last attempt marks the crawl failed and terminates the message;
- PermanentError (malformed message, unknown crawl) → term: retrying cannot help.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from catalog.errors import PermanentError, TransientError
from catalog.messages import Message, decode
from catalog.settings import Settings
from catalog.store import Store
from indexer.jetstream import CONSUMER, STREAM, UNAVAILABLE

log = logging.getLogger(__name__)

NAK_DELAYS = (1.0, 5.0, 15.0, 30.0, 60.0)

Handler = Callable[[Message], Awaitable[None]]


class Worker:
    def __init__(
        self,
        js: JetStreamContext,
        handle: Handler,
        store: Store,
        settings: Settings,
        nak_delays: Sequence[float] = NAK_DELAYS,
    ) -> None:
        self._nak_delays = nak_delays
        self._js = js
        self._handle = handle
        self._store = store
        self._settings = settings

    async def run(self, stop: asyncio.Event) -> None:
        """Run `settings.workers` pull loops until `stop` is set; in-flight messages finish."""
        async with asyncio.TaskGroup() as group:
            for slot in range(self._settings.workers):
                group.create_task(self._loop(slot, stop))

    async def _loop(self, slot: int, stop: asyncio.Event) -> None:
        subscription = None
        while not stop.is_set():
            try:
                if subscription is None:
                    subscription = await self._js.pull_subscribe_bind(CONSUMER, STREAM)
                messages = await subscription.fetch(1, timeout=1.0)
            except nats.errors.TimeoutError:
                continue
            except UNAVAILABLE as exc:
                log.warning("worker %s cannot fetch (%s); retrying", slot, type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                continue
            for msg in messages:
                try:
                    await self.process(msg)
                except UNAVAILABLE as exc:
                    # The ack (or nak) did not reach NATS: the message comes back after ack_wait,
                    # and handlers are idempotent, so nothing is lost or doubled.
                    log.warning("worker %s could not settle a message: %s", slot, exc)
        if subscription is not None:
            with contextlib.suppress(*UNAVAILABLE):
                await subscription.unsubscribe()

    async def process(self, msg: Msg) -> None:
        attempt = msg.metadata.num_delivered or 1
        try:
            message = decode(msg.subject, msg.data)
        except PermanentError as exc:
            log.error("terminating malformed message on %s: %s", msg.subject, exc)
            await msg.term()
            return
        heartbeat = asyncio.create_task(self._keep_alive(msg))
        try:
            await self._handle(message)
        except PermanentError as exc:
            log.error("terminating %s (crawl %s): %s", msg.subject, message.crawl_id, exc)
            await msg.term()
        except Exception as exc:
            await self._retry_or_give_up(msg, message, attempt, exc)
        else:
            await msg.ack()
        finally:
            heartbeat.cancel()

    async def _retry_or_give_up(
        self, msg: Msg, message: Message, attempt: int, exc: Exception
    ) -> None:
        if not isinstance(exc, TransientError):
            log.exception("unexpected error handling %s (crawl %s)", msg.subject, message.crawl_id)
        if attempt < self._settings.max_deliver:
            delay = self._nak_delays[min(attempt, len(self._nak_delays)) - 1]
            log.warning(
                "crawl %s: %s failed on attempt %s (%s); retrying in %.0f s",
                message.crawl_id,
                msg.subject,
                attempt,
                exc,
                delay,
            )
            await msg.nak(delay=delay)
            return
        reason = f"gave up after {attempt} attempts: {type(exc).__name__}"
        with contextlib.suppress(TransientError):
            await self._store.fail_crawl(message.crawl_id, "retries_exhausted", reason)
        log.error("crawl %s: %s", message.crawl_id, reason)
        await msg.term()

    async def _keep_alive(self, msg: Msg) -> None:
        """Tell JetStream the work goes on, so a long batch is not redelivered to another worker."""
        while True:
            await asyncio.sleep(self._settings.ack_wait / 3)
            with contextlib.suppress(*UNAVAILABLE):
                await msg.in_progress()
