"""MariaDB end to end: register (engine mysql) → crawl through NATS → browse and search over
HTTP → re-crawl, and never leak the password."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from catalog.adapters.mysql_crawler import quote
from tests.e2e.conftest import AUTH
from tests.e2e.test_register_crawl_search import SecretWitness, all_tables
from tests.engines.mariadb import MariaDbServer

MYSQL_MODES = ("preferred", "disabled", "required", "verify_ca", "verify_identity")

# Created in the schema named `{main}`; the other schema (`{other}`) holds `invoices` only.
MAIN_DDL = """
CREATE TABLE {main}.warehouses (id integer PRIMARY KEY, city varchar(80) NOT NULL);
CREATE TABLE {main}.shipments (
    id bigint AUTO_INCREMENT PRIMARY KEY,
    carrier varchar(45) NOT NULL COMMENT 'Who carries it',
    status enum('a','b') NOT NULL DEFAULT 'a',
    weight_kg decimal(8, 2),
    weight_lb decimal(10, 2) GENERATED ALWAYS AS (weight_kg * 2.2046) STORED,
    warehouse_id integer,
    CONSTRAINT shipments_warehouse_fk FOREIGN KEY (warehouse_id) REFERENCES {main}.warehouses (id)
) COMMENT 'Parcels on their way';
CREATE VIEW {main}.shipment_labels AS SELECT id, carrier FROM {main}.shipments;
CREATE TABLE {main}.readings (
    id integer NOT NULL,
    taken date NOT NULL,
    reading double,
    PRIMARY KEY (id, taken)
) PARTITION BY RANGE (YEAR(taken)) (
    PARTITION readings_2025 VALUES LESS THAN (2026),
    PARTITION readings_2026 VALUES LESS THAN (2027)
);
CREATE TABLE {main}.scratch_notes (id integer, body text);
CREATE TABLE {other}.invoices (number varchar(20) PRIMARY KEY, total decimal(12, 2));
"""
MAIN_TABLES = {"warehouses", "shipments", "shipment_labels", "readings", "scratch_notes"}
COLUMNS = 2 + 6 + 2 + 3 + 2 + 2  # every relation's, the other schema's invoices included


@dataclass
class MySqlTarget:
    server: MariaDbServer
    schema: str  # the main schema
    other: str  # a second schema the same user can read
    user: str
    password: str

    async def sql(self, text: str) -> None:
        await asyncio.to_thread(self.server.client, text)

    def registration(self, **changes: object) -> dict[str, object]:
        """Every schema the user can see (an empty dbname), over the default sslmode."""
        body: dict[str, object] = {
            "engine": "mysql",
            "host": self.server.host,
            "port": self.server.port,
            "dbname": "",
            "user": self.user,
            "password": self.password,
        }
        return {**body, **changes}

    def expected(self) -> set[tuple[str, str]]:
        return {(self.schema, t) for t in MAIN_TABLES} | {(self.other, "invoices")}


@pytest.fixture
async def mysql_target(mariadb: MariaDbServer) -> AsyncIterator[MySqlTarget]:
    """Two schemas of this test's own, and a user that may read only them, with a password of
    its own (the contract suite's schemas on the shared server are never touched)."""
    suffix = uuid.uuid4().hex[:12]
    found = MySqlTarget(
        mariadb,
        f"e2e_{suffix}",
        f"e2e_{suffix}_b",
        f"e2e_reader_{suffix}",
        f"my-pw-{uuid.uuid4().hex}-leak-canary",
    )
    main, other = quote(found.schema), quote(found.other)
    account = f"'{found.user}'@'%'"
    await found.sql(f"CREATE DATABASE {main}; CREATE DATABASE {other};")
    try:
        await found.sql(MAIN_DDL.format(main=main, other=other))
        await found.sql(
            f"CREATE USER {account} IDENTIFIED BY '{found.password}';"
            f"GRANT SELECT, SHOW VIEW ON {main}.* TO {account};"
            f"GRANT SELECT, SHOW VIEW ON {other}.* TO {account};"
        )
        yield found
    finally:
        await found.sql(
            f"DROP DATABASE IF EXISTS {main}; DROP DATABASE IF EXISTS {other};"
            f"DROP USER IF EXISTS {account};"
        )


async def _register(client, body: dict[str, object]) -> dict:
    response = await client.post("/v1/databases", json=body, headers=AUTH)
    created = await response.json()
    assert response.status == 201, created
    return created


async def _search(client, query: str) -> list[dict]:
    response = await client.get(f"/v1/search?{query}", headers=AUTH)
    body = await response.json()
    assert response.status == 200, body
    return body["hits"]


async def test_register_crawl_browse_search_recrawl_on_mariadb(system, mysql_target):
    client, target = system.client, mysql_target
    created = await _register(client, {**target.registration(), "name": "e2e-mariadb"})
    assert (created["engine"], created["port"], created["dbname"]) == (
        "mysql",
        target.server.port,
        "",
    )
    assert created["sslmode"] == "preferred"
    database_id = created["id"]

    status = await system.wait_for_crawl(database_id, 1)
    crawl = status["crawl"]
    assert crawl["state"] == "complete", crawl
    assert crawl["tables"] == len(target.expected())  # partitions are not tables of their own
    assert crawl["columns"] == COLUMNS
    assert crawl["batches_done"] == crawl["batches_total"] == 2  # 6 relations, batches of 3

    # An empty dbname: every schema the user can see, and nothing else (no system schema).
    tables = await all_tables(client, database_id, limit=2)
    assert {(t["schema"], t["name"]) for t in tables} == target.expected()
    by_name = {t["name"]: t for t in tables if t["schema"] == target.schema}
    assert by_name["shipment_labels"]["type"] == "view"
    assert by_name["readings"]["type"] == "partitioned_table"
    assert by_name["warehouses"]["type"] == by_name["shipments"]["type"] == "table"
    assert not any("readings_20" in t["name"] for t in tables)
    shipments = by_name["shipments"]
    assert shipments["storage_engine"] == "InnoDB"
    assert shipments["comment"] == "Parcels on their way"
    assert shipments["primary_key"] == ["id"]
    assert [(fk["ref_schema"], fk["ref_table"]) for fk in shipments["foreign_keys"]] == [
        (target.schema, "warehouses")
    ]
    columns = {c["name"]: c for c in shipments["columns"]}
    assert list(columns) == ["id", "carrier", "status", "weight_kg", "weight_lb", "warehouse_id"]
    assert columns["carrier"]["data_type"] == "varchar(45)"
    assert columns["carrier"]["comment"] == "Who carries it"
    assert columns["status"]["data_type"] == "enum('a','b')"
    assert columns["weight_kg"]["data_type"] == "decimal(8,2)"
    assert columns["id"]["auto_increment"] is True
    assert columns["id"]["generated"] is None
    assert "weight_kg" in (columns["weight_lb"]["generated"] or ""), columns["weight_lb"]
    assert columns["weight_lb"]["auto_increment"] is False
    assert columns["carrier"]["auto_increment"] is False
    assert columns["carrier"]["generated"] is None
    assert [c["name"] for c in by_name["shipment_labels"]["columns"]] == ["id", "carrier"]
    assert "shipments" in (by_name["shipment_labels"]["definition"] or "")

    # One typo in the name still finds the table, and ranks it first.
    hits = await _search(client, f"q=shipmnts&kind=table&database_id={database_id}")
    assert (hits[0]["schema"], hits[0]["table"]) == (target.schema, "shipments"), hits
    assert hits[0]["table_type"] == "table"
    hits = await _search(client, f"q=warehuses&database_id={database_id}")
    assert (hits[0]["schema"], hits[0]["table"]) == (target.schema, "warehouses"), hits

    # The seed's routes.
    response = await client.get(f"/{database_id}", headers=AUTH)
    assert response.status == 200, await response.text()
    seed = await response.json()
    assert {(s, t) for s, ts in seed["tables"].items() for t in ts} == target.expected()
    seed_shipments = seed["tables"][target.schema]["shipments"]
    assert {"column_name": "carrier", "data_type": "varchar(45)"} in seed_shipments
    assert {"column_name": "status", "data_type": "enum('a','b')"} in seed_shipments
    response = await client.get(f"/search/{database_id}/shipmnts", headers=AUTH)
    assert response.status == 200, await response.text()
    found = (await response.json())["tables"][target.schema]
    assert {"column_name": "carrier", "data_type": "varchar(45)"} in found["shipments"], found

    # A non-empty dbname crawls that one schema, and the seed names it.
    single = await _register(client, target.registration(dbname=target.other))
    single_status = await system.wait_for_crawl(single["id"], 1)
    assert single_status["crawl"]["state"] == "complete", single_status
    single_tables = await all_tables(client, single["id"])
    assert {(t["schema"], t["name"]) for t in single_tables} == {(target.other, "invoices")}
    single_seed = await (await client.get(f"/{single['id']}", headers=AUTH)).json()
    assert single_seed == {
        "database_name": target.other,
        "tables": {
            target.other: {
                "invoices": [
                    # No integer here: MariaDB prints int(11), MySQL 8 plain int.
                    {"column_name": "number", "data_type": "varchar(20)"},
                    {"column_name": "total", "data_type": "decimal(12,2)"},
                ]
            }
        },
    }

    # A dropped table disappears once the re-crawl completes.
    await target.sql(f"DROP TABLE {quote(target.schema)}.scratch_notes")
    response = await client.post(f"/v1/databases/{database_id}/crawls", headers=AUTH)
    assert response.status == 202, await response.text()
    status = await system.wait_for_crawl(database_id, 2)
    assert status["crawl"]["state"] == "complete", status
    assert status["live_generation"] == 2, status
    assert status["crawl"]["tables"] == len(target.expected()) - 1
    tables = await all_tables(client, database_id, limit=100)
    assert {(t["schema"], t["name"]) for t in tables} == target.expected() - {
        (target.schema, "scratch_notes")
    }
    hits = await _search(client, f"q=scratch_notes&database_id={database_id}")
    assert "scratch_notes" not in {h["table"] for h in hits}, hits
    hits = await _search(client, "q=scratch_notes")
    assert "scratch_notes" not in {h["table"] for h in hits}, hits
    response = await client.get(f"/search/{database_id}/scratch_notes", headers=AUTH)
    found = await response.json()
    assert "scratch_notes" not in found.get("tables", {}).get(target.schema, {}), found


async def test_the_mysql_password_appears_nowhere(system, mysql_target, caplog, nats_url):
    """Responses, log lines, events on the bus, index documents and store rows: no password."""
    witness = await SecretWitness.watching(system, nats_url, caplog)
    call, target = witness.call, mysql_target

    created = await call("POST", "/v1/databases", json=target.registration())
    await system.wait_for_crawl(created["id"], 1)
    bad = await call("POST", "/v1/databases", json=target.registration(port=1))
    failed = await system.wait_for_crawl(bad["id"], 1)
    assert failed["crawl"]["state"] == "failed", failed
    denied = await call("POST", "/v1/databases", json=target.registration(user="no_such_user"))
    refused = await system.wait_for_crawl(denied["id"], 1)
    assert refused["crawl"]["error"]["error_class"] == "auth_failed", refused
    await call("POST", "/v1/databases", json=target.registration(port="x"))
    await call("POST", "/v1/databases", json=target.registration(evil=target.password))
    await call("POST", "/v1/databases", json=target.registration(sslmode="prefer"))
    tested = await call("POST", f"/v1/databases/{created['id']}/test")
    assert tested["ok"] is True, tested
    await call("GET", f"/v1/databases/{created['id']}")
    await call("GET", f"/v1/databases/{bad['id']}")
    await call("GET", "/v1/databases")
    await call("GET", f"/v1/databases/{created['id']}/tables?limit=500")
    await call("GET", f"/{created['id']}")
    await call("GET", "/v1/search?q=shipmnts")
    await call("GET", f"/search/{created['id']}/shipments")

    documents = await witness.assert_nowhere(target.password, caplog)
    assert len(documents) > 20
    assert any(target.schema in doc for doc in documents)


async def test_registration_answers_for_mysql(system, mysql_target):
    client, target = system.client, mysql_target

    # No port: MySQL's own, 3306 (not PostgreSQL's), and MySQL's default sslmode. Whatever may
    # listen on this machine's 3306 is no server of ours: it gets a throwaway password.
    body = target.registration(dbname=target.schema, password="throwaway")
    del body["port"]
    created = await _register(client, body)
    assert (created["engine"], created["port"], created["sslmode"]) == ("mysql", 3306, "preferred")
    assert created["dbname"] == target.schema
    response = await client.delete(f"/v1/databases/{created['id']}", headers=AUTH)
    assert response.status == 204, await response.text()

    # A PostgreSQL sslmode word on a MySQL database: a 422 that names the allowed modes.
    response = await client.post(
        "/v1/databases", json=target.registration(sslmode="prefer"), headers=AUTH
    )
    problem = await response.json()
    assert response.status == 422, problem
    assert response.content_type == "application/problem+json"
    assert problem["status"] == 422
    messages = " ".join(error["message"] for error in problem["errors"])
    assert "'prefer'" in messages, problem
    for mode in MYSQL_MODES:
        assert mode in messages, (mode, problem)

    # PostgreSQL needs a database name; only MySQL's empty dbname means every schema.
    pg = {**target.registration(engine="postgresql", dbname=""), "sslmode": "prefer"}
    response = await client.post("/v1/databases", json=pg, headers=AUTH)
    problem = await response.json()
    assert response.status == 422, problem
    assert response.content_type == "application/problem+json"
    assert "dbname" in json.dumps(problem), problem

    # Neither refused registration left a database behind; the deleted one is gone too.
    listing = await (await client.get("/v1/databases", headers=AUTH)).json()
    assert listing["items"] == [], listing
