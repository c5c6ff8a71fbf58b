"""The SSRF guard's policy: default refusals, allow and deny lists, resolution."""

from __future__ import annotations

import dataclasses

import pytest

from catalog.errors import InvalidInputError
from catalog.netguard import RefusedTarget, TargetPolicy
from catalog.settings import Settings


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


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "::1", "0.0.0.0", "localhost", "0x7f.1", "2130706433", "127.1"]
)
async def test_a_server_refuses_this_host_by_any_name(host):
    """Tenants must not reach what listens beside the catalog (its store, NATS, OpenSearch)."""
    policy = TargetPolicy.from_settings(Settings())
    with pytest.raises(RefusedTarget, match="not a permitted target"):
        await policy.checked_address(host, 5432)


async def test_catalog_up_and_an_allow_list_may_name_this_host():
    local = TargetPolicy.from_settings(Settings(target_this_host=True))
    assert await local.checked_address("127.0.0.1", 5432) == "127.0.0.1"
    listed = TargetPolicy.from_settings(Settings(target_allow=("127.0.0.1/32",)))
    assert await listed.checked_address("127.0.0.1", 5432) == "127.0.0.1"
    with pytest.raises(RefusedTarget):
        await listed.checked_address("::1", 5432)
    assert Settings.from_env({"CATALOG_TARGET_THIS_HOST": "1"}).target_this_host


async def test_the_catalogs_own_engines_are_never_a_target():
    settings = Settings(
        database_url="postgresql://catalog:pw@store.internal:5433/catalog",
        nats_url="nats://bus.internal:4222",
        opensearch_url="http://search.internal:9200",
    )
    names = {"store.internal": ["10.1.1.1"], "bus.internal": ["10.1.1.2"]}
    names |= {"search.internal": ["10.1.1.3"], "alias.internal": ["10.1.1.1"]}
    policy = dataclasses.replace(TargetPolicy.from_settings(settings), resolve=resolving(names))
    for host, port in [("10.1.1.1", 5433), ("alias.internal", 5433), ("10.1.1.2", 4222)]:
        with pytest.raises(RefusedTarget, match="one of the catalog's own engines"):
            await policy.checked_address(host, port)
    assert await policy.checked_address("10.1.1.1", 5432) == "10.1.1.1"  # another port there
    assert await policy.checked_address("10.1.1.9", 5433) == "10.1.1.9"
