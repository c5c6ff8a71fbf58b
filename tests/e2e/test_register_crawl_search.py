"""Register → crawl through NATS → browse and search over HTTP, and never leak the password."""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import quote

import asyncpg
import nats
import pytest
import tantivy

from tests.e2e.conftest import AUTH
from tests.target_schema import RELATIONS
from tests.tls_postgres import tls_postgres

EXPECTED_TABLES = set(RELATIONS)


async def all_tables(client, database_id: str, limit: int = 4) -> list[dict]:
    tables, cursor = [], None
    while True:
        query = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = await client.get(f"/v1/databases/{database_id}/tables?{query}", headers=AUTH)
        assert response.status == 200, await response.text()
        page = await response.json()
        tables += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return tables


async def table(client, database_id: str, schema: str, name: str) -> dict:
    """GET /v1/databases/{id}/tables/{schema}/{table}, each name one percent-encoded segment."""
    path = f"/v1/databases/{database_id}/tables/{quote(schema, safe='')}/{quote(name, safe='')}"
    response = await client.get(path, headers=AUTH)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_register_crawl_browse_search_recrawl(system, target):
    client = system.client
    response = await client.post(
        "/v1/databases", json={**target.registration(), "name": "e2e"}, headers=AUTH
    )
    assert response.status == 201, await response.text()
    database_id = (await response.json())["id"]

    status = await system.wait_for_crawl(database_id, 1)
    crawl = status["crawl"]
    assert crawl["state"] == "complete", crawl
    assert crawl["tables"] == len(EXPECTED_TABLES)
    assert crawl["batches_done"] == crawl["batches_total"] == 5  # 13 tables, batches of 3
    assert crawl["columns"] > 30
    assert crawl["duration_seconds"] is not None

    tables = await all_tables(client, database_id)
    assert {(t["schema"], t["name"]) for t in tables} == EXPECTED_TABLES
    by_name = {(t["schema"], t["name"]): t for t in tables}
    assert by_name[("sales", "order_totals")]["type"] == "materialized_view"
    assert by_name[("sales", "events")]["type"] == "partitioned_table"
    assert by_name[("sales", "customer_emails")]["type"] == "view"
    assert by_name[("sales", "customers")]["comment"] == "People who buy"
    assert [c["name"] for c in by_name[("Ops Data", "my table")]["columns"]] == ["a column", "it's"]

    # One table by name, with the foreign keys that point at it.
    sizes = await table(client, database_id, "données", "größe")
    assert sizes["columns"] == by_name[("données", "größe")]["columns"]
    assert [
        (r["schema"], r["table"], r["columns"], r["ref_columns"]) for r in sizes["referenced_by"]
    ] == [("sales", "customers", ["size_id"], ["Id"])]
    customers = await table(client, database_id, "sales", "customers")
    referencing = {(r["table"], tuple(r["columns"])) for r in customers["referenced_by"]}
    assert {("orders", ("customer_id",)), ("events", ("customer_id",))} <= referencing
    orders = await table(client, database_id, "sales", "orders")
    assert [
        (r["table"], r["name"], r["columns"], r["ref_columns"]) for r in orders["referenced_by"]
    ] == [
        (
            "order_lines",
            "order_lines_order_fk",
            ["order_no", "customer_id"],
            ["order_no", "customer_id"],
        )
    ]

    seed = await (await client.get(f"/{database_id}", headers=AUTH)).json()
    assert seed["database_name"] == target.dbname
    assert {(s, t) for s, ts in seed["tables"].items() for t in ts} == EXPECTED_TABLES
    assert {"column_name": "email", "data_type": "text"} in seed["tables"]["sales"]["customers"]

    # One typo in the name still finds the table, and ranks it first.
    response = await client.get(
        f"/v1/search?q=custmers&kind=table&database_id={database_id}", headers=AUTH
    )
    hits = (await response.json())["hits"]
    assert (hits[0]["schema"], hits[0]["table"]) == ("sales", "customers"), hits
    found = await (await client.get(f"/search/{database_id}/custmers", headers=AUTH)).json()
    assert "customers" in found["tables"]["sales"]
    column_hits = (await (await client.get("/v1/search?q=emial&kind=column", headers=AUTH)).json())[
        "hits"
    ]
    assert ("customers", "email") in {(h["table"], h["column"]) for h in column_hits}, column_hits

    # A dropped table disappears once the re-crawl completes.
    await target.execute("DROP TABLE sales.order_lines")
    response = await client.post(f"/v1/databases/{database_id}/crawls", headers=AUTH)
    assert response.status == 202, await response.text()
    status = await system.wait_for_crawl(database_id, 2)
    assert status["crawl"]["state"] == "complete", status
    assert status["live_generation"] == 2, status
    tables = await all_tables(client, database_id, limit=100)
    assert {(t["schema"], t["name"]) for t in tables} == EXPECTED_TABLES - {
        ("sales", "order_lines")
    }
    hits = (
        await (
            await client.get(f"/v1/search?q=order_lines&database_id={database_id}", headers=AUTH)
        ).json()
    )["hits"]
    assert "order_lines" not in {h["table"] for h in hits}
    assert (await table(client, database_id, "sales", "orders"))["referenced_by"] == []


@pytest.mark.parametrize("batch_size", [50])
async def test_a_running_crawls_progress_rises_to_the_end_at_a_measured_pace(
    system, postgres, create_database, batch_size
):
    """GET /v1/databases/{id} while 3,000 tables are crawled in 60 batches: batches and counts
    only ever rise, to the plan's total, with a positive pace and an estimate of the time left."""
    dbname = await create_database("e2e_progress")
    # Fixed-width columns: no TOAST table each, so the DDL takes seconds, not tens of them.
    statements = [
        f"CREATE TABLE s{i % 4}.t{i:05d} (id bigint, amount numeric(12, 2), at timestamptz);"
        for i in range(3000)
    ]
    schemas = "CREATE SCHEMA s0; CREATE SCHEMA s1; CREATE SCHEMA s2; CREATE SCHEMA s3;"
    await postgres.execute(dbname, schemas)
    for start in range(0, len(statements), 500):
        await postgres.execute(dbname, "".join(statements[start : start + 500]))
    body = {
        "dbname": dbname,
        "user": "postgres",
        "password": "unused",
        "host": postgres.host,
        "port": postgres.port,
    }
    response = await system.client.post("/v1/databases", json=body, headers=AUTH)
    assert response.status == 201, await response.text()
    path = f"/v1/databases/{(await response.json())['id']}"

    seen: list[dict] = []
    async with asyncio.timeout(120):
        while not seen or seen[-1]["state"] in ("queued", "running", "finishing"):
            response = await system.client.get(path, headers=AUTH)
            assert response.status == 200, await response.text()
            seen.append((await response.json())["crawl"])
            await asyncio.sleep(0.02)

    final = seen[-1]
    assert final["state"] == "complete", final
    assert final["batches_done"] == final["batches_total"] == 3000 // batch_size
    assert (final["tables"], final["columns"]) == (3000, 9000)
    assert final["tables_per_second"] > 0
    assert final["eta_seconds"] is None
    assert final["elapsed_seconds"] == pytest.approx(final["duration_seconds"], abs=0.001)
    for key in ("batches_done", "tables", "columns"):
        values = [crawl[key] for crawl in seen]
        assert values == sorted(values), (key, values)
    # Finishing (publishing) only once every batch is done.
    finishing = [c for c in seen if c["state"] == "finishing"]
    assert all(c["batches_done"] == c["batches_total"] for c in finishing), finishing
    running = [crawl for crawl in seen if crawl["state"] == "running"]
    assert all(c["started_at"] and c["batches_total"] == 3000 // batch_size for c in running)
    midway = [c for c in running if 0 < c["batches_done"] < c["batches_total"]]
    assert len({c["batches_done"] for c in midway}) >= 3, [c["batches_done"] for c in seen]
    for crawl in midway:
        assert crawl["tables"] == batch_size * crawl["batches_done"], crawl
        assert crawl["columns"] == 3 * crawl["tables"], crawl
        assert crawl["tables_per_second"] > 0, crawl
        assert crawl["eta_seconds"] is not None, crawl
        assert crawl["eta_seconds"] >= 0, crawl
        assert crawl["finished_at"] is None, crawl


async def test_a_crawl_that_cannot_connect_fails_with_a_class_and_no_secret(system, target):
    body = {**target.registration(), "dbname": "no_such_database_here"}
    response = await system.client.post("/v1/databases", json=body, headers=AUTH)
    database_id = (await response.json())["id"]
    status = await system.wait_for_crawl(database_id, 1)
    assert status["crawl"]["state"] == "failed"
    assert status["crawl"]["error"]["error_class"] == "database_missing"
    assert target.password not in json.dumps(status)


class SecretWitness:
    """Everything a password could leak into during a test: the responses to `call`, the
    messages on catalog.>, the log records, the index's documents and the store's rows."""

    def __init__(self, system, nc) -> None:
        self.system, self.nc = system, nc
        self.bodies: list[str] = []
        self.seen_on_bus: list[bytes] = []

    @classmethod
    async def watching(cls, system, nats_url: str, caplog) -> SecretWitness:
        caplog.set_level(logging.DEBUG)
        witness = cls(system, await nats.connect(nats_url))

        async def record(msg) -> None:
            witness.seen_on_bus.append(msg.data)

        await witness.nc.subscribe("catalog.>", cb=record)
        return witness

    async def call(self, method: str, path: str, **kwargs) -> dict:
        response = await self.system.client.request(method, path, headers=AUTH, **kwargs)
        self.bodies.append(await response.text())
        return json.loads(self.bodies[-1])

    async def assert_nowhere(self, secret: str, caplog) -> list[str]:
        """Asserts `secret` is in nothing seen; the index's documents, for the caller's checks."""
        await self.nc.flush()
        await self.nc.close()
        assert self.seen_on_bus, "the bus recorder saw nothing"
        assert all(secret.encode() not in data for data in self.seen_on_bus)
        for body in self.bodies:
            assert secret not in body
        assert len(caplog.records) > 5
        for record in caplog.records:
            assert secret not in record.getMessage()
            assert secret not in (record.exc_text or "")

        documents = _every_index_document(self.system)
        assert all(secret not in doc for doc in documents)

        store = await asyncpg.connect(self.system.services.settings.database_url)
        try:
            for table in ("databases", "crawls", "outbox", "api_tokens", "crawl_batches"):
                rows = await store.fetch(f"SELECT * FROM {table}")
                assert secret not in repr([dict(r) for r in rows])
        finally:
            await store.close()
        return documents


async def test_the_password_appears_nowhere(system, target, caplog, nats_url):
    """Responses, log lines, events on the bus, index documents and store rows: no password."""
    witness = await SecretWitness.watching(system, nats_url, caplog)
    call = witness.call
    created = await call("POST", "/v1/databases", json=target.registration())
    seeded = await call("POST", "/credentials", json=target.registration())
    await system.wait_for_crawl(created["id"], 1)
    await system.wait_for_crawl(seeded["id"], 1)
    bad = await call("POST", "/v1/databases", json={**target.registration(), "port": 1})
    await system.wait_for_crawl(bad["id"], 1)  # fails as unreachable
    await call("POST", "/v1/databases", json={**target.registration(), "port": "x"})
    await call("POST", "/v1/databases", json={**target.registration(), "evil": target.password})
    await call("GET", f"/v1/databases/{created['id']}")
    await call("GET", f"/v1/databases/{bad['id']}")
    await call("GET", "/v1/databases")
    await call("GET", f"/v1/databases/{created['id']}/tables?limit=500")
    await call("GET", f"/{created['id']}")
    await call("GET", "/v1/search?q=custmers")
    await call("GET", f"/search/{created['id']}/customers")

    documents = await witness.assert_nowhere(target.password, caplog)
    assert len(documents) > 50


def _every_index_document(system) -> list[str]:
    """Reads the tantivy index directly, past the adapter, as an attacker with the files would."""
    index = tantivy.Index.open(str(system.services.settings.data_dir / "index"))
    index.reload()
    searcher = index.searcher()
    result = searcher.search(tantivy.Query.all_query(), limit=100_000)
    return [json.dumps(searcher.doc(address).to_dict(), default=str) for _, address in result.hits]


async def test_a_database_behind_verified_tls_is_crawled(system, postgres, target):
    async with tls_postgres((postgres.host, postgres.port)) as tls:
        body = {
            **target.registration(),
            "host": "localhost",
            "port": tls.port,
            "sslmode": "verify-full",
            "ca_cert": tls.ca_pem,
        }
        response = await system.client.post("/v1/databases", json=body, headers=AUTH)
        created = await response.json()
        assert response.status == 201, created
        assert created["ca_cert_configured"] is True
        status = await system.wait_for_crawl(created["id"], 1)
    assert status["crawl"]["state"] == "complete", status
    assert status["crawl"]["tables"] == len(EXPECTED_TABLES)
