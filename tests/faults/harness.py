"""Real processes and engines that fault tests can break and mend.

A Cluster is a PostgreSQL store, a NATS JetStream server it can stop and restart, an
OpenSearch node reached through a TCP proxy it can cut, a gateway and
any number of indexer processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from catalog.documents import NEVER_RETIRED
from catalog.embedded import embedded_nats, free_port
from tests.engines.postgres import PostgresServer
from tests.processes import process, wait_until_ready
from tests.streams import pipe

TOKEN = "cat_faults-admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SCHEMAS = ("sales", "ops", "finance", "hr")
# How long after `complete` the older generations may take to leave the index.
STALE_DELETE_SECONDS = 10


class TcpProxy:
    """Forwards 127.0.0.1:port to a target; `cut()` refuses and drops connections until
    `restore()`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def restore(self) -> None:
        await self.start()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(pipe(source, sink))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)


class Nats:
    """A JetStream server on a fixed port and store, so it can stop and come back as itself."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self._running: contextlib.AsyncExitStack | None = None

    async def start(self) -> None:
        self._running = contextlib.AsyncExitStack()
        await self._running.enter_async_context(embedded_nats(self.data_dir, self.port))

    async def stop(self) -> None:
        if self._running is not None:
            await self._running.aclose()
            self._running = None


@dataclass
class TargetDatabase:
    """A target with `tables` tables of `columns` columns each, spread over a few schemas."""

    server: PostgresServer
    dbname: str
    tables: int
    columns: int
    dropped: set[tuple[str, str]] = field(default_factory=set)

    def names(self) -> list[tuple[str, str]]:
        return [(SCHEMAS[i % len(SCHEMAS)], f"table_{i:05d}") for i in range(self.tables)]

    def expected_documents(self) -> set[tuple[str, str, str, str | None]]:
        docs: set[tuple[str, str, str, str | None]] = set()
        for schema, table in self.names():
            if (schema, table) in self.dropped:
                continue
            docs.add(("table", schema, table, None))
            docs.update(("column", schema, table, f"col_{c}") for c in range(self.columns))
        return docs

    async def execute(self, sql: str) -> None:
        await self.server.execute(self.dbname, sql)

    async def build(self) -> None:
        await self.execute("".join(f"CREATE SCHEMA {s};" for s in SCHEMAS))
        columns = ", ".join(f"col_{c} integer" for c in range(self.columns))
        statements = [f"CREATE TABLE {s}.{t} ({columns});" for s, t in self.names()]
        for start in range(0, len(statements), 500):  # batched DDL: no round trip per table
            await self.execute("".join(statements[start : start + 500]))

    async def drop(self, names: list[tuple[str, str]]) -> None:
        await self.execute("".join(f"DROP TABLE {s}.{t};" for s, t in names))
        self.dropped.update(names)

    def registration(self) -> dict[str, Any]:
        return {
            "dbname": self.dbname,
            "user": "postgres",
            "password": "fault-tests-password",
            "host": self.server.host,
            "port": self.server.port,
        }


@dataclass
class Cluster:
    tmp: Path
    store_url: str
    nats: Nats
    opensearch_url: str  # straight to the engine: what the gateway reads
    index_proxy: TcpProxy  # what the indexers write through
    index_name: str
    stack: contextlib.AsyncExitStack
    gateway_port: int = field(default_factory=free_port)
    indexers: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def env(self, **overrides: str) -> dict[str, str]:
        return {
            "CATALOG_DATA_DIR": str(self.tmp / "data"),
            "CATALOG_DATABASE_URL": self.store_url,
            "CATALOG_NATS_URL": self.nats.url,
            "CATALOG_OPENSEARCH_URL": self.opensearch_url,
            "CATALOG_OPENSEARCH_INDEX": self.index_name,
            "CATALOG_ADMIN_TOKEN": TOKEN,
            "CATALOG_TARGET_THIS_HOST": "1",  # the targets are on loopback
            "CATALOG_SECRET_KEYS": "kJ7lJc3vS0f1q0HOSzWZ1uN3m8V1mB4N0b2Zq6b6Lxs=",
            "CATALOG_PORT": str(self.gateway_port),
            "CATALOG_BATCH_SIZE": "250",
            "CATALOG_WORKERS": "2",
            "CATALOG_ACK_WAIT": "3",
            "CATALOG_RETRY_DELAY": "0.2",
            "CATALOG_RETRY_DELAY_MAX": "1",
            "CATALOG_MAX_DELIVER": "6",
            **overrides,
        }

    async def start_gateway(self, **env: str) -> asyncio.subprocess.Process:
        log = self.tmp / "gateway.log"
        proc = await self.stack.enter_async_context(
            process(sys.executable, "-m", "gateway", env=self.env(**env), log=log)
        )
        await wait_until_ready(self.base_url, proc, log)
        return proc

    async def start_indexer(self, name: str, **env: str) -> asyncio.subprocess.Process:
        """An indexer that writes to the index through the proxy (unless `env` says otherwise)."""
        index_url = f"http://127.0.0.1:{self.index_proxy.port}"
        proc = await self.stack.enter_async_context(
            process(
                sys.executable,
                "-m",
                "indexer",
                env=self.env(**{"CATALOG_OPENSEARCH_URL": index_url, **env}),
                log=self.tmp / f"indexer-{name}.log",
            )
        )
        self.indexers[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text()

    # HTTP

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession(headers=AUTH) as http,
            http.request(method, f"{self.base_url}{path}", **kwargs) as response,
        ):
            return response.status, await response.json(content_type=None)

    async def register(self, target: TargetDatabase) -> tuple[str, str]:
        status, body = await self.request("POST", "/v1/databases", json=target.registration())
        assert status == 201, body
        return body["id"], body["crawl"]["id"]

    async def status(self, database_id: str) -> dict[str, Any]:
        status, body = await self.request("GET", f"/v1/databases/{database_id}")
        assert status == 200, body
        return body

    async def wait_for(
        self, database_id: str, generation: int, states: tuple[str, ...], within: float = 90
    ) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while True:
                body = await self.status(database_id)
                crawl = body["crawl"]
                if crawl["generation"] == generation and crawl["state"] in states:
                    return body
                await asyncio.sleep(0.1)

    async def wait_for_batches(self, database_id: str, done: int, within: float = 60) -> None:
        async with asyncio.timeout(within):
            while (await self.status(database_id))["crawl"]["batches_done"] < done:
                await asyncio.sleep(0.05)

    async def search_table(self, database_id: str, name: str) -> list[str]:
        status, body = await self.request(
            "GET", "/v1/search", params={"q": name, "kind": "table", "database_id": database_id}
        )
        assert status == 200, body
        return [hit["table"] for hit in body["hits"]]

    # The index, read straight from the engine

    async def documents(
        self, database_id: str
    ) -> list[tuple[str, str, str, str | None, int, int | None]]:
        """Every document of a database in the index, whatever its generation: kind, schema,
        table, column, generation and retired (None: never)."""
        base = f"{self.opensearch_url}/{self.index_name}"
        found: list[tuple[str, str, str, str | None, int, int | None]] = []
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{base}/_refresh") as response:
                assert response.status == 200
            after: list[Any] | None = None
            while True:
                body: dict[str, Any] = {
                    "size": 5000,
                    "query": {"term": {"database_id": database_id}},
                    "sort": [{"id": "asc"}],
                    "_source": ["kind", "schema", "table", "column", "generation", "retired"],
                }
                if after is not None:
                    body["search_after"] = after
                async with http.post(f"{base}/_search", json=body) as response:
                    hits = (await response.json())["hits"]["hits"]
                if not hits:
                    return found
                found += [
                    (
                        h["_source"]["kind"],
                        h["_source"]["schema"],
                        h["_source"]["table"],
                        h["_source"]["column"],
                        h["_source"]["generation"],
                        h["_source"].get("retired"),
                    )
                    for h in hits
                ]
                after = hits[-1]["sort"]

    async def assert_index_holds_exactly(
        self,
        database_id: str,
        target: TargetDatabase,
        generation: int,
        expected: set[tuple[str, str, str, str | None]] | None = None,
    ) -> None:
        """None missing, none duplicated, none stale: the documents of the target (or
        `expected`), written by `generation` or, where an incremental crawl kept them, before.

        A crawl is `complete` once readers switch to its generation; the documents it replaced
        go just after (a delete_by_query on OpenSearch), so they are given a few seconds to.
        """
        deadline = time.monotonic() + STALE_DELETE_SECONDS
        while True:
            documents = await self.documents(database_id)
            keys = [d[:4] for d in documents]
            retired = [d for d in documents if d[5] not in (None, NEVER_RETIRED)]
            if (not retired and len(keys) == len(set(keys))) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert not retired, f"replaced documents remain: {len(retired)}"
        assert len(keys) == len(set(keys)), "duplicated documents"
        newer = Counter(d[4] for d in documents if d[4] > generation)
        assert not newer, f"documents of unpublished generations remain: {newer}"
        if expected is None:
            expected = target.expected_documents()
        assert set(keys) == expected, (
            f"missing {len(expected - set(keys))}, unexpected {len(set(keys) - expected)}"
        )


@contextlib.asynccontextmanager
async def cluster(tmp: Path, store_url: str, opensearch_url: str) -> AsyncIterator[Cluster]:
    async with contextlib.AsyncExitStack() as stack:
        nats = Nats(tmp / "nats")
        await nats.start()
        stack.push_async_callback(nats.stop)
        host, port = opensearch_url.removeprefix("http://").rsplit(":", 1)
        proxy = TcpProxy(host, int(port))
        await proxy.start()
        stack.push_async_callback(proxy.cut)
        # Processes are entered after the engines, so they stop first.
        yield Cluster(tmp, store_url, nats, opensearch_url, proxy, "catalog_faults", stack)
