"""The suite's MariaDB speaks TLS with a certificate from the test CA, and refuses plain text to a
`REQUIRE SSL` user: what tests of MySQL-client TLS modes stand on."""

from __future__ import annotations

import ssl
import uuid

import asyncmy
import pytest
from asyncmy.errors import OperationalError

from tests.engines.mariadb import MariaDbServer

ACCESS_DENIED = 1045  # ER_ACCESS_DENIED_ERROR: what a REQUIRE SSL user gets without TLS


def trusting_ca(server: MariaDbServer) -> ssl.SSLContext:
    """A context that trusts only the server's CA and checks the host name it is given."""
    assert server.ca_pem, (
        "CATALOG_TEST_MYSQL_URL names a MariaDB whose CA the suite does not know; unset it so "
        "the TLS tests run on the suite's own server"
    )
    return ssl.create_default_context(cadata=server.ca_pem)


async def ssl_cipher(connection: asyncmy.Connection) -> str:
    async with connection.cursor() as cursor:
        await cursor.execute("SHOW STATUS LIKE 'Ssl_cipher'")
        _name, value = await cursor.fetchone()
    return value


async def test_the_server_certificate_verifies_for_localhost(mariadb: MariaDbServer) -> None:
    # asyncmy checks the certificate against the host it connects to.
    connection = await asyncmy.connect(
        host="localhost", port=mariadb.port, user=mariadb.user, ssl=trusting_ca(mariadb)
    )
    try:
        assert await ssl_cipher(connection)
    finally:
        connection.close()


async def test_a_tls_only_user_is_refused_in_plain_text_and_accepted_over_tls(
    mariadb: MariaDbServer,
) -> None:
    context = trusting_ca(mariadb)
    name, password = f"tls_only_{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    mariadb.tls_only_user(name, password)
    login = {"host": "localhost", "port": mariadb.port, "user": name, "password": password}

    with pytest.raises(OperationalError) as refused:
        await asyncmy.connect(**login)
    assert refused.value.args[0] == ACCESS_DENIED

    connection = await asyncmy.connect(**login, ssl=context)
    try:
        assert await ssl_cipher(connection)
    finally:
        connection.close()
