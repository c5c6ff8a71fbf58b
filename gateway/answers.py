"""Answers to repeated searches and suggestions, kept per gateway process.

A search answer depends on the caller's tenant, the request's query string and the live
generations it read (the scopes), and on nothing else: so that is the key. A finished crawl
changes the scopes, and with them the key, so no answer outlives the catalog it came from.
This is what OpenSearch's request cache does per shard refresh; here it saves the engine
query, the explanations and the JSON of a search that was answered a moment ago.
"""

from __future__ import annotations

from collections.abc import Hashable

from aiohttp import web
from cachetools import TTLCache

# Belt and braces: answers also expire, whatever changed that the key does not name.
_TTL_SECONDS = 60.0


class AnswerCache:
    def __init__(self, max_bytes: int) -> None:
        self._answers: TTLCache[Hashable, bytes] | None = (
            TTLCache(maxsize=max_bytes, ttl=_TTL_SECONDS, getsizeof=len) if max_bytes else None
        )

    def lookup(
        self, request: web.Request, tenant_id: str, scopes: tuple[str, ...]
    ) -> tuple[Hashable, web.Response | None]:
        """This request's key, and the answer kept under it if there is one."""
        key = (tenant_id, request.path, tuple(sorted(request.query.items())), tuple(sorted(scopes)))
        body = None if self._answers is None else self._answers.get(key)
        return key, None if body is None else _json(body)

    def answer(self, key: Hashable, body: bytes) -> web.Response:
        """Keep `body` under `key` (unless it is larger than the whole cache); respond with it."""
        if self._answers is not None and len(body) <= self._answers.maxsize:
            self._answers[key] = body
        return _json(body)


def _json(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json")
