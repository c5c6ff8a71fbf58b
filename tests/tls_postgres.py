"""A TLS-only front for the machine's PostgreSQL, with a certificate from a test CA.

PostgreSQL negotiates TLS inside its own protocol (an SSLRequest, then the handshake), so a
plain TLS proxy would not do. This one answers the SSLRequest itself, terminates TLS, and
forwards the decrypted stream to the real server; a client that does not ask for TLS gets the
error a `hostnossl ... reject` line in pg_hba.conf would give.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import struct
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from catalog.embedded import free_port
from tests.streams import pipe

SSL_REQUEST = 80877103
UNRESOLVED_NAME = "db.catalog.invalid"
GSSENC_REQUEST = 80877104


@dataclass(frozen=True)
class TlsServer:
    port: int
    ca_pem: str


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def certificates() -> tuple[str, str, str]:
    """A CA, and a server certificate it signed for localhost, UNRESOLVED_NAME and 127.0.0.1
    (PEM texts)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("catalog test CA"))
        .issuer_name(_name("catalog test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [
        x509.DNSName("localhost"),
        # A name no resolver knows: reached only through an address given beside it.
        x509.DNSName(UNRESOLVED_NAME),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    pem = serialization.Encoding.PEM
    return ca.public_bytes(pem).decode(), server.public_bytes(pem).decode(), key_pem


def _error_response(code: str, message: str) -> bytes:
    fields = (
        b"".join(
            kind + text.encode() + b"\0"
            for kind, text in ((b"S", "FATAL"), (b"C", code), (b"M", message))
        )
        + b"\0"
    )
    return b"E" + struct.pack("!I", len(fields) + 4) + fields


@asynccontextmanager
async def tls_postgres(upstream: tuple[str, int]) -> AsyncIterator[TlsServer]:
    ca_pem, cert_pem, key_pem = certificates()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as folder:
        cert, key = Path(folder) / "server.crt", Path(folder) / "server.key"
        cert.write_text(cert_pem)
        key.write_text(key_pem)
        context.load_cert_chain(cert, key)
    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                _length, code = struct.unpack("!II", await reader.readexactly(8))
                if code == GSSENC_REQUEST:
                    writer.write(b"N")  # no GSSAPI encryption here; the client asks again
                    continue
                break
            if code != SSL_REQUEST:
                writer.write(_error_response("28000", "TLS is required"))
                await writer.drain()
                writer.close()
                return
            writer.write(b"S")
            await writer.drain()
            await writer.start_tls(context)
            up_reader, up_writer = await asyncio.open_connection(*upstream)
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
            writer.close()
            return
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(pipe(source, sink))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    # 127.0.0.2 too: a loopback address the certificate does not name.
    port = free_port()
    server = await asyncio.start_server(serve, ["127.0.0.1", "127.0.0.2"], port)
    try:
        yield TlsServer(port, ca_pem)
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()
