"""Use cases the gateway exposes, kept free of HTTP so they can be tested with fakes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from catalog.cipher import SecretCipher
from catalog.credentials import open_sealed, seal
from catalog.errors import NotFoundError
from catalog.ids import new_id
from catalog.models import Crawl, Database, NewDatabase
from catalog.store import Store


async def register_database(
    store: Store, cipher: SecretCipher, new: NewDatabase, max_active: int | None = None
) -> tuple[Database, Crawl]:
    """Store the database with its password sealed to it and its target, and queue its first
    crawl."""
    database = Database(
        id=new_id("db"),
        tenant_id=new.tenant_id,
        name=new.name,
        target=new.target,
        created_at=datetime.now(UTC),
        live_generation=None,
        crawl_interval=new.crawl_interval,
    )
    sealed = seal(cipher, new.password, database.id, database.target)
    crawl = await store.add_database(database, sealed, new_id("crawl"), max_active)
    return database, crawl


async def request_crawl(
    store: Store, database_id: str, max_active: int | None = None, *, full: bool = False
) -> Crawl:
    return await store.request_crawl(database_id, new_id("crawl"), max_active, full)


@dataclass(frozen=True)
class Rotation:
    resealed: int
    already_current: int
    key_id: str


async def rotate_keys(store: Store, cipher: SecretCipher, page_size: int = 200) -> Rotation:
    """Re-encrypt every stored password under the first key, online, a page at a time; passwords
    sealed to their id alone (before they were bound to their target) are re-sealed too.

    Each row is swapped only if it is unchanged since it was read, so a registration racing the
    rotation keeps its own (already current) ciphertext.
    """
    current = SecretCipher.key_id(cipher.keys[0])
    resealed = already_current = 0
    after: str | None = None
    while page := await store.sealed_passwords(after, page_size):
        for database_id, sealed in page:
            try:
                database = await store.get_database(database_id)
            except NotFoundError:
                continue  # deleted since the page was read
            password, legacy = open_sealed(cipher, sealed, database)
            if sealed.key_id == current and not legacy:
                already_current += 1
                continue
            fresh = seal(cipher, password, database_id, database.target)
            if await store.reseal_password(database_id, sealed, fresh):
                resealed += 1
            else:
                already_current += 1
        after = page[-1][0]
    return Rotation(resealed, already_current, current)
