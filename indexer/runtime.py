"""Runs the indexer side: the outbox relay, the crawl workers and the index watch, until told to
stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from catalog.bootstrap import Services
from catalog.crawlers import crawler_factory
from catalog.errors import PermanentError
from indexer.backlog_metrics import sample_backlogs
from indexer.handlers import CrawlHandlers
from indexer.index_watch import IndexWatch
from indexer.jetstream import UNAVAILABLE, Bus, JetStreamPublisher, connect, ensure_stream
from indexer.relay import OutboxRelay
from indexer.worker import Worker

log = logging.getLogger(__name__)


async def run_indexer(services: Services, stop: asyncio.Event) -> None:
    """Relay the outbox and handle crawl messages until `stop` is set, then drain NATS."""
    if services.nats_url is None:
        raise PermanentError("the indexer needs NATS: set CATALOG_NATS_URL")
    settings = services.settings
    nc = await connect(
        services.nats_url, "catalog-indexer", creds=settings.nats_creds, ca=settings.nats_ca
    )
    try:
        js = nc.jetstream()
        bus = Bus(services.settings.nats_prefix, await services.store.deployment_id())
        await ensure_stream(js, services.settings, bus)
        publisher = JetStreamPublisher(js, bus)
        handlers = CrawlHandlers(
            services.store,
            services.index,
            services.cipher,
            crawler_factory(services.settings),
            publisher,
            services.settings.batch_size,
            services.settings.stale_fail_safe,
            full_crawl_after=timedelta(days=services.settings.full_crawl_days),
        )
        worker = Worker(js, handlers.handle, services.store, services.settings, bus)
        relay = OutboxRelay(services.store, publisher)
        log.info("indexer running with %s workers", services.settings.workers)
        async with asyncio.TaskGroup() as group:
            group.create_task(relay.run(stop))
            group.create_task(worker.run(stop))
            group.create_task(IndexWatch(services.store, services.index, settings).run(stop))
            group.create_task(sample_backlogs(services.store, js, bus, stop))
    finally:
        with contextlib.suppress(*UNAVAILABLE):
            await nc.drain()
