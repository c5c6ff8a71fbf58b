"""A database's password, sealed to where it may be sent.

The associated data of the encryption is the database's id and its whole connection identity
(engine, host, port, database, user, TLS mode and CA bundle). A ciphertext therefore opens only
for the target its owner gave with it: moved to another row, or left in a row whose host was
changed underneath it, it does not decrypt, and the password goes nowhere.

Passwords sealed before this binding existed are bound to the id alone. They still open, once:
the first use re-seals them to their target, and `catalog keys rotate` re-seals them all; rotate
and drop the old key to retire every such ciphertext, backups included.
"""

from __future__ import annotations

import hashlib

import orjson

from catalog.cipher import Sealed, SecretCipher
from catalog.errors import CredentialError, NotFoundError
from catalog.models import Database, Target
from catalog.store import Store

# Changing any of these changes where the password would be sent.
IDENTITY_FIELDS = ("engine", "host", "port", "dbname", "user", "sslmode", "ca_cert")


def binding(database_id: str, target: Target) -> str:
    """The associated data a password of this database and target is sealed with."""
    ca = None if target.ca_cert is None else hashlib.sha256(target.ca_cert.encode()).hexdigest()
    identity = [
        "catalog-password/2",
        database_id,
        str(target.engine),
        target.host,
        target.port,
        target.dbname,
        target.user,
        str(target.sslmode),
        ca,
    ]
    return orjson.dumps(identity).decode()


def seal(cipher: SecretCipher, password: str, database_id: str, target: Target) -> Sealed:
    return cipher.encrypt(password, bound_to=binding(database_id, target))


def open_sealed(cipher: SecretCipher, sealed: Sealed, database: Database) -> tuple[str, bool]:
    """The password, and whether it was sealed the old way (to the id alone) and needs
    re-sealing. Raises CredentialError when it opens for neither."""
    try:
        return cipher.decrypt(sealed, binding(database.id, database.target)), False
    except CredentialError:
        try:
            return cipher.decrypt(sealed, database.id), True
        except CredentialError:
            raise CredentialError(
                "the stored password does not open for this database and target: re-enter it"
            ) from None


async def stored_password(store: Store, cipher: SecretCipher, database: Database) -> str:
    """The database's password, for a connection to its own target; re-seals an old one."""
    sealed = await store.sealed_password(database.id)
    password, legacy = open_sealed(cipher, sealed, database)
    if legacy:
        resealed = seal(cipher, password, database.id, database.target)
        await store.reseal_password(database.id, sealed, resealed)
    return password


class KeyProbe:
    """Whether the configured keys open the stored passwords: one row per key id in use, each
    key id probed once per process (a wrong CATALOG_SECRET_KEYS fails every crawl alike)."""

    def __init__(self) -> None:
        self._opens: dict[str, bool] = {}

    async def keys_open_passwords(self, store: Store, cipher: SecretCipher) -> bool:
        for database_id, sealed in await store.sealed_password_per_key():
            if sealed.key_id not in self._opens:
                try:
                    database = await store.get_database(database_id)
                except NotFoundError:
                    continue  # deleted meanwhile: the next probe takes another row
                try:
                    open_sealed(cipher, sealed, database)
                except CredentialError:
                    self._opens[sealed.key_id] = False
                else:
                    self._opens[sealed.key_id] = True
            if not self._opens[sealed.key_id]:
                return False
        return True
