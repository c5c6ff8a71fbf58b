"""Use cases the gateway exposes, kept free of HTTP so they can be tested with fakes."""

from __future__ import annotations

from datetime import UTC, datetime

from catalog.cipher import SecretCipher
from catalog.ids import new_id
from catalog.models import Crawl, Database, NewDatabase
from catalog.store import Store


async def register_database(
    store: Store, cipher: SecretCipher, new: NewDatabase
) -> tuple[Database, Crawl]:
    """Store the database with its password sealed to its id, and queue its first crawl."""
    database = Database(
        id=new_id("db"),
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
