"""NATS JetStream wiring: the connection, the crawl stream and its durable consumer."""

from __future__ import annotations

import asyncio
import logging

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig

from catalog.errors import TransientError
from catalog.messages import CRAWL_SUBJECTS
from catalog.settings import Settings

log = logging.getLogger(__name__)

STREAM = "CATALOG_CRAWL"
CONSUMER = "indexer"
# Retries back off through nak(delay), growing with each attempt (indexer/worker.py). The
# consumer's own `backoff` list is left unset on purpose: nats-server applies it to naks too,
# overriding the delay asked for (measured: a 0.05 s nak waited 5 s, then 15 s), so one list
# would have to serve both a dead worker (ack_wait) and a flaky index (seconds).
# A crawl request republished by the outbox relay within this window is stored once.
DUPLICATE_WINDOW = 600.0

# Errors that mean "NATS is not answering now": retry later.
UNAVAILABLE = (
    nats.errors.Error,
    nats.js.errors.Error,
    OSError,
    TimeoutError,
)


def stream_config() -> StreamConfig:
    return StreamConfig(
        name=STREAM,
        subjects=list(CRAWL_SUBJECTS),
        # Work queue: a message is gone once a worker acks it.
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW,
    )


def consumer_config(settings: Settings) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=CONSUMER,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait,
        max_deliver=settings.max_deliver,
        max_ack_pending=1000,
        filter_subjects=list(CRAWL_SUBJECTS),
    )


async def _report(exc: Exception) -> None:
    # The client retries by itself; a line per failed attempt is enough (no traceback, no URL).
    log.warning("NATS connection problem: %s", type(exc).__name__)


async def connect(url: str, name: str, *, retry_for: float | None = None) -> Client:
    """Connect, retrying while the server is not up yet (for at most `retry_for` seconds)."""
    try:
        async with asyncio.timeout(retry_for):
            return await nats.connect(
                url,
                name=name,
                max_reconnect_attempts=-1,  # also keeps retrying the first connection
                reconnect_time_wait=1,
                connect_timeout=5,
                error_cb=_report,
            )
    except TimeoutError as exc:
        raise TransientError("NATS is unreachable") from exc


async def ensure_stream(js: JetStreamContext, settings: Settings) -> None:
    """Create or update the stream and the durable consumer to the configuration here."""
    try:
        await js.add_stream(stream_config())
    except nats.js.errors.BadRequestError:
        await js.update_stream(stream_config())
    await js.add_consumer(STREAM, consumer_config(settings))


class JetStreamPublisher:
    """Publishes with a deduplication id, so a retried publish is stored once."""

    def __init__(self, js: JetStreamContext, timeout: float = 5.0) -> None:
        self._js = js
        self._timeout = timeout

    async def publish(self, subject: str, data: bytes, message_id: str) -> None:
        try:
            await self._js.publish(
                subject, data, timeout=self._timeout, headers={"Nats-Msg-Id": message_id}
            )
        except UNAVAILABLE as exc:
            raise TransientError("NATS did not accept the message") from exc
