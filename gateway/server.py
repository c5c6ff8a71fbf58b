"""Serving the gateway app until told to stop."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from catalog.bootstrap import Services
from catalog.errors import PermanentError
from gateway.app import create_app

log = logging.getLogger(__name__)


async def serve_gateway(services: Services, stop: asyncio.Event) -> None:
    settings = services.settings
    app = create_app(services)
    runner = web.AppRunner(
        app, access_log=None, shutdown_timeout=10, keepalive_timeout=settings.idle_timeout
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port, reuse_port=settings.reuse_port)
        try:
            await site.start()
        except OSError as exc:
            raise PermanentError(
                f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}"
            ) from exc
        log.info("gateway listening on http://%s:%s", settings.host, settings.port)
        await stop.wait()
    finally:
        await runner.cleanup()
