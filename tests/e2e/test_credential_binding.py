"""The stored password goes only where its owner sent it: not to a server an editor names later,
nor to one written into the store underneath it. A fake PostgreSQL server that asks for the
password in clear text records what each client would give away."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
import pytest

from catalog.embedded import free_port
from tests.e2e.conftest import AUTH

SSL_REQUEST = 80877103
CLEARTEXT_PASSWORD = struct.pack("!cII", b"R", 8, 3)
REFUSED = b"E" + struct.pack("!I", 4 + 24) + b"SFATAL\0C28P01\0Mrefused\0\0"


@dataclass
class Recorder:
    """Answers like a PostgreSQL server that wants the password in clear; keeps what it got."""

    port: int
    connections: int = 0
    received: list[bytes] = field(default_factory=list)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                length, code = struct.unpack("!II", await reader.readexactly(8))
                if code != SSL_REQUEST:
                    self.received.append(await reader.readexactly(length - 8))  # startup
                    break
                writer.write(b"N")  # no TLS here; the client goes on in clear
            writer.write(CLEARTEXT_PASSWORD)
            await writer.drain()
            kind, length = struct.unpack("!cI", await reader.readexactly(5))
            self.received.append(kind + await reader.readexactly(length - 4))
            writer.write(REFUSED)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    found = Recorder(free_port())
    server = await asyncio.start_server(found.serve, "127.0.0.1", found.port)
    yield found
    server.close()
    await server.wait_closed()


async def connection_test(system, database_id: str) -> dict:
    response = await system.client.post(f"/v1/databases/{database_id}/test", headers=AUTH)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_an_editor_cannot_send_the_stored_password_to_a_server_of_their_own(
    system, target, recorder
):
    response = await system.client.post("/v1/databases", json=target.registration(), headers=AUTH)
    assert response.status == 201, await response.text()
    database_id = (await response.json())["id"]
    redirect = {"host": "127.0.0.1", "port": recorder.port, "sslmode": "disable"}

    response = await system.client.patch(
        f"/v1/databases/{database_id}", json=redirect, headers=AUTH
    )
    assert response.status == 422
    assert (await connection_test(system, database_id))["ok"] is True  # still the real one
    assert recorder.connections == 0

    # With a password of their own, the editor's server gets that one, and only that one.
    response = await system.client.patch(
        f"/v1/databases/{database_id}",
        json={**redirect, "password": "the-editors-own-password"},
        headers=AUTH,
    )
    assert response.status == 200, await response.text()
    report = await connection_test(system, database_id)
    assert report["ok"] is False
    assert report["error"]["error_class"] == "auth_failed"
    received = b"".join(recorder.received)
    assert b"the-editors-own-password" in received
    assert target.password.encode() not in received


async def test_a_target_changed_in_the_store_gets_no_password(system, target, recorder):
    """Someone who can write the store's rows, but has no key, points a database elsewhere:
    its password no longer opens, and nothing connects anywhere."""
    response = await system.client.post("/v1/databases", json=target.registration(), headers=AUTH)
    database_id = (await response.json())["id"]
    store = await asyncpg.connect(system.services.settings.database_url)
    try:
        await store.execute(
            "UPDATE databases SET port = $2, sslmode = 'disable' WHERE id = $1",
            database_id,
            recorder.port,
        )
    finally:
        await store.close()

    report = await connection_test(system, database_id)
    assert report["ok"] is False
    assert report["error"]["error_class"] == "credential"
    assert target.password not in str(report)
    assert recorder.connections == 0
