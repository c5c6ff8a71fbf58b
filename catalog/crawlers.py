"""The crawler registry: which adapter crawls each engine, and the one way to open a crawler,
through the SSRF guard. A new engine family is one adapter module and one line in FAMILIES."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from catalog.adapters import wire
from catalog.adapters.mysql_crawler import MYSQL
from catalog.adapters.postgres_crawler import POSTGRESQL
from catalog.crawler import Crawler, CrawlerFactory, EngineFamily
from catalog.errors import CrawlFailure, InvalidInputError, TransientError
from catalog.models import Engine, SslMode, Target
from catalog.netguard import RefusedTarget, TargetPolicy
from catalog.settings import Settings

FAMILIES: dict[Engine, EngineFamily] = {
    Engine.POSTGRESQL: POSTGRESQL,
    Engine.MYSQL: MYSQL,
}


class TargetSettingsError(InvalidInputError):
    """Settings that do not fit the target's engine (an sslmode of another engine's client)."""


def default_port(engine: Engine) -> int:
    return FAMILIES[engine].default_port


def default_sslmode(engine: Engine) -> SslMode:
    return FAMILIES[engine].tls_modes[0]


def check_target(target: Target) -> None:
    """Raises TargetSettingsError when the target's settings do not fit its engine."""
    family = FAMILIES[target.engine]
    if target.sslmode not in family.tls_modes:
        modes = ", ".join(mode.value for mode in family.tls_modes)
        raise TargetSettingsError(
            f"sslmode {target.sslmode.value!r} is not a {family.label} mode: use one of {modes}"
        )
    if not target.dbname and family.dbname_required:
        raise TargetSettingsError(f"dbname is required for a {family.label} database")


# Failures to connect that another engine answering the port would also cause.
_WRONG_ENGINE_SYMPTOMS = frozenset({"unreachable", "timeout", "tls", "error"})


def crawler_factory(settings: Settings, policy: TargetPolicy | None = None) -> CrawlerFactory:
    """Opens a crawler for a target, through the SSRF guard (the settings' policy by default)."""
    policy = policy or TargetPolicy.from_settings(settings)

    @contextlib.asynccontextmanager
    async def open_crawler(target: Target, password: str) -> AsyncIterator[Crawler]:
        family = FAMILIES[target.engine]
        try:
            # Checked again at crawl time: DNS may have changed since registration.
            address = await policy.checked_address(target.host, target.port)
        except RefusedTarget as exc:
            raise CrawlFailure("refused_target", str(exc)) from exc
        crawler = family.open(
            target,
            password,
            connect_timeout=settings.connect_timeout,
            statement_timeout=settings.statement_timeout,
            address=address,
        )
        async with contextlib.AsyncExitStack() as stack:
            try:
                opened = await stack.enter_async_context(crawler)
            except (CrawlFailure, TransientError) as exc:
                if exc.error_class not in _WRONG_ENGINE_SYMPTOMS:
                    raise
                other = await _engine_answering(address, target.port, settings.connect_timeout)
                if other is None or other is family:
                    raise
                raise CrawlFailure(
                    "wrong_engine",
                    f"{target.host}:{target.port} answered as a {other.label} server, but the"
                    f" database is registered as {family.label} (engine"
                    f" {target.engine.value!r}); change its engine or port",
                ) from exc
            yield opened

    return open_crawler


async def _engine_answering(address: str, port: int, within: float) -> EngineFamily | None:
    """The family whose protocol the server at address:port speaks, if any answers in time."""
    try:
        async with asyncio.timeout(within):
            first = await wire.first_bytes(address, port)
    except TimeoutError:
        return None
    return next((f for f in FAMILIES.values() if first and f.answered(first)), None)
