"""`python -m gateway`: the HTTP gateway alone (the indexer runs elsewhere)."""

import asyncio

from catalog import metrics
from catalog.bootstrap import open_services
from catalog.logs import configure_logging
from catalog.settings import Settings
from catalog.signals import stop_on_signals
from catalog.supervisor import follow_supervisor
from gateway.server import serve_gateway


async def main() -> None:
    follow_supervisor()
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    metrics.serve_own(settings.metrics_host, settings.metrics_port)
    stop = stop_on_signals()
    # The gateway only reads the index: the indexer holds the embedded index's one writer.
    async with open_services(
        settings, with_events=False, writes_index=False, stop=stop
    ) as services:
        await serve_gateway(services, stop)


if __name__ == "__main__":
    asyncio.run(main())
