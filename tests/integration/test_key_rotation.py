"""`catalog keys rotate` re-encrypts stored passwords under the new first key, online."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from catalog import services
from catalog.bootstrap import SECRET_KEY_FILE, open_services
from catalog.cipher import SecretCipher, generate_key
from catalog.credentials import open_sealed
from catalog.errors import PermanentError
from catalog.settings import Settings
from tests.factories import new_database

CATALOG = str(Path(sys.executable).parent / "catalog")
TOKEN = "cat_key-rotation-admin-0123456789abcdef"


async def run_rotate(store_url: str, keys: list[str], tmp_path) -> str:
    proc = await asyncio.create_subprocess_exec(
        CATALOG,
        "keys",
        "rotate",
        env={
            **os.environ,
            "CATALOG_DATABASE_URL": store_url,
            "CATALOG_SECRET_KEYS": ",".join(keys),
            "CATALOG_DATA_DIR": str(tmp_path),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await proc.communicate()
    assert proc.returncode == 0, output.decode()
    return output.decode()


async def test_rotation_reseals_every_password_and_the_old_key_can_go(store, store_url, tmp_path):
    old, new = generate_key(), generate_key()
    passwords = {}
    for n in range(3):
        database, _ = await services.register_database(
            store, SecretCipher.from_keys([old]), new_database(password=f"pw-{n}")
        )
        passwords[database.id] = f"pw-{n}"

    output = await run_rotate(store_url, [new, old], tmp_path)
    only_new = SecretCipher.from_keys([new])
    assert f"re-encrypted 3 passwords under key {SecretCipher.key_id(only_new.keys[0])}" in output
    for database_id, password in passwords.items():
        sealed = await store.sealed_password(database_id)
        assert sealed.key_id == SecretCipher.key_id(only_new.keys[0])
        database = await store.get_database(database_id)
        assert open_sealed(only_new, sealed, database) == (password, False)
        assert password not in output

    again = await run_rotate(store_url, [new, old], tmp_path)
    assert "re-encrypted 0 passwords" in again
    assert "3 already were" in again


async def test_a_row_changed_during_rotation_is_left_to_its_writer(store):
    old, new = generate_key(), generate_key()
    database, _ = await services.register_database(
        store, SecretCipher.from_keys([old]), new_database()
    )
    stale = await store.sealed_password(database.id)
    # Someone re-registers the password under the new key while rotation holds the old row.
    rewritten = SecretCipher.from_keys([new]).encrypt("changed", database.id)
    assert await store.reseal_password(database.id, stale, rewritten)
    assert not await store.reseal_password(database.id, stale, stale)
    assert await store.sealed_password(database.id) == rewritten


async def test_a_lost_key_file_is_not_replaced_while_passwords_need_it(store_url, tmp_path):
    """A new key would open none of the stored passwords: refuse to start, saying why."""
    settings = Settings(data_dir=tmp_path / "data", database_url=store_url, admin_token=TOKEN)
    async with open_services(settings, with_events=False) as first:
        await services.register_database(first.store, first.cipher, new_database())
    key_file = settings.data_dir / SECRET_KEY_FILE
    key_file.unlink()

    with pytest.raises(PermanentError, match=r"secret key file .* is missing, but the store"):
        async with open_services(settings, with_events=False):
            pass
    assert not key_file.exists()


async def test_a_missing_key_file_is_made_while_the_store_holds_no_password(store_url, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", database_url=store_url, admin_token=TOKEN)
    async with open_services(settings, with_events=False) as opened:
        assert opened.cipher.keys
    assert (settings.data_dir / SECRET_KEY_FILE).exists()
