"""Fixtures for fault-injection tests: a cluster of real processes and a target to crawl."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.faults.harness import Cluster, TargetDatabase, cluster

MakeTarget = Callable[[int, int], Awaitable[TargetDatabase]]


@pytest.fixture
async def faults(tmp_path, store_url, opensearch_url) -> AsyncIterator[Cluster]:
    async with cluster(tmp_path, store_url, opensearch_url) as running:
        yield running


@pytest.fixture
def make_target(postgres, create_database) -> MakeTarget:
    async def make(tables: int, columns: int) -> TargetDatabase:
        dbname = await create_database("fault_target")
        target = TargetDatabase(postgres, dbname, tables, columns)
        await target.build()
        return target

    return make
