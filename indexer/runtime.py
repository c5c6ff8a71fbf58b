"""Runs the indexer side: the outbox relay and the crawl workers, until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from catalog.bootstrap import Services
from catalog.errors import CrawlFailure, PermanentError
from catalog.models import Engine, Target
from catalog.netguard import RefusedTarget, TargetPolicy
from catalog.settings import Settings
from indexer.crawlers.postgres import PostgresCrawler
from indexer.handlers import CrawlHandlers
from indexer.jetstream import UNAVAILABLE, JetStreamPublisher, connect, ensure_stream
from indexer.ports import Crawler, CrawlerFactory
from indexer.relay import OutboxRelay
from indexer.worker import Worker

log = logging.getLogger(__name__)


def crawler_factory(settings: Settings, policy: TargetPolicy) -> CrawlerFactory:
    @contextlib.asynccontextmanager
    async def open_crawler(target: Target, password: str) -> AsyncIterator[Crawler]:
        if target.engine is not Engine.POSTGRESQL:
            raise PermanentError(f"no crawler for engine {target.engine}")
        try:
            # Checked again at crawl time: DNS may have changed since registration.
            address = await policy.checked_address(target.host, target.port)
        except RefusedTarget as exc:
            raise CrawlFailure("refused_target", str(exc)) from exc
        async with PostgresCrawler(
            target,
            password,
            connect_timeout=settings.connect_timeout,
            statement_timeout=settings.statement_timeout,
            address=address,
        ) as crawler:
            yield crawler

    return open_crawler


async def run_indexer(services: Services, stop: asyncio.Event) -> None:
    """Relay the outbox and handle crawl messages until `stop` is set, then drain NATS."""
    if services.nats_url is None:
        raise PermanentError("the indexer needs NATS: set CATALOG_NATS_URL")
    nc = await connect(services.nats_url, "catalog-indexer")
    try:
        js = nc.jetstream()
        await ensure_stream(js, services.settings)
        publisher = JetStreamPublisher(js)
        handlers = CrawlHandlers(
            services.store,
            services.index,
            services.cipher,
            crawler_factory(
                services.settings,
                TargetPolicy.from_lists(
                    services.settings.target_allow, services.settings.target_deny
                ),
            ),
            publisher,
            services.settings.batch_size,
            services.settings.stale_fail_safe,
        )
        worker = Worker(js, handlers.handle, services.store, services.settings)
        relay = OutboxRelay(services.store, publisher)
        log.info("indexer running with %s workers", services.settings.workers)
        async with asyncio.TaskGroup() as group:
            group.create_task(relay.run(stop))
            group.create_task(worker.run(stop))
    finally:
        with contextlib.suppress(*UNAVAILABLE):
            await nc.drain()
