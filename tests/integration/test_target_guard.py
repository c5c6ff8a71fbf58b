"""The indexer checks the target again at crawl time and connects to the address it checked."""

from __future__ import annotations

import dataclasses

import pytest

from catalog.crawlers import crawler_factory
from catalog.errors import CrawlFailure
from catalog.models import Engine, Target
from catalog.netguard import TargetPolicy
from catalog.settings import Settings
from tests.engines.postgres import PostgresServer

HOST = "pg.internal.test"


@pytest.fixture
def target(postgres: PostgresServer) -> Target:
    return Target(Engine.POSTGRESQL, HOST, postgres.port, "postgres", "postgres")


def policy_resolving_to(*addresses: str) -> TargetPolicy:
    async def resolve(host: str, port: int) -> list[str]:
        assert host == HOST
        return list(addresses)

    return dataclasses.replace(TargetPolicy.from_lists((), ()), resolve=resolve)


async def test_the_crawler_connects_to_the_checked_address(target):
    open_crawler = crawler_factory(Settings(), policy_resolving_to("127.0.0.1"))
    # "pg.internal.test" exists nowhere but in the resolver: connecting proves the checked
    # address was used, not a second DNS lookup.
    async with open_crawler(target, "any") as crawler:
        relations = [r.ref async for r in crawler.list_relations()]
    assert isinstance(relations, list)


async def test_a_name_rebound_to_a_refused_address_fails_the_crawl(target):
    open_crawler = crawler_factory(Settings(), policy_resolving_to("169.254.169.254"))
    with pytest.raises(CrawlFailure) as caught:
        async with open_crawler(target, "any"):
            pass
    assert caught.value.error_class == "refused_target"
    assert "not a permitted target" in str(caught.value)


async def test_a_connection_test_reports_what_the_crawler_can_do(target):
    open_crawler = crawler_factory(Settings(), policy_resolving_to("127.0.0.1"))
    async with open_crawler(target, "any") as crawler:
        report = await crawler.check_access()
    assert report.ok
    assert report.server_version.split(".")[0].isdigit()
    checks = {check.name: check for check in report.checks}
    assert set(checks) == {"connect", "read_only_session", "catalog_visible", "schema_usage"}
    assert checks["read_only_session"].ok
    assert "relations visible" in checks["catalog_visible"].detail
