"""The SSRF guard: which network addresses the catalog may connect to on a user's behalf.

A registered host is resolved once, every address it resolves to is checked against the policy,
and the caller connects to the address that was checked, so a DNS answer that changes between
the check and the connection (rebinding) cannot slip through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from catalog.errors import InvalidInputError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Link-local networks, home of the cloud metadata services (169.254.169.254; AWS's IPv6 one is
# fd00:ec2::254): always refused, whatever the allow list says.
ALWAYS_DENIED = ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128")


class RefusedTarget(InvalidInputError):
    """The host resolves to an address the policy does not permit, or does not resolve."""


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

    @classmethod
    def from_lists(cls, allow: Sequence[str], deny: Sequence[str]) -> TargetPolicy:
        return cls(parse_networks(allow), parse_networks([*ALWAYS_DENIED, *deny]))

    def permits(self, address: IPAddress) -> bool:
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:169.254.169.254 is 169.254.169.254
        if any(address in network for network in self.deny):
            return False
        return not self.allow or any(address in network for network in self.allow)

    async def checked_address(self, host: str, port: int) -> str:
        """Resolve `host` once and return an address to connect to, if every one is permitted."""
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            try:
                resolved = await self.resolve(host, port)
            except (OSError, UnicodeError):  # UnicodeError: an empty or over-long label
                raise RefusedTarget(f"host {host!r} does not resolve") from None
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolved]
        else:
            addresses = [literal]
        if not addresses:
            raise RefusedTarget(f"host {host!r} does not resolve")
        refused = [a for a in addresses if not self.permits(a)]
        if refused:
            raise RefusedTarget(
                f"host {host!r} resolves to {refused[0]}, which is not a permitted target"
            )
        return str(addresses[0])
