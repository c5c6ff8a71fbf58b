"""Running the shipped entry points as real processes in tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

STOP_GRACE_SECONDS = 30


@contextlib.asynccontextmanager
async def process(
    *argv: str, env: dict[str, str], log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run a process, and on exit send SIGTERM and require a clean exit within its grace period."""
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *argv, env={**os.environ, **env}, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(STOP_GRACE_SECONDS):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
                pytest.fail(f"{argv[0]} did not stop on SIGTERM:\n{log.read_text()}")


async def wait_until_ready(base: str, proc: asyncio.subprocess.Process, log: Path) -> None:
    async with aiohttp.ClientSession() as http, asyncio.timeout(60):
        while True:
            assert proc.returncode is None, log.read_text()
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{base}/readyz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.2)
