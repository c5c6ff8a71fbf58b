"""TLS contexts for connections to target databases, shared by every engine's crawler."""

from __future__ import annotations

import ssl

from catalog.models import Target


class _NamedContext(ssl.SSLContext):
    """Verifies the server's certificate against `expected_name`, whatever address the socket
    went to: the crawler connects to the address the SSRF guard checked, never to a second DNS
    answer, and the certificate names the host."""

    expected_name: str

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        del server_hostname  # the address connected to; the name to verify is ours
        return super().wrap_bio(incoming, outgoing, server_side, self.expected_name, session)


def verifying_context(target: Target) -> ssl.SSLContext:
    """Checks the certificate against the target's CA bundle (or the system's CAs), and its
    name against target.host when the mode asks for it (verify-full, verify_identity)."""
    context = _NamedContext(ssl.PROTOCOL_TLS_CLIENT)
    context.expected_name = target.host
    context.check_hostname = target.sslmode.verifies_name
    if target.ca_cert is None:
        context.load_default_certs()
    else:
        context.load_verify_locations(cadata=target.ca_cert)
    return context


def encrypting_context() -> ssl.SSLContext:
    """Encrypts without verifying the server (require, required, prefer, preferred)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
