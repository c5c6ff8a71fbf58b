"""What the indexer needs from the outside world besides the crawler (catalog/crawler.py)."""

from __future__ import annotations

from typing import Protocol


class Publisher(Protocol):
    async def publish(self, subject: str, data: bytes, message_id: str) -> None: ...
