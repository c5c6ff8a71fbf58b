"""Use cases the gateway exposes, kept free of HTTP so they can be tested with fakes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from catalog.cipher import SecretCipher
from catalog.errors import RateLimitedError
from catalog.ids import new_id
from catalog.models import Crawl, Database, NewDatabase
from catalog.store import Store


async def register_database(
    store: Store, cipher: SecretCipher, new: NewDatabase
) -> tuple[Database, Crawl]:
    """Store the database with its password sealed to its id, and queue its first crawl."""
    database = Database(
        id=new_id("db"),
        tenant_id=new.tenant_id,
        name=new.name,
        target=new.target,
        created_at=datetime.now(UTC),
        live_generation=None,
    )
    sealed = cipher.encrypt(new.password, bound_to=database.id)
    crawl = await store.add_database(database, sealed, crawl_id=new_id("crawl"))
    return database, crawl


async def request_crawl(store: Store, database_id: str) -> Crawl:
    return await store.request_crawl(database_id, crawl_id=new_id("crawl"))


async def ensure_crawl_capacity(store: Store, tenant_id: str, limit: int) -> None:
    """Refuse a new crawl while the tenant already has `limit` queued or running."""
    if await store.active_crawls(tenant_id) >= limit:
        raise RateLimitedError(
            f"{limit} crawls are already queued or running for this tenant; retry when one ends",
            retry_after=30,
        )


@dataclass(frozen=True)
class Rotation:
    resealed: int
    already_current: int
    key_id: str


async def rotate_keys(store: Store, cipher: SecretCipher, page_size: int = 200) -> Rotation:
    """Re-encrypt every stored password under the first key, online, a page at a time.

    Each row is swapped only if it is unchanged since it was read, so a registration racing the
    rotation keeps its own (already current) ciphertext.
    """
    current = SecretCipher.key_id(cipher.keys[0])
    resealed = already_current = 0
    after: str | None = None
    while page := await store.sealed_passwords(after, page_size):
        for database_id, sealed in page:
            if sealed.key_id == current:
                already_current += 1
                continue
            fresh = cipher.encrypt(cipher.decrypt(sealed, database_id), database_id)
            if await store.reseal_password(database_id, sealed, fresh):
                resealed += 1
            else:
                already_current += 1
        after = page[-1][0]
    return Rotation(resealed, already_current, current)
