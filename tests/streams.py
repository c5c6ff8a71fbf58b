"""Byte pipes for the test proxies (the cuttable TCP proxy and the TLS front)."""

from __future__ import annotations

import asyncio


async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until either side goes away or the pipe is cancelled, then close the sink."""
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except (OSError, asyncio.CancelledError):  # ssl.SSLError is an OSError too
        pass
    finally:
        sink.close()
