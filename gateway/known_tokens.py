"""API tokens the store recently confirmed, so a busy caller costs no store round trip per
request."""

from __future__ import annotations

from cachetools import TTLCache

from catalog.principal import Principal
from catalog.store import Store

# Known API tokens, remembered briefly so a busy caller costs no store round trip per request;
# a token's new role or tenant is therefore seen within this many seconds.
TOKEN_CACHE_SECONDS = 10.0
_TOKEN_CACHE_SIZE = 10_000


class KnownTokens:
    """Principals of API tokens the store recently confirmed, by token hash (never the token)."""

    def __init__(self, ttl: float = TOKEN_CACHE_SECONDS) -> None:
        self._known: TTLCache[bytes, Principal] = TTLCache(_TOKEN_CACHE_SIZE, ttl)

    def forget(self, subject: str) -> None:
        """Drop a revoked token at once in this process (others drop it within the TTL)."""
        for hashed, principal in list(self._known.items()):
            if principal.subject == subject:
                del self._known[hashed]

    def known(self, hashed: bytes) -> Principal | None:
        """The token's principal if this process confirmed it lately; no store query."""
        return self._known.get(hashed)

    async def principal(self, store: Store, hashed: bytes) -> Principal | None:
        found = self._known.get(hashed)
        if found is None:
            found = await store.token_principal(hashed)
            if found is not None:  # unknown tokens are asked again: they may be added
                self._known[hashed] = found
        return found
