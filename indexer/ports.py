"""What the crawl handlers need from the outside world, as ports with fakes in the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from catalog.models import Table, Target


class Crawler(Protocol):
    """Reads one target database's catalog: a plan of relations, then batches of them in bulk."""

    def list_relations(self) -> AsyncIterator[int]: ...

    async def read_batch(self, refs: Sequence[int]) -> list[Table]: ...


CrawlerFactory = Callable[[Target, str], AbstractAsyncContextManager[Crawler]]


class Publisher(Protocol):
    async def publish(self, subject: str, data: bytes, message_id: str) -> None: ...
