"""Fair shares of an indexer process's workers between tenants.

A process runs twice as many pull loops as `CATALOG_WORKERS`, and lets each tenant hold at most
`CATALOG_WORKERS` of them. So one tenant alone gets every worker it had before, and when its
messages hang (targets that never answer, a slow index), the other loops still take other
tenants' work. A message whose tenant has its share busy waits a moment for a turn, then goes
to the back of the queue (indexer/worker.py), so other tenants' messages behind it come first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

from catalog.errors import NotFoundError, TransientError
from catalog.store import Store

# Database ids whose tenant is remembered (a database never changes tenant).
_KNOWN_DATABASES = 10_000


class TenantShares:
    def __init__(self, store: Store, per_tenant: int, hold: float = 0.5) -> None:
        self._store = store
        self._per_tenant = per_tenant
        self._hold = hold
        self._busy: Counter[str] = Counter()
        self._changed = asyncio.Condition()
        self._tenants: dict[str, str] = {}

    async def tenant_of(self, database_id: str) -> str | None:
        """The database's tenant; None if it is unknown (the handler says what that means)."""
        if database_id not in self._tenants:
            try:
                database = await self._store.get_database(database_id)
            except (NotFoundError, TransientError):
                return None
            if len(self._tenants) >= _KNOWN_DATABASES:
                self._tenants.clear()
            self._tenants[database_id] = database.tenant_id
        return self._tenants[database_id]

    async def take(self, tenant: str | None) -> bool:
        """Take one of the tenant's turns, waiting `hold` seconds at most; False if none came."""
        if tenant is None:
            return True
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._hold):
                    await self._changed.wait_for(lambda: self._busy[tenant] < self._per_tenant)
            if self._busy[tenant] >= self._per_tenant:
                return False
            self._busy[tenant] += 1
            return True

    async def give_back(self, tenant: str | None) -> None:
        if tenant is None:
            return
        async with self._changed:
            self._busy[tenant] -= 1
            if not self._busy[tenant]:
                del self._busy[tenant]
            self._changed.notify_all()

    def busy(self) -> dict[str, int]:
        """Turns taken, by tenant (for tests and logs)."""
        return dict(self._busy)
