"""`catalog up`'s watch over the engines it started: one that stops answering stops everything
with one clear line, instead of leaving the gateway and the indexer up and headless."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import urlsplit

from catalog.errors import PermanentError, TransientError

PROBE_SECONDS = 2.0
# Consecutive failed probes before giving up: a busy engine may miss one.
MISSES = 3

Probe = Callable[[], Awaitable[None]]


def tcp_probe(url: str) -> Probe:
    """A probe that opens (and closes) a TCP connection to the URL's host and port."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 0

    async def probe() -> None:
        _, writer = await asyncio.open_connection(host, port)
        writer.close()
        await writer.wait_closed()

    return probe


async def watch_engines(probes: Mapping[str, Probe], stop: asyncio.Event) -> None:
    """Probe each engine every PROBE_SECONDS until `stop` is set; raise PermanentError for one
    that failed MISSES probes in a row."""
    misses = dict.fromkeys(probes, 0)
    while not stop.is_set():
        for name, probe in probes.items():
            try:
                async with asyncio.timeout(PROBE_SECONDS * 2):
                    await probe()
            except (TransientError, OSError, TimeoutError):
                misses[name] += 1
                if misses[name] >= MISSES:
                    raise PermanentError(
                        f"the embedded {name} stopped answering; stopping everything"
                    ) from None
            else:
                misses[name] = 0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=PROBE_SECONDS)
