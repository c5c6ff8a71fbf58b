"""The crawler port: what the indexer (crawling) and the gateway (testing a connection) need
from a target database. One adapter per engine, in indexer/crawlers/."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from catalog.models import Table, Target


@dataclass(frozen=True)
class AccessCheck:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class AccessReport:
    """What a connection test found: the server, and each privilege the crawler needs."""

    server_version: str
    checks: tuple[AccessCheck, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


class Crawler(Protocol):
    """Reads one target database's catalog: a plan of relations, then batches of them in bulk."""

    def list_relations(self) -> AsyncIterator[int]: ...

    async def read_batch(self, refs: Sequence[int]) -> list[Table]: ...

    async def check_access(self) -> AccessReport: ...


CrawlerFactory = Callable[[Target, str], AbstractAsyncContextManager[Crawler]]
