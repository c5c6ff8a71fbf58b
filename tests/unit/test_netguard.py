"""The SSRF guard's policy: default refusals, allow and deny lists, resolution."""

from __future__ import annotations

import dataclasses

import pytest

from catalog.errors import InvalidInputError
from catalog.netguard import RefusedTarget, TargetPolicy


def resolving(table: dict[str, list[str]]):
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]

    return resolve


@pytest.mark.parametrize(
    "host", ["169.254.169.254", "169.254.0.1", "fe80::1", "[fe80::1]", "::ffff:169.254.169.254"]
)
async def test_link_local_and_metadata_addresses_are_always_refused(host):
    policy = TargetPolicy.from_lists(allow=["0.0.0.0/0", "::/0"], deny=[])
    with pytest.raises(RefusedTarget, match="not a permitted target"):
        await policy.checked_address(host, 5432)


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.5", "192.168.1.10", "::1"])
async def test_other_addresses_are_permitted_by_default(host):
    policy = TargetPolicy.from_lists((), ())
    assert await policy.checked_address(host, 5432) == host.strip("[]")


async def test_deny_and_allow_lists():
    deny = TargetPolicy.from_lists(allow=(), deny=["10.0.0.0/8"])
    with pytest.raises(RefusedTarget):
        await deny.checked_address("10.1.2.3", 5432)
    assert await deny.checked_address("192.168.0.9", 5432) == "192.168.0.9"
    allow = TargetPolicy.from_lists(allow=["192.168.0.0/16"], deny=())
    assert await allow.checked_address("192.168.7.7", 5432) == "192.168.7.7"
    with pytest.raises(RefusedTarget):
        await allow.checked_address("127.0.0.1", 5432)


async def test_a_name_is_refused_if_any_of_its_addresses_is():
    policy = dataclasses.replace(
        TargetPolicy.from_lists((), ()),
        resolve=resolving(
            {"db.example.test": ["10.0.0.7", "169.254.169.254"], "ok.test": ["10.0.0.8"]}
        ),
    )
    with pytest.raises(RefusedTarget, match=r"169\.254\.169\.254"):
        await policy.checked_address("db.example.test", 5432)
    assert await policy.checked_address("ok.test", 5432) == "10.0.0.8"
    with pytest.raises(RefusedTarget, match="does not resolve"):
        await policy.checked_address("nowhere.test", 5432)


def test_malformed_networks_are_invalid_input():
    with pytest.raises(InvalidInputError, match="CIDR"):
        TargetPolicy.from_lists(allow=["not-a-network"], deny=())


@pytest.mark.parametrize("host", [".iESiszYAG72gj6b", "0" * 254, "a" * 64 + ".test", "a..b"])
async def test_a_name_that_cannot_be_a_host_is_refused_not_a_crash(host):
    """The resolver raises UnicodeError for an empty or over-long label: a 422, not a 500."""
    with pytest.raises(RefusedTarget, match="does not resolve"):
        await TargetPolicy.from_lists((), ()).checked_address(host, 5432)
