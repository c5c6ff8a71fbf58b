"""The SSRF guard: which network addresses the catalog may connect to on a user's behalf.

A registered host is resolved once, every address it resolves to is checked against the policy,
and the caller connects to the address that was checked, so a DNS answer that changes between
the check and the connection (rebinding) cannot slip through.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from catalog.errors import InvalidInputError
from catalog.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Link-local networks, home of the cloud metadata services (169.254.169.254; AWS's IPv6 one is
# fd00:ec2::254): always refused, whatever the allow list says.
ALWAYS_DENIED = ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128")
# This host by any address: loopback, and the unspecified addresses (a connection to 0.0.0.0
# reaches this host too). Refused unless the policy allows this host (`catalog up`, where local
# use is the point) or the allow list names them.
THIS_HOST = ("127.0.0.0/8", "::1/128", "0.0.0.0/32", "::/128")


class RefusedTarget(InvalidInputError):
    """The host resolves to an address the policy does not permit, or does not resolve."""


_THIS_HOST = tuple(ipaddress.ip_network(n) for n in THIS_HOST)


def parse_networks(values: Sequence[str]) -> tuple[IPNetwork, ...]:
    try:
        return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())
    except ValueError as exc:
        raise InvalidInputError(f"not a network in CIDR notation: {exc}") from None


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class TargetPolicy:
    allow: tuple[IPNetwork, ...] = ()  # empty: any address not denied
    deny: tuple[IPNetwork, ...] = ()
    resolve: Resolver = system_resolver
    this_host: bool = True  # whether targets may be this host (see THIS_HOST)
    # The catalog's own engines (store, NATS, OpenSearch) as (host, port): never a target.
    own: tuple[tuple[str, int], ...] = ()

    @classmethod
    def from_lists(
        cls,
        allow: Sequence[str],
        deny: Sequence[str],
        *,
        this_host: bool = True,
        own: Sequence[tuple[str, int]] = (),
    ) -> TargetPolicy:
        return cls(
            parse_networks(allow),
            parse_networks([*ALWAYS_DENIED, *deny]),
            this_host=this_host,
            own=tuple(own),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> TargetPolicy:
        """A server refuses this host and the catalog's own engines; `catalog up`, whose point
        is local use, allows both (its store, NATS and index are on this host anyway)."""
        own = [
            (parts.hostname, parts.port or default_port)
            for url, default_port in (
                (settings.database_url, 5432),
                (settings.nats_url, 4222),
                (settings.opensearch_url, 9200),
            )
            if url and (parts := urlsplit(url)).hostname and not settings.target_this_host
        ]
        return cls.from_lists(
            settings.target_allow,
            settings.target_deny,
            this_host=settings.target_this_host,
            own=own,
        )

    def permits(self, address: IPAddress) -> bool:
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:169.254.169.254 is 169.254.169.254
        if any(address in network for network in self.deny):
            return False
        allowed = any(address in network for network in self.allow)
        if not self.this_host and not allowed and any(address in n for n in _THIS_HOST):
            return False
        return allowed or not self.allow

    async def _addresses(self, host: str, port: int) -> list[IPAddress]:
        """Every address `host` stands for (itself, if it is one); raises OSError or UnicodeError
        (an empty or over-long label) when it does not resolve."""
        try:
            return [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            resolved = await self.resolve(host, port)
        return [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolved]

    async def _own_addresses(self, port: int) -> set[IPAddress]:
        """The addresses of the catalog's own engines that listen on `port`."""
        found: set[IPAddress] = set()
        for host, own_port in self.own:
            if own_port == port:
                # An engine that does not resolve cannot be reached through it either.
                with contextlib.suppress(OSError, UnicodeError):
                    found.update(await self._addresses(host, port))
        return found

    async def checked_address(self, host: str, port: int) -> str:
        """Resolve `host` once and return an address to connect to, if every one is permitted."""
        try:
            addresses = await self._addresses(host, port)
        except (OSError, UnicodeError):
            raise RefusedTarget(f"host {host!r} does not resolve") from None
        if not addresses:
            raise RefusedTarget(f"host {host!r} does not resolve")
        refused = [a for a in addresses if not self.permits(a)]
        if refused:
            raise RefusedTarget(
                f"host {host!r} resolves to {refused[0]}, which is not a permitted target"
            )
        if self.own and set(addresses) & await self._own_addresses(port):
            raise RefusedTarget(f"{host}:{port} is one of the catalog's own engines")
        return str(addresses[0])
