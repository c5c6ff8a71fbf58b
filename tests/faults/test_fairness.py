"""Scenario 17: one tenant's hanging targets do not hold up another tenant's crawl."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import datetime

from tests.faults.harness import Cluster, TargetDatabase


class HangingServer:
    """Accepts connections and never answers a byte: a target that hangs every crawl step."""

    def __init__(self) -> None:
        self.accepted = 0
        self.port = 0
        self._open: set[asyncio.StreamWriter] = set()

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._open.add(writer)
        with contextlib.suppress(ConnectionError):
            await reader.read()  # until the client gives up
        self._open.discard(writer)
        writer.close()


@contextlib.asynccontextmanager
async def hanging_server() -> AsyncIterator[HangingServer]:
    hanging = HangingServer()
    server = await asyncio.start_server(hanging._hold, "127.0.0.1", 0)
    hanging.port = server.sockets[0].getsockname()[1]
    try:
        yield hanging
    finally:
        server.close()
        for writer in list(hanging._open):
            writer.close()


async def tenant_editor(faults: Cluster, name: str) -> dict[str, str]:
    status, tenant = await faults.request("POST", "/v1/tenants", json={"name": name})
    assert status == 201, tenant
    body = {"name": f"{name}-editor", "role": "editor", "tenant_id": tenant["id"]}
    status, token = await faults.request("POST", "/v1/tokens", json=body)
    assert status == 201, token
    return {"Authorization": f"Bearer {token['token']}"}


async def test_ten_hanging_targets_of_one_tenant_leave_another_tenants_crawl_a_worker(
    faults: Cluster, make_target
):
    """Ten hanging targets of tenant B delayed tenant A's 50 ms crawl by 5 min 28 s."""
    target: TargetDatabase = await make_target(20, 2)
    await faults.start_gateway()
    b_editor = await tenant_editor(faults, "b")
    async with hanging_server() as hanging:
        registration = {**target.registration(), "port": hanging.port, "sslmode": "disable"}
        for n in range(10):
            status, body = await faults.request(
                "POST", "/v1/databases", json={**registration, "name": f"b{n}"}, headers=b_editor
            )
            assert status == 201, body
        await faults.start_indexer("shared")  # two workers, as by default
        async with asyncio.timeout(30):  # B's crawls are taken first, and hang
            while hanging.accepted < 2:
                await asyncio.sleep(0.05)

        database_id, _ = await faults.register(target)  # tenant A: the admin's
        registered = time.monotonic()
        async with asyncio.timeout(30):
            while (crawl := (await faults.status(database_id))["crawl"])["started_at"] is None:
                await asyncio.sleep(0.05)
        waited = time.monotonic() - registered
        assert waited < 5, f"A's crawl started {waited:.1f} s after it was asked for"
        started = datetime.fromisoformat(crawl["started_at"])
        assert started >= datetime.fromisoformat(crawl["requested_at"])
        done = await faults.wait_for(database_id, 1, ("complete", "failed"), within=30)
        assert done["crawl"]["state"] == "complete", done
    await faults.assert_index_holds_exactly(database_id, target, generation=1)
