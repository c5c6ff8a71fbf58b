"""The worker loop: pull crawl messages from the durable consumer and map outcomes to acks.

This is the one place that decides ack / nak(delay) / term:
- handled → ack, only after the handler's writes are durable;
- TransientError or an unexpected error → nak with a growing delay, until max_deliver;
  the last attempt marks the crawl failed (with the error's class) and terminates the message;
- PermanentError (malformed message, unknown crawl) → term: retrying cannot help.
Every terminated message is recorded as a dead letter, so none disappears unseen.

Workers are shared fairly between tenants (indexer/shares.py): a message whose tenant has its
share of the workers busy goes to the back of the queue, as a copy that carries the attempts it
has used (`Catalog-Attempts`), so a requeue never counts as an attempt.

A delivery can also end with no answer at all: the worker was killed (SIGKILL, out of memory)
or hung past ack_wait. When that happens on the last delivery, no code of ours runs for it;
JetStream's max-deliveries advisory does (jetstream.py keeps them in a stream), and
`process_advisory` fails the message's crawl as `worker_lost` and makes it a dead letter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from catalog.errors import CatalogError, NotFoundError, PermanentError, TransientError
from catalog.messages import CrawlBatchRequested, Message, decode
from catalog.metrics import BATCHES
from catalog.settings import Settings
from catalog.store import Store
from indexer.jetstream import ADVISORY_CONSUMER, CONSUMER, DEFAULT_BUS, UNAVAILABLE, Bus
from indexer.shares import TenantShares

log = logging.getLogger(__name__)

Handler = Callable[[Message], Awaitable[None]]

# Attempts a message used before it was put back at the end of the queue.
EARLIER_ATTEMPTS = "Catalog-Attempts"


def attempt_of(msg: Msg) -> int:
    """Which attempt this delivery is: its deliveries, and those of the copies before it."""
    earlier = (msg.headers or {}).get(EARLIER_ATTEMPTS, "0")
    return (int(earlier) if earlier.isdigit() else 0) + (msg.metadata.num_delivered or 1)


class Worker:
    def __init__(
        self,
        js: JetStreamContext,
        handle: Handler,
        store: Store,
        settings: Settings,
        bus: Bus = DEFAULT_BUS,
    ) -> None:
        self._js = js
        self._handle = handle
        self._store = store
        self._settings = settings
        self._bus = bus
        self.shares = TenantShares(store, per_tenant=settings.workers)

    async def run(self, stop: asyncio.Event) -> None:
        """Run twice `settings.workers` pull loops (each tenant may use `workers` of them) until
        `stop` is set; in-flight messages finish."""
        async with asyncio.TaskGroup() as group:
            for slot in range(2 * self._settings.workers):
                group.create_task(
                    self._loop(str(slot), stop, CONSUMER, self._bus.stream, self.process)
                )
            group.create_task(
                self._loop(
                    "advisories",
                    stop,
                    ADVISORY_CONSUMER,
                    self._bus.advisory_stream,
                    lambda msg, _: self.process_advisory(msg),
                )
            )

    async def _loop(
        self,
        slot: str,
        stop: asyncio.Event,
        consumer: str,
        stream: str,
        process: Callable[[Msg, str], Awaitable[None]],
    ) -> None:
        subscription = None
        while not stop.is_set():
            try:
                if subscription is None:
                    subscription = await self._js.pull_subscribe_bind(consumer, stream)
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
                    await process(msg, slot)
                except UNAVAILABLE as exc:
                    # The ack (or nak) did not reach NATS: the message comes back after ack_wait,
                    # and handlers are idempotent, so nothing is lost or doubled.
                    log.warning("worker %s could not settle a message: %s", slot, exc)
        if subscription is not None:
            with contextlib.suppress(*UNAVAILABLE):
                await subscription.unsubscribe()

    async def process(self, msg: Msg, slot: str = "0") -> None:
        """Handle one message and settle it; `slot` names the pull loop, for the log."""
        attempt = attempt_of(msg)
        subject = self._bus.logical(msg.subject)
        try:
            message = decode(subject, msg.data)
        except PermanentError as exc:
            await self._terminate(msg, None, str(exc))
            return
        tenant = await self.shares.tenant_of(message.database_id)
        if not await self.shares.take(tenant):
            await self._requeue(msg, attempt)
            return
        try:
            await self._settle(msg, message, attempt, slot)
        finally:
            await self.shares.give_back(tenant)

    async def _requeue(self, msg: Msg, attempt: int) -> None:
        """Put a copy at the back of the queue, then ack this one: its tenant has its share of
        the workers busy, and other tenants' messages behind it go first."""
        headers = {
            "Nats-Msg-Id": self._bus.dedup_id(f"requeued-{uuid.uuid4().hex}"),
            EARLIER_ATTEMPTS: str(attempt - 1),
        }
        await self._js.publish(msg.subject, msg.data, headers=headers)
        await msg.ack()

    async def _settle(self, msg: Msg, message: Message, attempt: int, slot: str) -> None:
        started = time.perf_counter()
        batch = isinstance(message, CrawlBatchRequested)
        if batch and attempt > 1:
            BATCHES.labels("redelivered").inc()
        heartbeat = asyncio.create_task(self._keep_alive(msg))
        try:
            await self._handle(message)
        except PermanentError as exc:
            if batch:
                BATCHES.labels("failed").inc()
            # Its crawl can never complete without this message: say so, rather than leave it
            # running forever.
            await self._fail_crawl(message, "permanent", str(exc))
            await self._terminate(msg, message.crawl_id, str(exc))
        except Exception as exc:
            if batch:
                BATCHES.labels("failed").inc()
            await self._retry_or_give_up(msg, message, attempt, exc)
        else:
            if batch:
                BATCHES.labels("done").inc()
            await msg.ack()
            # Which worker (process:loop) did what: how a crawl's batches spread over them.
            log.info(
                "worker %s:%s acked %s of crawl %s in %.2f s",
                os.getpid(),
                slot,
                msg.subject,
                message.crawl_id,
                time.perf_counter() - started,
            )
        finally:
            heartbeat.cancel()

    async def process_advisory(self, msg: Msg) -> None:
        """A message of ours ran out of deliveries, each ended with no answer: fail its crawl,
        keep it as a dead letter, and remove it from the stream (which keeps it otherwise)."""
        try:
            advisory = json.loads(msg.data)
            sequence, deliveries = int(advisory["stream_seq"]), int(advisory["deliveries"])
        except (ValueError, TypeError, KeyError):
            log.error("a max-deliveries advisory that does not parse; dropped")
            await msg.term()
            return
        try:
            lost = await self._js.get_msg(self._bus.stream, sequence)
        except nats.js.errors.NotFoundError:
            await msg.ack()  # handled before (this advisory came again), or removed by hand
            return
        subject = self._bus.logical(lost.subject or "")
        reason = (
            f"out of deliveries: each of its {deliveries} deliveries ended with no answer from"
            " the worker (killed, out of memory, or stuck past ack_wait)"
        )
        crawl_id = None
        with contextlib.suppress(PermanentError):
            crawl_id = decode(subject, lost.data or b"").crawl_id
        try:
            if crawl_id is not None:
                with contextlib.suppress(NotFoundError):
                    await self._store.fail_crawl(crawl_id, "worker_lost", reason)
            await self._store.add_dead_letter(subject, reason, crawl_id, sequence, deliveries)
        except TransientError:
            await msg.nak(delay=self._settings.retry_delay)  # the store is away: later
            return
        log.error("crawl %s: %s %s", crawl_id, subject, reason)
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await self._js.delete_msg(self._bus.stream, sequence)
        await msg.ack()

    def retry_delay(self, attempt: int) -> float:
        settings = self._settings
        return min(settings.retry_delay * 2 ** (attempt - 1), settings.retry_delay_max)

    async def _retry_or_give_up(
        self, msg: Msg, message: Message, attempt: int, exc: Exception
    ) -> None:
        if not isinstance(exc, TransientError):
            log.exception("unexpected error handling %s (crawl %s)", msg.subject, message.crawl_id)
        error_class = exc.error_class if isinstance(exc, TransientError) else "error"
        if attempt < self._settings.max_deliver:
            delay = self.retry_delay(attempt)
            log.warning(
                "crawl %s: %s failed on attempt %s (%s); retrying in %.1f s",
                message.crawl_id,
                msg.subject,
                attempt,
                exc,
                delay,
            )
            await self._note_retry(message, error_class, attempt, delay)
            await msg.nak(delay=delay)
            return
        # Our own errors say what happened without secrets; anything else shows its type only.
        detail = str(exc) if isinstance(exc, CatalogError) else type(exc).__name__
        reason = f"gave up after {attempt} attempts: {detail}"
        await self._fail_crawl(message, error_class, reason)
        await self._terminate(msg, message.crawl_id, reason)

    async def _note_retry(
        self, message: Message, error_class: str, attempt: int, delay: float
    ) -> None:
        """Let the crawl's status say it is retrying (best effort: the retry happens anyway)."""
        if message.crawl_id is not None:
            at = datetime.now(UTC) + timedelta(seconds=delay)
            with contextlib.suppress(TransientError, NotFoundError):
                await self._store.note_retry(message.crawl_id, error_class, attempt, at)

    async def _fail_crawl(self, message: Message, error_class: str, reason: str) -> None:
        """Mark the message's crawl failed, if it has one that still exists (best effort: the
        dead letter records the message either way)."""
        if message.crawl_id is not None:
            with contextlib.suppress(TransientError, NotFoundError):
                await self._store.fail_crawl(message.crawl_id, error_class, reason)

    async def _terminate(self, msg: Msg, crawl_id: str | None, reason: str) -> None:
        """Stop redelivery, and keep a dead letter so the message is counted and visible."""
        log.error("terminating %s (crawl %s): %s", msg.subject, crawl_id, reason)
        metadata = msg.metadata
        try:
            await self._store.add_dead_letter(
                msg.subject,
                reason,
                crawl_id,
                metadata.sequence.stream if metadata.sequence else None,
                attempt_of(msg),
            )
        except TransientError:
            # Without its dead letter the message must not vanish: let it come back later.
            await msg.nak(delay=self.retry_delay(attempt_of(msg)))
            return
        await msg.term()

    async def _keep_alive(self, msg: Msg) -> None:
        """Tell JetStream the work goes on, so a long batch is not redelivered to another worker."""
        while True:
            await asyncio.sleep(self._settings.ack_wait / 3)
            with contextlib.suppress(*UNAVAILABLE):
                await msg.in_progress()
