"""`python -m indexer`: the outbox relay and crawl workers alone (scale it out freely)."""

import asyncio

from catalog import metrics
from catalog.bootstrap import open_services
from catalog.logs import configure_logging
from catalog.settings import Settings
from catalog.signals import stop_on_signals
from catalog.supervisor import follow_supervisor
from indexer.runtime import run_indexer


async def main() -> None:
    follow_supervisor()
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    metrics.serve_own(settings.metrics_host, settings.metrics_port)
    stop = stop_on_signals()
    async with open_services(settings, with_events=True, stop=stop) as services:
        await run_indexer(services, stop)


if __name__ == "__main__":
    asyncio.run(main())
