"""TLS to targets, following the PostgreSQL driver's sslmode meanings, against a TLS-only server."""

from __future__ import annotations

import pytest

from catalog.adapters.postgres_crawler import PostgresCrawler
from catalog.errors import CrawlFailure
from catalog.models import Engine, SslMode, Target
from tests.tls_postgres import UNRESOLVED_NAME, TlsServer, tls_postgres


@pytest.fixture
async def tls_server(postgres) -> TlsServer:
    async with tls_postgres((postgres.host, postgres.port)) as server:
        yield server


def crawler(server: TlsServer, host: str, mode: SslMode, ca: str | None) -> PostgresCrawler:
    target = Target(Engine.POSTGRESQL, host, server.port, "postgres", "postgres", mode, ca)
    return PostgresCrawler(
        target, "unused", connect_timeout=5, statement_timeout=10, address="127.0.0.1"
    )


async def relations(c: PostgresCrawler) -> list[int]:
    async with c:
        return [r.ref async for r in c.list_relations()]


@pytest.mark.parametrize(
    ("host", "mode", "with_ca"),
    [
        ("localhost", SslMode.VERIFY_FULL, True),
        ("127.0.0.1", SslMode.VERIFY_CA, True),
        ("localhost", SslMode.REQUIRE, False),
        ("localhost", SslMode.PREFER, False),
    ],
)
async def test_encrypted_modes_connect(tls_server, host, mode, with_ca):
    ca = tls_server.ca_pem if with_ca else None
    assert isinstance(await relations(crawler(tls_server, host, mode, ca)), list)


@pytest.mark.parametrize("mode", [SslMode.VERIFY_FULL, SslMode.VERIFY_CA])
async def test_a_certificate_from_an_unknown_ca_fails_as_tls(tls_server, mode):
    with pytest.raises(CrawlFailure) as caught:
        await relations(crawler(tls_server, "localhost", mode, None))  # system CAs only
    assert caught.value.error_class == "tls"


async def test_verify_full_checks_the_name_in_the_certificate(tls_server):
    unnamed = "127.0.0.2"  # loopback too, but the certificate does not name it
    with pytest.raises(CrawlFailure) as caught:
        await relations(crawler(tls_server, unnamed, SslMode.VERIFY_FULL, tls_server.ca_pem))
    assert caught.value.error_class == "tls"


async def test_verify_full_connects_to_the_checked_address_and_verifies_the_name(tls_server):
    """The name resolves nowhere, so only the address the guard checked (127.0.0.1) can have
    been connected to; the certificate is still verified against the name."""
    found = crawler(tls_server, UNRESOLVED_NAME, SslMode.VERIFY_FULL, tls_server.ca_pem)
    assert isinstance(await relations(found), list)
    other = "other.catalog.invalid"  # the certificate does not name it
    unnamed = crawler(tls_server, other, SslMode.VERIFY_FULL, tls_server.ca_pem)
    with pytest.raises(CrawlFailure) as caught:
        await relations(unnamed)
    assert caught.value.error_class == "tls"


async def test_disable_sends_plain_text_which_this_server_refuses(tls_server):
    with pytest.raises(CrawlFailure) as caught:
        await relations(crawler(tls_server, "localhost", SslMode.DISABLE, None))
    assert caught.value.error_class == "auth_failed"  # as pg_hba's hostnossl reject answers
