"""Samples what waits to be done for the metrics (catalog.metrics): events in the store's outbox
not yet on NATS, and crawl messages not yet delivered or not yet acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import nats.js.errors
from nats.js import JetStreamContext

from catalog.errors import TransientError
from catalog.metrics import CONSUMER_PENDING, OUTBOX_BACKLOG
from catalog.store import Store
from indexer.jetstream import CONSUMER, UNAVAILABLE, Bus

log = logging.getLogger(__name__)

SAMPLE_SECONDS = 5.0


async def sample_backlogs(
    store: Store, js: JetStreamContext, bus: Bus, stop: asyncio.Event
) -> None:
    """Set the backlog gauges now and every SAMPLE_SECONDS until `stop`; an engine that does not
    answer leaves them as they were until the next sample."""
    while not stop.is_set():
        try:
            OUTBOX_BACKLOG.set(await store.outbox_backlog())
            consumer = await js.consumer_info(bus.stream, CONSUMER)
            CONSUMER_PENDING.labels("waiting").set(consumer.num_pending or 0)
            CONSUMER_PENDING.labels("unacknowledged").set(consumer.num_ack_pending or 0)
        except (TransientError, nats.js.errors.Error, *UNAVAILABLE) as exc:
            log.debug("backlog metrics not sampled: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=SAMPLE_SECONDS)
