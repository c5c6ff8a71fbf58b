"""One crawler per target engine; each yields domain models, never driver rows."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from catalog.crawler import Crawler, CrawlerFactory
from catalog.errors import CrawlFailure, PermanentError
from catalog.models import Engine, Target
from catalog.netguard import RefusedTarget, TargetPolicy
from catalog.settings import Settings
from indexer.crawlers.postgres import PostgresCrawler


def crawler_factory(settings: Settings, policy: TargetPolicy | None = None) -> CrawlerFactory:
    """Opens a crawler for a target, through the SSRF guard (the settings' policy by default)."""
    policy = policy or TargetPolicy.from_settings(settings)

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
