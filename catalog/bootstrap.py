"""The composition root: opens every engine in order, and closes them in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from catalog.adapters.pg_store import PgStore
from catalog.cipher import SecretCipher, generate_key
from catalog.embedded import embedded_nats, embedded_postgres
from catalog.errors import PermanentError, TransientError
from catalog.models import DEFAULT_TENANT
from catalog.principal import Role
from catalog.search import SearchIndex
from catalog.settings import Settings
from catalog.store import Store
from catalog.tokens import new_token, token_hash

log = logging.getLogger(__name__)

ADMIN_TOKEN_FILE = "admin-token"
SECRET_KEY_FILE = "secret-keys"
# 32 characters of the URL-safe alphabet carry 192 bits when random; fewer cannot hold 128.
MIN_ADMIN_TOKEN_LENGTH = 32
# Opening an index that does not answer yet is tried again after 1, 2, 4 ... up to 30 s.
_INDEX_RETRY_FIRST, _INDEX_RETRY_MAX = 1.0, 30.0


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: Store
    index: SearchIndex
    cipher: SecretCipher
    nats_url: str | None
    # Where the store is (the embedded one's socket, if embedded); it may hold a password.
    database_url: str = field(default="", repr=False)


def private_folder(path: Path) -> None:
    """Make the data folder its owner's alone (0700): it holds the index, the key file, the
    admin token and the embedded engines, whose files are created readable by all.

    Run as root, the embedded PostgreSQL (pgserver) runs as a user of its own but keeps our
    group, and must pass through the folder to its data: then the folder is 0710, its group ours.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        pgdata_owner = (path / "postgres").stat().st_uid
    except FileNotFoundError:
        pgdata_owner = os.geteuid()
    try:
        if pgdata_owner != os.geteuid():
            os.chown(path, -1, os.getegid())
            path.chmod(0o710)
        else:
            path.chmod(0o700)
    except PermissionError as exc:  # a folder someone else owns: say so, and go on
        log.warning("cannot make %s private: %s; others may read what it holds", path, exc.strerror)


def _write_private(path: Path, text: str) -> None:
    """Create a file only its owner can read, failing if it already exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")


async def secret_keys(settings: Settings, store: Store) -> tuple[str, ...]:
    """CATALOG_SECRET_KEYS, or else a key file in the data folder, created on first start.

    A missing key file is made anew only while the store holds no password: a new key would
    open none of them, and every crawl would fail.
    """
    if settings.secret_keys:
        return settings.secret_keys
    path = settings.data_dir / SECRET_KEY_FILE
    if not path.exists():
        if await store.sealed_passwords(None, 1):
            raise PermanentError(
                f"the secret key file {path} is missing, but the store holds passwords only "
                "that key opens: put the file back, or set CATALOG_SECRET_KEYS"
            )
        _write_private(path, generate_key())
        log.info("generated a secret key in %s", path)
    return tuple(k.strip() for k in path.read_text().split(",") if k.strip())


async def ensure_admin_token(settings: Settings, store: Store) -> Path | None:
    """Make sure the admin token is known to the store, and is the only bootstrap token (a
    changed CATALOG_ADMIN_TOKEN revokes the one before); returns its file, if any."""
    path = None
    if settings.admin_token:
        if len(settings.admin_token) < MIN_ADMIN_TOKEN_LENGTH:
            raise PermanentError(
                f"CATALOG_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_LENGTH} random characters"
                " (128 bits or more); unset it to have one generated into the data folder"
            )
        token = settings.admin_token
    else:
        path = settings.data_dir / ADMIN_TOKEN_FILE
        if not path.exists():
            _write_private(path, new_token())
            log.info("generated an admin token in %s", path)
        token = path.read_text().strip()
    hashed = token_hash(token)
    await store.add_token(hashed, "admin", Role.ADMIN, DEFAULT_TENANT, bootstrap=True)
    if revoked := await store.revoke_bootstrap_tokens(keep=hashed):
        log.info("revoked %s earlier admin token(s): the admin token changed", revoked)
    return path


def open_index(settings: Settings, *, writes: bool = True) -> SearchIndex:
    """The search index; `writes=False` for processes that only read it (the gateway), so that
    the embedded index's one writer stays with the indexer."""
    if settings.opensearch_url:
        from catalog.adapters.opensearch_index import OpenSearchIndex

        return OpenSearchIndex(settings.opensearch_url, settings.opensearch_index)
    from catalog.adapters.tantivy_index import TantivyIndex

    return TantivyIndex(settings.data_dir / "index", writable=writes)


async def open_index_when_ready(index: SearchIndex, stop: asyncio.Event | None) -> None:
    """Open the index, waiting through transient errors (an engine starting, or too busy to
    answer in time) with a growing delay: a process is not ready meanwhile, and says so, rather
    than exit. PermanentError if `stop` is set first."""
    delay = _INDEX_RETRY_FIRST
    while True:
        try:
            await index.open()
            return
        except TransientError as exc:
            log.warning(
                "not ready: cannot open the search index (%s); retrying in %.0f s", exc, delay
            )
        if stop is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            if stop.is_set():
                raise PermanentError("stopped before the search index could be opened")
        else:
            await asyncio.sleep(delay)
        delay = min(delay * 2, _INDEX_RETRY_MAX)


@contextlib.asynccontextmanager
async def store_url(settings: Settings) -> AsyncIterator[str]:
    """CATALOG_DATABASE_URL, or else the embedded PostgreSQL's (started, or joined if running)."""
    if settings.database_url:
        yield settings.database_url
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with embedded_postgres(settings.data_dir) as url:
        yield url


@contextlib.asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[Store]:
    """The store alone, as store_url finds it."""
    async with store_url(settings) as url:
        store = await PgStore.connect(url)
        try:
            yield store
        finally:
            await store.close()


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    with_events: bool,
    writes_index: bool = True,
    stop: asyncio.Event | None = None,
) -> AsyncIterator[Services]:
    """Open the store, the index and (if asked) the events engine; embedded ones where unset.
    The index is waited for while it answers with transient errors, until `stop`."""
    async with contextlib.AsyncExitStack() as stack:
        database_url = await stack.enter_async_context(store_url(settings))
        private_folder(settings.data_dir)  # after an embedded store made its folder in it
        store = await PgStore.connect(database_url)
        stack.push_async_callback(store.close)
        cipher = SecretCipher.from_keys(await secret_keys(settings, store))
        index = open_index(settings, writes=writes_index)
        await open_index_when_ready(index, stop)
        stack.push_async_callback(index.close)
        nats_url = settings.nats_url
        if with_events and nats_url is None:
            nats_url = await stack.enter_async_context(embedded_nats(settings.data_dir))
        await ensure_admin_token(settings, store)
        yield Services(settings, store, index, cipher, nats_url, database_url)
