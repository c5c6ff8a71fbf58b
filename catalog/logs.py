"""Logging, configured once per entry point."""

import logging


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    # The drivers' own chatter is not ours to show at INFO.
    for noisy in ("asyncio", "pgserver", "opensearch", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
