"""Which protocol a server speaks, asked on a connection of its own: tells a crawl that reached
the wrong engine from one that reached nothing.

The probe sends PostgreSQL's SSLRequest, which PostgreSQL answers with one byte; servers that
speak first (MySQL and MariaDB greet every connection) have sent their greeting before reading
it. The first bytes that come back go to each family's `answered` check. It runs only after a
connection failed, so a healthy crawl never opens a second connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct

# PostgreSQL's SSLRequest: length 8, then the request code 1234.5679.
_HELLO = struct.pack("!ii", 8, 80877103)
_FIRST_BYTES = 128


async def first_bytes(host: str, port: int) -> bytes:
    """What a server sends first, answering the hello; b"" if the connection fails. The caller
    bounds the wait (asyncio.timeout)."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        return b""
    try:
        writer.write(_HELLO)
        await writer.drain()
        return await reader.read(_FIRST_BYTES)
    except OSError:
        return b""
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
