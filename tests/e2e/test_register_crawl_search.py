"""Register → crawl through NATS → browse and search over HTTP, and never leak the password."""

from __future__ import annotations

import json
import logging

import asyncpg
import nats
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


async def test_a_crawl_that_cannot_connect_fails_with_a_class_and_no_secret(system, target):
    body = {**target.registration(), "dbname": "no_such_database_here"}
    response = await system.client.post("/v1/databases", json=body, headers=AUTH)
    database_id = (await response.json())["id"]
    status = await system.wait_for_crawl(database_id, 1)
    assert status["crawl"]["state"] == "failed"
    assert status["crawl"]["error"]["error_class"] == "database_missing"
    assert target.password not in json.dumps(status)


async def test_the_password_appears_nowhere(system, target, caplog, nats_url):
    """Responses, log lines, events on the bus, index documents and store rows: no password."""
    caplog.set_level(logging.DEBUG)
    seen_on_bus: list[bytes] = []
    nc = await nats.connect(nats_url)

    async def record(msg) -> None:
        seen_on_bus.append(msg.data)

    await nc.subscribe("catalog.>", cb=record)
    client = system.client
    bodies: list[str] = []

    async def call(method: str, path: str, **kwargs) -> dict:
        response = await client.request(method, path, headers=AUTH, **kwargs)
        bodies.append(await response.text())
        return json.loads(bodies[-1])

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
    await nc.flush()
    await nc.close()

    secret = target.password
    assert seen_on_bus, "the bus recorder saw nothing"
    assert all(secret.encode() not in data for data in seen_on_bus)
    for body in bodies:
        assert secret not in body
    assert len(caplog.records) > 5
    for record in caplog.records:
        assert secret not in record.getMessage()
        assert secret not in (record.exc_text or "")

    documents = _every_index_document(system)
    assert len(documents) > 50
    assert all(secret not in doc for doc in documents)

    store = await asyncpg.connect(system.services.settings.database_url)
    try:
        for table in ("databases", "crawls", "outbox", "api_tokens", "crawl_batches"):
            rows = await store.fetch(f"SELECT * FROM {table}")
            assert secret not in repr([dict(r) for r in rows])
    finally:
        await store.close()


def _every_index_document(system) -> list[str]:
    """Reads the tantivy index directly, past the adapter, as an attacker with the files would."""
    index = tantivy.Index.open(str(system.services.settings.data_dir / "index"))
    index.reload()
    searcher = index.searcher()
    result = searcher.search(tantivy.Query.all_query(), limit=100_000)
    return [json.dumps(searcher.doc(address).to_dict(), default=str) for _, address in result.hits]


async def test_a_database_behind_verified_tls_is_crawled(system, target):
    async with tls_postgres(("127.0.0.1", 5432)) as tls:
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
