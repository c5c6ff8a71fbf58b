"""A password opens only for the database and target it was sealed with."""

from __future__ import annotations

import dataclasses

import pytest

from catalog import services
from catalog.cipher import SecretCipher, generate_key
from catalog.credentials import IDENTITY_FIELDS, binding, open_sealed, seal, stored_password
from catalog.errors import CredentialError
from catalog.models import Engine, SslMode, Target
from tests.factories import PASSWORD, new_database
from tests.fakes import InMemoryStore

CIPHER = SecretCipher.from_keys([generate_key()])
TARGET = Target(Engine.POSTGRESQL, "db.example.test", 5432, "shop", "reader")
CHANGED = {
    "engine": None,  # one engine family so far: nothing to change it to
    "host": "evil.example.test",
    "port": 6543,
    "dbname": "other",
    "user": "postgres",
    "sslmode": SslMode.DISABLE,
    "ca_cert": "-----BEGIN CERTIFICATE-----\nnot this one\n-----END CERTIFICATE-----\n",
}


@pytest.mark.parametrize("field", [f for f in IDENTITY_FIELDS if CHANGED[f] is not None])
def test_a_password_does_not_open_once_its_target_changed(field):
    sealed = seal(CIPHER, PASSWORD, "db_1", TARGET)
    moved = dataclasses.replace(TARGET, **{field: CHANGED[field]})
    assert binding("db_1", moved) != binding("db_1", TARGET)
    with pytest.raises(CredentialError):
        CIPHER.decrypt(sealed, binding("db_1", moved))
    assert CIPHER.decrypt(sealed, binding("db_1", TARGET)) == PASSWORD


def test_a_password_does_not_open_on_another_database():
    sealed = seal(CIPHER, PASSWORD, "db_1", TARGET)
    with pytest.raises(CredentialError):
        CIPHER.decrypt(sealed, binding("db_2", TARGET))


async def test_a_password_sealed_to_the_id_alone_opens_once_and_is_resealed():
    """Rows written before passwords were bound to their target keep working."""
    store = InMemoryStore()
    database, _ = await services.register_database(store, CIPHER, new_database())
    legacy = CIPHER.encrypt(PASSWORD, bound_to=database.id)
    store.passwords[database.id] = legacy

    assert open_sealed(CIPHER, legacy, database) == (PASSWORD, True)
    assert await stored_password(store, CIPHER, database) == PASSWORD
    resealed = store.passwords[database.id]
    assert resealed != legacy
    assert open_sealed(CIPHER, resealed, database) == (PASSWORD, False)


async def test_a_password_sealed_to_another_target_does_not_open_at_all():
    store = InMemoryStore()
    database, _ = await services.register_database(store, CIPHER, new_database())
    store.passwords[database.id] = seal(CIPHER, PASSWORD, database.id, TARGET)
    with pytest.raises(CredentialError, match="does not open for this database and target"):
        await stored_password(store, CIPHER, database)


async def test_key_rotation_reseals_passwords_sealed_to_the_id_alone():
    store = InMemoryStore()
    database, _ = await services.register_database(store, CIPHER, new_database())
    store.passwords[database.id] = CIPHER.encrypt(PASSWORD, bound_to=database.id)
    rotation = await services.rotate_keys(store, CIPHER)
    assert rotation.resealed == 1
    assert open_sealed(CIPHER, store.passwords[database.id], database) == (PASSWORD, False)
    again = await services.rotate_keys(store, CIPHER)
    assert (again.resealed, again.already_current) == (0, 1)
