"""NATS JetStream wiring: the connection, the crawl stream and its durable consumer, and the
stream that keeps JetStream's max-deliveries advisories for that consumer.

A message whose every delivery ended without an answer (the worker was killed each time, say)
is out of deliveries: JetStream stops delivering it and publishes an advisory, once, on a plain
subject that nobody may be listening to at that moment. The advisories stream stores each
advisory until an indexer has handled it (indexer/worker.py), so none is lost while indexers
restart.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig

from catalog.errors import TransientError
from catalog.messages import CRAWL_SUBJECTS, SCHEMA_CHANGED
from catalog.settings import Settings

log = logging.getLogger(__name__)

CONSUMER = "indexer"
ADVISORY_CONSUMER = "indexer-advisories"
# Advisories wait this long for an indexer; older ones matter no more (the sweeper has acted).
ADVISORY_MAX_AGE = 7 * 24 * 3600.0
# Schema change events are kept this long for their consumers (a limits stream: any number of
# consumers read them, none removes them).
SCHEMA_EVENTS_MAX_AGE = 30 * 24 * 3600.0
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


@dataclass(frozen=True)
class Bus:
    """One deployment's names on a NATS it may share with others: its subjects, its stream, and
    the deployment id in its deduplication ids (each store numbers its outbox from 1).

    The code speaks of subjects as `catalog.crawl.batch`; on the wire they start with `prefix`.
    """

    prefix: str = "catalog"
    deployment: str = ""

    @property
    def stream(self) -> str:
        return f"{self.prefix.upper().replace('-', '_')}_CRAWL"

    @property
    def advisory_stream(self) -> str:
        return f"{self.stream}_ADVISORIES"

    @property
    def schema_events_stream(self) -> str:
        return f"{self.prefix.upper().replace('-', '_')}_SCHEMA_CHANGES"

    @property
    def max_deliveries_subject(self) -> str:
        """Where JetStream says a message of our consumer ran out of deliveries."""
        return f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{self.stream}.{CONSUMER}"

    def subjects(self) -> list[str]:
        return [self.wire(subject) for subject in CRAWL_SUBJECTS]

    def wire(self, subject: str) -> str:
        return self.prefix + subject.removeprefix(_LOGICAL_PREFIX)

    def logical(self, wire: str) -> str:
        return _LOGICAL_PREFIX + wire.removeprefix(self.prefix)

    def dedup_id(self, message_id: str) -> str:
        return f"{self.deployment}:{message_id}" if self.deployment else message_id


_LOGICAL_PREFIX = "catalog"
# The default names: one deployment on its NATS (and the tests).
DEFAULT_BUS = Bus()
STREAM = DEFAULT_BUS.stream


def stream_config(bus: Bus) -> StreamConfig:
    return StreamConfig(
        name=bus.stream,
        subjects=bus.subjects(),
        # Work queue: a message is gone once a worker acks it.
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW,
    )


def advisory_stream_config(bus: Bus) -> StreamConfig:
    return StreamConfig(
        name=bus.advisory_stream,
        subjects=[bus.max_deliveries_subject],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        max_age=ADVISORY_MAX_AGE,
    )


def schema_events_stream_config(bus: Bus) -> StreamConfig:
    return StreamConfig(
        name=bus.schema_events_stream,
        subjects=[bus.wire(f"{SCHEMA_CHANGED}.>")],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=SCHEMA_EVENTS_MAX_AGE,
        duplicate_window=DUPLICATE_WINDOW,
    )


def advisory_consumer_config(settings: Settings) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=ADVISORY_CONSUMER,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait,
        # Handling one is a few store writes; one that keeps failing still must not vanish.
        max_deliver=-1,
    )


def consumer_config(settings: Settings, bus: Bus) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=CONSUMER,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait,
        max_deliver=settings.max_deliver,
        max_ack_pending=1000,
        filter_subjects=bus.subjects(),
    )


async def _report(exc: Exception) -> None:
    # The client retries by itself; a line per failed attempt is enough (no traceback, no URL).
    log.warning("NATS connection problem: %s", type(exc).__name__)


async def connect(
    url: str,
    name: str,
    *,
    retry_for: float | None = None,
    creds: str | None = None,
    ca: str | None = None,
) -> Client:
    """Connect, retrying while the server is not up yet (for at most `retry_for` seconds).

    Credentials in the URL (user and password, or a token) are nats-py's to send; `creds` is a
    .creds file (JWT and NKey seed); `ca` a CA bundle that verifies a tls:// server.
    """
    tls = ssl.create_default_context(cafile=ca) if ca else None
    try:
        async with asyncio.timeout(retry_for):
            return await nats.connect(
                url,
                name=name,
                max_reconnect_attempts=-1,  # also keeps retrying the first connection
                reconnect_time_wait=1,
                connect_timeout=5,
                error_cb=_report,
                user_credentials=creds,
                tls=tls,
            )
    except TimeoutError as exc:
        raise TransientError("NATS is unreachable") from exc


async def ensure_stream(js: JetStreamContext, settings: Settings, bus: Bus = DEFAULT_BUS) -> None:
    """Create or update the streams and their durable consumers to the configuration here."""
    configs = (stream_config(bus), advisory_stream_config(bus), schema_events_stream_config(bus))
    for config in configs:
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError:
            await js.update_stream(config)
    await js.add_consumer(bus.stream, consumer_config(settings, bus))
    await js.add_consumer(bus.advisory_stream, advisory_consumer_config(settings))


class JetStreamPublisher:
    """Publishes with a deduplication id, so a retried publish is stored once."""

    def __init__(self, js: JetStreamContext, bus: Bus = DEFAULT_BUS, timeout: float = 5.0) -> None:
        self._js = js
        self._bus = bus
        self._timeout = timeout

    async def publish(self, subject: str, data: bytes, message_id: str) -> None:
        headers = {"Nats-Msg-Id": self._bus.dedup_id(message_id)}
        try:
            await self._js.publish(
                self._bus.wire(subject), data, timeout=self._timeout, headers=headers
            )
        except UNAVAILABLE as exc:
            raise TransientError("NATS did not accept the message") from exc
