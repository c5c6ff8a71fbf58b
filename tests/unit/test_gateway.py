"""The gateway over fakes of the store and the index: auth, validation, shapes, problems."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from catalog import services
from catalog.bootstrap import Services
from catalog.browse import MAX_REFERENCED_BY
from catalog.cipher import SecretCipher, generate_key
from catalog.crawler import Relation
from catalog.documents import documents_for_table
from catalog.embedded import free_port
from catalog.messages import CrawlBatchRequested, CrawlRequested
from catalog.models import DEFAULT_TENANT, Crawl, CrawlState, ForeignKey, Table, TableType, Tenant
from catalog.netguard import TargetPolicy
from catalog.principal import Role
from catalog.settings import Settings
from catalog.tokens import token_hash
from gateway.app import create_app
from gateway.auth import REDOC_BUNDLE_PATH
from gateway.cursors import encode_cursor
from gateway.keys import CIPHER
from gateway.schemas import CrawlOut
from gateway.server import serve_gateway
from indexer.handlers import CrawlHandlers
from tests.factories import PASSWORD, full_plan, new_database, recorded_plan, table
from tests.fakes import FakeCrawler, InMemorySearchIndex, InMemoryStore, RecordingPublisher

TOKEN = "cat_test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BODY = {"dbname": "shop", "user": "reader", "password": PASSWORD, "host": "10.0.0.5", "port": 5432}


def services_over(store, index, settings: Settings | None = None) -> Services:
    cipher = SecretCipher.from_keys([generate_key()])
    return Services(settings or Settings(), store, index, cipher, None)


@pytest.fixture
async def gateway(aiohttp_client):
    store, index = InMemoryStore(), InMemorySearchIndex()
    await store.add_token(token_hash(TOKEN), "admin", Role.ADMIN, DEFAULT_TENANT)
    app = create_app(services_over(store, index))
    client = await aiohttp_client(app)
    return client, store, index


async def complete_crawl(store, index, database_id: str, *tables) -> None:
    crawl = await store.latest_crawl(database_id)
    for ordinal, t in enumerate(tables):
        await index.upsert(
            documents_for_table(database_id, crawl.generation, ordinal, t, tenant_id=DEFAULT_TENANT)
        )
    await store.start_crawl(crawl.id, full_plan())
    await store.complete_crawl(crawl.id)


def assert_problem(response, body, status):
    assert response.status == status
    assert response.content_type == "application/problem+json"
    assert body["status"] == status
    assert body["title"]
    assert body["type"].startswith("https://")


@pytest.mark.parametrize(
    "path", ["/healthz", "/readyz", "/openapi.json", "/asyncapi.json", "/redoc"]
)
async def test_public_routes_need_no_token(gateway, path):
    client, *_ = gateway
    response = await client.get(path)
    assert response.status == 200


async def test_readiness_fails_while_the_keys_open_no_stored_password(aiohttp_client):
    """A wrong CATALOG_SECRET_KEYS would fail every crawl: the gateway is not ready."""
    store, index = InMemoryStore(), InMemorySearchIndex()
    registered_with = SecretCipher.from_keys([generate_key()])
    await services.register_database(store, registered_with, new_database())
    wrong = Services(Settings(), store, index, SecretCipher.from_keys([generate_key()]), None)
    client = await aiohttp_client(create_app(wrong))
    response = await client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["checks"]["secret_keys"] == "cannot decrypt stored passwords"

    # The old key beside a new one (a rotation in progress) opens them again.
    ring = SecretCipher((*SecretCipher.from_keys([generate_key()]).keys, *registered_with.keys))
    right = Services(Settings(), store, index, ring, None)
    client = await aiohttp_client(create_app(right))
    response = await client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["checks"] == {"store": "ok", "index": "ok", "secret_keys": "ok"}


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}]
)
async def test_missing_or_wrong_token_is_401_problem(gateway, headers):
    client, *_ = gateway
    response = await client.get("/v1/databases", headers=headers)
    assert_problem(response, await response.json(), 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_seed_registration_keeps_the_seed_shape(gateway):
    client, store, _ = gateway
    response = await client.post("/credentials", json=BODY, headers=AUTH)
    body = await response.json()
    assert response.status == 200
    assert body["message"] == "Credentials added successfully"
    assert body["id"] in store.databases
    assert PASSWORD not in await response.text()
    # Encrypted at rest, not hashed: the sealed blob decrypts back for the crawler.
    assert PASSWORD.encode() not in store.passwords[body["id"]].blob


async def test_v1_registration_answers_201_with_the_resource_and_no_password(gateway):
    client, store, _ = gateway
    response = await client.post("/v1/databases", json={**BODY, "name": "Shop"}, headers=AUTH)
    body = await response.json()
    assert response.status == 201
    assert response.headers["Location"] == f"/v1/databases/{body['id']}"
    assert body["name"] == "Shop"
    assert body["engine"] == "postgresql"
    assert body["crawl"]["state"] == "queued"
    assert body["crawl"]["generation"] == 1
    assert "password" not in body
    assert PASSWORD not in await response.text()
    assert len(store.outbox) == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({k: v for k, v in BODY.items() if k != "host"}, "host"),
        ({**BODY, "port": 70000}, "port"),
        ({**BODY, "port": "x"}, "port"),
        ({**BODY, "host": "bad host/"}, "host"),
        ({**BODY, "engine": "oracle"}, "engine"),
        ({**BODY, "extra": 1}, "extra"),
    ],
)
async def test_invalid_bodies_are_422_problems_that_never_echo_the_password(
    gateway, payload, field
):
    client, store, _ = gateway
    response = await client.post("/v1/databases", json=payload, headers=AUTH)
    body = await response.json()
    assert_problem(response, body, 422)
    assert any(e["field"] == field for e in body["errors"])
    assert PASSWORD not in await response.text()
    assert store.databases == {}


@pytest.mark.parametrize("field", ["name", "dbname", "user", "host", "password"])
@pytest.mark.parametrize("control", ["\r\n", "\x00", "\t", "\x1b[31m", "\x7f"])
async def test_control_characters_are_422_in_every_field(gateway, field, control):
    """CR/LF/NUL would reach a startup packet, a log line or the store verbatim."""
    client, store, _ = gateway
    value = f"a{control}b"
    payload = {**BODY, "name": "shop", field: value}
    response = await client.post("/v1/databases", json=payload, headers=AUTH)
    body = await response.json()
    assert_problem(response, body, 422)
    assert any(e["field"] == field for e in body["errors"])
    assert value not in await response.text()
    assert store.databases == {}


async def test_a_ca_bundle_keeps_its_line_breaks_but_not_a_nul(gateway):
    client, *_ = gateway
    payload = {**BODY, "sslmode": "verify-full", "ca_cert": "-----BEGIN\x00CERTIFICATE-----\n"}
    response = await client.post("/v1/databases", json=payload, headers=AUTH)
    body = await response.json()
    assert_problem(response, body, 422)
    assert any(e["field"] == "ca_cert" for e in body["errors"])


async def test_control_characters_are_422_in_a_change_and_a_token_name(gateway):
    client, *_ = gateway
    created = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    response = await client.patch(
        f"/v1/databases/{created['id']}", json={"name": "x\x00y"}, headers=AUTH
    )
    assert_problem(response, await response.json(), 422)
    response = await client.post(
        "/v1/tokens", json={"name": "ci\nbot", "role": "reader"}, headers=AUTH
    )
    assert_problem(response, await response.json(), 422)


async def test_deeply_nested_json_is_a_400_problem(gateway):
    client, *_ = gateway
    raw = b"[" * 60_000 + b"]" * 60_000  # within the body limit, past any recursion limit
    response = await client.post(
        "/v1/databases", data=raw, headers={**AUTH, "Content-Type": "application/json"}
    )
    body = await response.json()
    assert_problem(response, body, 400)
    assert body["detail"] == "the body is nested too deeply"


async def test_an_authorization_header_that_is_not_utf8_is_a_401(gateway):
    client, *_ = gateway
    url = client.make_url("/v1/databases")
    reader, writer = await asyncio.open_connection(url.host, url.port)
    writer.write(
        b"GET /v1/databases HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Authorization: Bearer \xff\xfe\xc3(\r\n\r\n"
    )
    response = await reader.read()
    writer.close()
    assert response.startswith(b"HTTP/1.1 401 ")
    assert b"application/problem+json" in response


@pytest.mark.parametrize("raw", [b"{not json", b"[1,2]", "ü".encode("latin-1")])
async def test_malformed_json_is_400_problem(gateway, raw):
    client, *_ = gateway
    response = await client.post(
        "/v1/databases", data=raw, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert_problem(response, await response.json(), 400)


async def test_oversized_body_is_a_problem_not_a_500(gateway):
    client, *_ = gateway
    response = await client.post("/v1/databases", data=b"x" * 200_000, headers=AUTH)
    assert response.status in (400, 413)
    assert response.content_type == "application/problem+json"


async def test_unknown_database_is_404_problem(gateway):
    client, *_ = gateway
    for path in (
        "/v1/databases/nope",
        "/nope",
        "/search/nope/orders",
        "/v1/databases/nope/tables",
        "/v1/databases/nope/tables/public/orders",
    ):
        response = await client.get(path, headers=AUTH)
        assert_problem(response, await response.json(), 404)


async def test_unknown_route_and_method_are_problems(gateway):
    client, *_ = gateway
    response = await client.get("/v1/nothing/here/at/all", headers=AUTH)
    assert_problem(response, await response.json(), 404)
    response = await client.delete("/v1/search", headers=AUTH)
    assert_problem(response, await response.json(), 405)


async def test_status_shows_the_crawl_and_recrawl_coalesces(gateway):
    client, _store, _ = gateway
    created = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    response = await client.post(f"/v1/databases/{created['id']}/crawls", headers=AUTH)
    body = await response.json()
    assert response.status == 202
    assert body["crawl"]["id"] == created["crawl"]["id"]  # still queued: same crawl
    status = await (await client.get(f"/v1/databases/{created['id']}", headers=AUTH)).json()
    assert status["crawl"]["state"] == "queued"
    assert status["live_generation"] is None


async def test_status_shows_a_running_crawls_progress_pace_and_eta(gateway):
    """Batches and counts so far, tables per second since it started, and the time left."""
    client, store, index = gateway
    crawler = FakeCrawler(
        {str(ref): table("public", f"t{ref:02d}", "id", "name") for ref in range(10)}
    )
    publisher = RecordingPublisher()
    handlers = CrawlHandlers(
        store, index, client.app[CIPHER], crawler.factory(), publisher, 2, stale_fail_safe=0.5
    )
    created = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    crawl_id, path = created["crawl"]["id"], f"/v1/databases/{created['id']}"
    queued = (await (await client.get(path, headers=AUTH)).json())["crawl"]
    assert (queued["started_at"], queued["elapsed_seconds"]) == (None, None)
    assert (queued["tables_per_second"], queued["eta_seconds"]) == (None, None)

    await handlers.handle(CrawlRequested(crawl_id, created["id"]))
    batches = [CrawlBatchRequested(**json.loads(data)) for _, data, _ in publisher.published]
    assert len(batches) == 5
    for batch in batches[:2]:
        await handlers.handle(batch)
    # As if it had started running 10 s ago.
    crawl = store.crawls[crawl_id]
    store.crawls[crawl_id] = dataclasses.replace(
        crawl, started_at=crawl.started_at - timedelta(seconds=10)
    )
    running = (await (await client.get(path, headers=AUTH)).json())["crawl"]
    assert running["state"] == "running"
    assert (running["batches_done"], running["batches_total"]) == (2, 5)
    assert (running["tables"], running["columns"]) == (4, 8)
    assert running["started_at"] is not None
    assert running["finished_at"] is running["duration_seconds"] is None
    assert running["elapsed_seconds"] == pytest.approx(10, abs=1)
    assert running["tables_per_second"] == pytest.approx(0.4, abs=0.05)
    assert running["eta_seconds"] == pytest.approx(15, abs=1.5)  # 3 batches left at 5 s each
    listed = (await (await client.get("/v1/databases", headers=AUTH)).json())["items"][0]
    assert listed["crawl"]["tables_per_second"] == pytest.approx(0.4, abs=0.05)

    for batch in batches[2:]:
        await handlers.handle(batch)
    await store.finish_crawls(handlers.handle)
    done = (await (await client.get(path, headers=AUTH)).json())["crawl"]
    assert done["state"] == "complete"
    assert (done["batches_done"], done["tables"], done["columns"]) == (5, 10, 20)
    assert done["eta_seconds"] is None
    assert done["elapsed_seconds"] == pytest.approx(done["duration_seconds"], abs=0.001)
    assert done["tables_per_second"] == pytest.approx(10 / done["duration_seconds"], rel=0.01)
    assert PASSWORD not in json.dumps(done)

    document = await (await client.get("/openapi.json")).json()
    documented = document["components"]["schemas"]["CrawlOut"]["properties"]
    assert set(running) == set(documented)
    for name in ("batches_done", "tables", "elapsed_seconds", "tables_per_second", "eta_seconds"):
        assert documented[name]["description"], name


@pytest.mark.parametrize(
    ("state", "started", "finished", "done", "progress"),
    [
        # Queued: nothing to measure yet.
        (CrawlState.QUEUED, None, None, 0, (None, None, None)),
        # Running, no batch done yet: a pace of 0, no estimate.
        (CrawlState.RUNNING, 20, None, 0, (20, 0, None)),
        # Running, 1 of 4 batches (10 tables) in 20 s: 60 s left.
        (CrawlState.RUNNING, 20, None, 1, (20, 0.5, 60)),
        # The gateway's clock behind the store's: just started, no pace.
        (CrawlState.RUNNING, -5, None, 1, (0, None, None)),
        # Ended: the pace over the whole crawl, no estimate.
        (CrawlState.COMPLETE, 60, 20, 4, (40, 1, None)),
        (CrawlState.FAILED, 60, 50, 1, (10, 1, None)),
    ],
)
def test_crawl_progress_as_of_a_moment(state, started, finished, done, progress):
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

    def ago(seconds):
        return None if seconds is None else now - timedelta(seconds=seconds)

    crawl = Crawl(
        "crawl_1", "db_1", 1, state, ago(90), ago(started), ago(finished),
        batches_total=None if started is None else 4, batches_done=done, tables=10 * done,
    )  # fmt: skip
    measured = crawl.progress(now)
    assert (measured.elapsed_seconds, measured.tables_per_second, measured.eta_seconds) == progress
    out = CrawlOut.of(crawl, now)
    assert (out.elapsed_seconds, out.tables_per_second, out.eta_seconds) == progress


async def test_tables_pages_with_cursors_and_the_seed_routes(gateway):
    client, store, index = gateway
    created = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    tables = [table("public", f"t{i:02d}", "id", "name") for i in range(5)]
    tables.append(table("sales", "orders", "id", "total"))
    await complete_crawl(store, index, created["id"], *tables)

    names, cursor = [], None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = await (
            await client.get(f"/v1/databases/{created['id']}/tables{query}", headers=AUTH)
        ).json()
        names += [(t["schema"], t["name"]) for t in page["items"]]
        assert all(len(t["columns"]) == 2 for t in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert names == [(t.schema, t.name) for t in tables]

    seed = await (await client.get(f"/{created['id']}", headers=AUTH)).json()
    assert seed["database_name"] == "shop"
    assert list(seed["tables"]) == ["public", "sales"]
    assert seed["tables"]["sales"]["orders"] == [
        {"column_name": "id", "data_type": "integer"},
        {"column_name": "total", "data_type": "integer"},
    ]
    found = await (await client.get(f"/search/{created['id']}/orders", headers=AUTH)).json()
    assert found == {
        "database_name": "shop",
        "tables": {"sales": {"orders": seed["tables"]["sales"]["orders"]}},
    }


async def test_seed_search_with_no_match_is_the_sketchs_404(gateway):
    client, store, index = gateway
    created = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    await complete_crawl(store, index, created["id"], table("sales", "orders", "id"))
    response = await client.get(f"/search/{created['id']}/zzzzzzzz", headers=AUTH)
    assert response.status == 404
    assert await response.json() == {"detail": "Table not found"}


@pytest.mark.parametrize(
    "path", ["/{id}", "/search/{id}/orders", "/v1/databases/{id}/tables/public/orders"]
)
async def test_reads_before_any_crawl_completed_are_409_not_an_empty_database(gateway, path):
    client, *_ = gateway
    created = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    response = await client.get(path.format(id=created["id"]), headers=AUTH)
    body = await response.json()
    assert_problem(response, body, 409)
    assert "no crawl of this database has completed yet (the latest is queued)" in body["detail"]
    assert f"GET /v1/databases/{created['id']}" in body["detail"]


async def test_bad_cursor_and_limit_are_400(gateway):
    client, *_ = gateway
    created = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    for query in ("?cursor=garbage", "?limit=0", "?limit=abc", "?limit=100000"):
        response = await client.get(f"/v1/databases/{created['id']}/tables{query}", headers=AUTH)
        assert_problem(response, await response.json(), 400)


async def test_search_route_filters_kind_and_validates(gateway):
    client, store, index = gateway
    created = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    await complete_crawl(
        store, index, created["id"], table("public", "orders", "id", "order_total")
    )
    body = await (await client.get("/v1/search?q=orders&kind=table", headers=AUTH)).json()
    assert [(h["kind"], h["table"]) for h in body["hits"]] == [("table", "orders")]
    body = await (
        await client.get(f"/v1/search?q=order_total&database_id={created['id']}", headers=AUTH)
    ).json()
    assert [(h["kind"], h["column"]) for h in body["hits"]] == [("column", "order_total")]
    for query in ("", "?q=", "?q=x&kind=schema", "?q=" + "x" * 201):
        response = await client.get(f"/v1/search{query}", headers=AUTH)
        assert_problem(response, await response.json(), 400)
    response = await client.get("/v1/search?q=x&database_id=nope", headers=AUTH)
    assert_problem(response, await response.json(), 404)


async def test_repeated_searches_are_answered_once_per_catalog_state(gateway):
    client, store, index = gateway
    created = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    await complete_crawl(store, index, created["id"], table("public", "orders", "id"))
    for path in ("/v1/search?q=orders&kind=table", "/v1/suggest?q=ord"):
        reads = index.reads
        answers = [await (await client.get(path, headers=AUTH)).json() for _ in range(3)]
        assert answers[0] == answers[1] == answers[2]
        assert index.reads == reads + 1
    # A finished crawl changes the live scopes: the next search reads the new generation.
    await client.post(f"/v1/databases/{created['id']}/crawls", headers=AUTH)
    await complete_crawl(store, index, created["id"], table("public", "orders_v2", "id"))
    body = await (await client.get("/v1/search?q=orders&kind=table", headers=AUTH)).json()
    assert [h["table"] for h in body["hits"]] == ["orders_v2"]


async def test_search_answers_are_not_shared_across_tenants_or_kept_when_off(aiohttp_client):
    store, index = InMemoryStore(), InMemorySearchIndex()
    await store.add_token(token_hash(TOKEN), "admin", Role.ADMIN, DEFAULT_TENANT)
    await store.add_tenant(Tenant("other", "Other", datetime.now(UTC)))
    await store.add_token(token_hash("cat_other"), "other", Role.ADMIN, "other")
    app = create_app(services_over(store, index, Settings(search_cache_mb=0)))
    client = await aiohttp_client(app)
    for _ in range(2):
        await client.get("/v1/search?q=orders", headers=AUTH)
        await client.get("/v1/search?q=orders", headers={"Authorization": "Bearer cat_other"})
    assert index.reads == 4
    cached = await aiohttp_client(create_app(services_over(store, index)))
    for headers in (AUTH, {"Authorization": "Bearer cat_other"}, AUTH):
        await cached.get("/v1/search?q=orders", headers=headers)
    assert index.reads == 4 + 2  # one per tenant


async def test_openapi_lists_every_route(gateway):
    client, *_ = gateway
    document = await (await client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    routes = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    registered = {
        (r.method, r.resource.canonical)
        for r in client.app.router.routes()
        if r.method != "HEAD"
        and r.resource.canonical
        not in ("/openapi.json", "/asyncapi.json", "/redoc", REDOC_BUNDLE_PATH)
        # The web UI's page and assets: documented in the README, not part of the API.
        and not r.resource.canonical.startswith("/ui")
    }
    assert routes == registered
    text = json.dumps(document)  # serialisable as a whole
    # Every reference resolves (ReDoc refuses to render a document with one that does not).
    referenced = set(re.findall(r'"#/components/schemas/([^"]+)"', text))
    assert referenced <= set(document["components"]["schemas"])


async def test_database_list_pages_with_a_cursor_and_shows_each_latest_crawl(gateway):
    client, *_ = gateway
    created = [
        (await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json())["id"]
        for _ in range(3)
    ]
    first = await (await client.get("/v1/databases?limit=2", headers=AUTH)).json()
    rest = await (
        await client.get(f"/v1/databases?limit=2&cursor={first['next_cursor']}", headers=AUTH)
    ).json()
    items = first["items"] + rest["items"]
    assert [d["id"] for d in items] == sorted(created)
    assert rest["next_cursor"] is None
    assert all(d["crawl"]["state"] == "queued" for d in items)


async def test_confirming_a_held_crawl_queues_its_publication(gateway):
    client, store, _ = gateway
    created = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    other = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    crawl_id = created["crawl"]["id"]
    path = f"/v1/databases/{created['id']}/crawls/{crawl_id}/confirm"

    response = await client.post(path, headers=AUTH)
    assert_problem(response, await response.json(), 409)  # queued, not held
    wrong = f"/v1/databases/{other['id']}/crawls/{crawl_id}/confirm"
    response = await client.post(wrong, headers=AUTH)
    assert_problem(response, await response.json(), 404)

    await store.start_crawl(crawl_id, full_plan())
    await store.hold_crawl(crawl_id, "tables fell from 10 to 1 (90% gone)")
    status = await (await client.get(f"/v1/databases/{created['id']}", headers=AUTH)).json()
    assert status["crawl"]["state"] == "held"
    assert status["crawl"]["error"]["error_class"] == "fail_safe"
    response = await client.post(path, headers=AUTH)
    assert response.status == 202
    assert store.outbox[-1][0].subject == "catalog.crawl.confirmed"


async def test_dead_letters_are_listed_and_filtered_by_crawl(gateway):
    client, store, _ = gateway
    await store.add_dead_letter("catalog.crawl.batch", "malformed", None, 7, 1)
    for number in range(3):
        await store.add_dead_letter("catalog.crawl.batch", f"gave up {number}", "crawl_x", None, 8)
    page = await (await client.get("/v1/dead-letters?limit=2", headers=AUTH)).json()
    assert [d["reason"] for d in page["items"]] == ["malformed", "gave up 0"]
    rest = await (
        await client.get(f"/v1/dead-letters?limit=2&cursor={page['next_cursor']}", headers=AUTH)
    ).json()
    assert [d["reason"] for d in rest["items"]] == ["gave up 1", "gave up 2"]
    mine = await (await client.get("/v1/dead-letters?crawl_id=crawl_x", headers=AUTH)).json()
    assert len(mine["items"]) == 3
    assert mine["next_cursor"] is None


@pytest.mark.parametrize("host", ["169.254.169.254", "metadata.internal.test"])
async def test_registering_a_refused_target_is_422_and_stores_nothing(aiohttp_client, host):
    store, index = InMemoryStore(), InMemorySearchIndex()
    await store.add_token(token_hash(TOKEN), "admin", Role.ADMIN, DEFAULT_TENANT)

    async def resolve(name: str, port: int) -> list[str]:
        return ["169.254.169.254"]  # a name that points at the cloud metadata service

    policy = dataclasses.replace(TargetPolicy.from_lists((), ()), resolve=resolve)
    app = create_app(services_over(store, index), policy=policy)
    client = await aiohttp_client(app)
    for path in ("/v1/databases", "/credentials"):
        response = await client.post(path, json={**BODY, "host": host}, headers=AUTH)
        body = await response.json()
        assert_problem(response, body, 422)
        assert "not a permitted target" in body["detail"]
    assert store.databases == {}
    assert store.outbox == []


async def test_tls_settings_are_accepted_validated_and_shown(gateway):
    client, store, _ = gateway
    response = await client.post(
        "/v1/databases", json={**BODY, "sslmode": "verify-full", "ca_cert": None}, headers=AUTH
    )
    body = await response.json()
    assert response.status == 201
    assert (body["sslmode"], body["ca_cert_configured"]) == ("verify-full", False)
    assert store.databases[body["id"]].target.sslmode == "verify-full"
    for bad in ({"sslmode": "sometimes"}, {"ca_cert": "-----BEGIN CERTIFICATE-----\nnope"}):
        response = await client.post("/v1/databases", json={**BODY, **bad}, headers=AUTH)
        problem = await response.json()
        assert_problem(response, problem, 422)
        assert {e["field"] for e in problem["errors"]} & {"sslmode", "ca_cert"}


async def _search(client, query: str) -> dict:
    response = await client.get(f"/v1/search?{query}", headers=AUTH)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_search_explains_hits_counts_facets_and_filters(gateway):
    client, store, index = gateway
    created = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    await complete_crawl(
        store,
        index,
        created["id"],
        table("crm", "customers", "id", "email"),
        table("crm", "email_log", "id", "sent_at"),
        table("sales", "orders", "id", "customer_email"),
        table("sales", "email_views", "id", kind=TableType.VIEW),
    )

    body = await _search(client, "q=email&limit=2&facets=true")
    assert len(body["hits"]) == 2
    assert body["next_cursor"] is not None
    facets = {
        field: {f["value"]: f["count"] for f in body["facets"][field]} for field in body["facets"]
    }
    # The whole result, not the page: two tables and two columns have an "email" part.
    assert facets["kind"] == {"table": 2, "column": 2}
    assert facets["schema"] == {"crm": 2, "sales": 2}
    assert facets["database_id"] == {created["id"]: 4}
    assert facets["table_type"] == {"table": 3, "view": 1}
    assert facets["data_type"] == {"integer": 2}  # the two columns; tables have no data type

    email = (await _search(client, "q=email&kind=column&schema=crm"))["hits"]
    assert [(h["table"], h["column"], h["highlight"]) for h in email] == [
        ("customers", "email", "<em>email</em>")
    ]
    assert email[0]["matched_columns"] == []
    views = await _search(client, "q=email&type=view")
    assert [h["table"] for h in views["hits"]] == ["email_views"]
    assert await _search(client, "q=email&data_type=text&facets=TRUE") == {
        "query": "email",
        "hits": [],
        "facets": {
            "database_id": [],
            "schema": [],
            "kind": [],
            "table_type": [],
            "data_type": [],
        },
        "next_cursor": None,
    }
    # Facets cost a second pass over every hit: counted only when asked.
    unasked = await _search(client, "q=email&limit=2")
    assert unasked["facets"] is None
    assert unasked["hits"] == body["hits"]
    assert (await _search(client, "q=email&limit=2&facets=false"))["facets"] is None
    bad = await client.get("/v1/search?q=email&facets=yes", headers=AUTH)
    assert bad.status == 400
    assert "'facets' must be true or false" in (await bad.json())["detail"]
    typed = await _search(client, "q=email&data_type=integer&data_type=text&kind=column")
    assert len(typed["hits"]) == 2


async def test_search_pages_with_cursors_until_the_last_hit(gateway):
    client, store, index = gateway
    created = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    await complete_crawl(
        store, index, created["id"], *(table("public", f"t{i}", "id") for i in range(7))
    )
    everything = await _search(client, "q=id&kind=column&limit=100")
    assert len(everything["hits"]) == 7
    assert everything["next_cursor"] is None

    seen, cursor = [], None
    while True:
        body = await _search(
            client, "q=id&kind=column&limit=3" + (f"&cursor={cursor}" if cursor else "")
        )
        seen += [hit["table"] for hit in body["hits"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [hit["table"] for hit in everything["hits"]]

    first = await _search(client, "q=id&kind=column&limit=3")
    # A cursor belongs to its search: other parameters are a 400, a newer crawl is a 409.
    response = await client.get(
        f"/v1/search?q=id&kind=table&limit=3&cursor={first['next_cursor']}", headers=AUTH
    )
    assert_problem(response, await response.json(), 400)
    await store.request_crawl(created["id"], "crawl_2")
    await complete_crawl(store, index, created["id"], table("public", "t0", "id"))
    response = await client.get(
        f"/v1/search?q=id&kind=column&limit=3&cursor={first['next_cursor']}", headers=AUTH
    )
    assert_problem(response, await response.json(), 409)


@pytest.mark.parametrize(
    "query",
    [
        "q=x&type=table_like",
        "q=x&kind=table&data_type=text",
        "q=x&cursor=garbage",
        "q=x&schema=" + "s" * 201,
        "q=x" + "&schema=s" * 21,
        "q=x&limit=101",
    ],
)
async def test_bad_search_parameters_are_400_problems(gateway, query):
    client, *_ = gateway
    response = await client.get(f"/v1/search?{query}", headers=AUTH)
    assert_problem(response, await response.json(), 400)


async def test_suggest_completes_names_and_validates(gateway):
    client, store, index = gateway
    created = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    await complete_crawl(
        store,
        index,
        created["id"],
        table("public", "orders", "id", "order_date"),
        table("public", "OrderLines", "id", "order_date"),
        table("public", "customers", "id"),
    )
    response = await client.get("/v1/suggest?q=order", headers=AUTH)
    assert response.status == 200
    assert await response.json() == {
        "query": "order",
        "suggestions": [
            {"name": "order_date", "count": 2},
            {"name": "orders", "count": 1},
            {"name": "OrderLines", "count": 1},
        ],
    }
    only_tables = await (
        await client.get(
            f"/v1/suggest?q=order&kind=table&limit=1&database_id={created['id']}", headers=AUTH
        )
    ).json()
    assert only_tables["suggestions"] == [{"name": "orders", "count": 1}]
    for query in ("", "?q=", "?q=o&limit=0", "?q=o&kind=schema"):
        response = await client.get(f"/v1/suggest{query}", headers=AUTH)
        assert_problem(response, await response.json(), 400)
    response = await client.get("/v1/suggest?q=o&database_id=nope", headers=AUTH)
    assert_problem(response, await response.json(), 404)


async def test_forged_cursors_with_huge_numbers_are_400(gateway):
    client, *_ = gateway
    forged = encode_cursor({"after": 10**30})
    for path in ("/v1/dead-letters", "/v1/audit"):
        response = await client.get(f"{path}?cursor={forged}", headers=AUTH)
        assert_problem(response, await response.json(), 400)


@pytest.mark.parametrize(
    ("field", "value"), [("score", "NaN"), ("score", "Infinity"), ("ordinal", str(2**64))]
)
async def test_search_cursors_with_numbers_no_engine_takes_are_400(gateway, field, value):
    """JSON parses NaN and Infinity; OpenSearch refuses them in search_after (a 500 once)."""
    client, store, index = gateway
    created = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    await complete_crawl(
        store, index, created["id"], *(table("public", f"t{i}", "id") for i in range(4))
    )
    first = await _search(client, "q=id&kind=column&limit=2")
    position = json.loads(base64.urlsafe_b64decode(first["next_cursor"]))
    text = json.dumps(position).replace(
        f'"{field}": {json.dumps(position[field])}', f'"{field}": {value}'
    )
    assert value in text
    forged = base64.urlsafe_b64encode(text.encode()).decode()
    response = await client.get(
        f"/v1/search?q=id&kind=column&limit=2&cursor={forged}", headers=AUTH
    )
    assert_problem(response, await response.json(), 400)


async def test_a_seed_search_name_past_200_characters_is_400(gateway):
    """As long as `q` may be: 8,000 characters once took over a second to match."""
    client, store, index = gateway
    created = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    await complete_crawl(store, index, created["id"], table("sales", "orders", "id"))
    response = await client.get(f"/search/{created['id']}/{'o' * 201}", headers=AUTH)
    body = await response.json()
    assert_problem(response, body, 400)
    assert body["detail"] == "'table_name' must be at most 200 characters"


async def test_a_crawl_that_waits_to_retry_shows_why_how_often_and_until_when(gateway):
    client, store, _ = gateway
    created = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    due = datetime(2030, 1, 1, tzinfo=UTC)
    await store.note_retry(created["crawl"]["id"], "unreachable", 2, due)
    body = await (await client.get(f"/v1/databases/{created['id']}", headers=AUTH)).json()
    assert body["crawl"]["state"] == "queued"
    assert body["crawl"]["error"] is None
    assert body["crawl"]["retrying"] == {
        "error_class": "unreachable",
        "attempts": 2,
        "next_attempt_at": "2030-01-01T00:00:00Z",
    }
    await store.start_crawl(created["crawl"]["id"], full_plan())
    body = await (await client.get(f"/v1/databases/{created['id']}", headers=AUTH)).json()
    assert body["crawl"]["retrying"] is None


async def test_an_address_that_keeps_failing_to_authenticate_is_slowed_down(aiohttp_client):
    """Each unknown token costs a store query: past a burst of failures, an address gets 429s
    before any, while a token this process confirmed lately still works from there."""
    store, index = InMemoryStore(), InMemorySearchIndex()
    await store.add_token(token_hash(TOKEN), "admin", Role.ADMIN, DEFAULT_TENANT)
    await store.add_token(token_hash("cat_" + "n" * 40), "new", Role.READER, DEFAULT_TENANT)
    settings = Settings(auth_failure_burst=3, auth_failure_rate=0.01)
    client = await aiohttp_client(create_app(services_over(store, index, settings)))
    assert (await client.get("/v1/databases", headers=AUTH)).status == 200  # now known here

    wrong = {"Authorization": "Bearer cat_wrong"}
    for _ in range(3):
        assert (await client.get("/v1/databases", headers=wrong)).status == 401
    refused = await client.get("/v1/databases", headers=wrong)
    assert_problem(refused, await refused.json(), 429)
    assert int(refused.headers["Retry-After"]) > 0

    assert (await client.get("/v1/databases", headers=AUTH)).status == 200
    unseen = {"Authorization": "Bearer cat_" + "n" * 40}
    assert (await client.get("/v1/databases", headers=unseen)).status == 429


async def test_a_connection_that_never_completes_its_request_is_closed():
    """400 half-open connections once stayed for minutes: the gateway closes each one that has
    not sent a whole request within CATALOG_IDLE_TIMEOUT, idle or dribbling its headers."""
    port = free_port()
    settings = Settings(port=port, idle_timeout=1.0)
    stop = asyncio.Event()
    server = asyncio.create_task(
        serve_gateway(services_over(InMemoryStore(), InMemorySearchIndex(), settings), stop)
    )
    try:
        async with asyncio.timeout(10):
            while True:
                try:
                    idle = await asyncio.open_connection("127.0.0.1", port)
                    break
                except OSError:
                    await asyncio.sleep(0.05)
        dribbling = await asyncio.open_connection("127.0.0.1", port)
        dribbling[1].write(b"GET /v1/databases HTTP/1.1\r\nHost: x\r\n")  # never finished
        started = asyncio.get_running_loop().time()
        async with asyncio.timeout(10):
            for reader, _ in (idle, dribbling):
                assert await reader.read() == b""  # closed by the server, nothing answered
        assert asyncio.get_running_loop().time() - started < 5
        for _, writer in (idle, dribbling):
            writer.close()
    finally:
        stop.set()
        await server


async def test_a_database_whose_documents_were_lost_answers_503_never_an_empty_200(gateway):
    client, store, index = gateway
    created = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    database_id = created["id"]
    await complete_crawl(store, index, database_id, table("public", "orders", "id"))
    lost_at = datetime.now(UTC)
    store.databases[database_id] = dataclasses.replace(
        store.databases[database_id], index_lost_at=lost_at
    )
    index.documents.clear()  # what the watch found: the index lost them

    for path in (
        "/v1/search?q=orders",
        f"/v1/search?q=orders&database_id={database_id}",
        "/v1/suggest?q=ord",
        f"/v1/databases/{database_id}/tables",
        f"/{database_id}",
        f"/search/{database_id}/orders",
        f"/v1/databases/{database_id}/tables/public/orders",
    ):
        response = await client.get(path, headers=AUTH)
        assert response.status == 503, path
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert response.headers["Retry-After"]
        problem = await response.json()
        assert database_id in problem["detail"], path
        assert "re-crawl" in problem["detail"], path
    status = await (await client.get(f"/v1/databases/{database_id}", headers=AUTH)).json()
    assert datetime.fromisoformat(status["index_lost_at"]) == lost_at


async def test_a_recrawl_asked_while_a_crawl_runs_names_the_crawl_that_will_carry_it(gateway):
    client, store, _ = gateway
    created = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    first = created["crawl"]["id"]
    path = f"/v1/databases/{created['id']}/crawls"
    merged = await (await client.post(path, headers=AUTH)).json()
    assert merged["crawl"]["id"] == first  # still queued: it will see the request anyway
    await store.start_crawl(first, full_plan("10"))  # planned: too late for changes

    response = await client.post(path, headers=AUTH)
    assert response.status == 202
    follow_up = (await response.json())["crawl"]
    assert (follow_up["state"], follow_up["generation"]) == ("queued", 2)
    assert follow_up["queued_after"] == first
    again = await (await client.post(path, headers=AUTH)).json()
    assert again["crawl"]["id"] == follow_up["id"]
    assert (follow_up["mode"], (await store.get_crawl(follow_up["id"])).full) == (None, False)
    # A full request merges into the queued crawl and makes it full; the body is optional.
    full = await (await client.post(path, json={"full": True}, headers=AUTH)).json()
    assert full["crawl"]["id"] == follow_up["id"]
    assert (await store.get_crawl(follow_up["id"])).full
    planned = (await (await client.get(path[:-7], headers=AUTH)).json())["crawl"]
    assert (planned["id"], planned["mode"]) == (first, "full")
    for bad in ({"full": "sometimes"}, {"full": True, "deep": 1}, [True]):
        response = await client.post(path, json=bad, headers=AUTH)
        assert response.status in (400, 422), await response.text()
        assert response.content_type == "application/problem+json"


async def test_the_change_history_pages_filters_by_time_and_refuses_a_bad_instant(gateway):
    client, store, _ = gateway
    created = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    database_id, first = created["id"], created["crawl"]["id"]
    await store.start_crawl(first, recorded_plan([Relation("1", "public", "orders", "a")]))
    await store.complete_crawl(first)
    path = f"/v1/databases/{database_id}/changes"
    assert (await (await client.get(path, headers=AUTH)).json())["items"] == []  # baseline
    second = (await (await client.post(f"{path[:-8]}/crawls", headers=AUTH)).json())["crawl"]
    relations = [Relation("1", "public", "orders", "a2"), Relation("2", "public", "refunds", "b")]
    await store.start_crawl(second["id"], recorded_plan(relations))
    await store.complete_crawl(second["id"])

    page = await (await client.get(f"{path}?limit=1", headers=AUTH)).json()
    assert [(c["kind"], c["schema"], c["name"]) for c in page["items"]] == [
        ("altered", "public", "orders")
    ]
    assert page["items"][0]["crawl_id"] == second["id"]
    rest = await (await client.get(f"{path}?cursor={page['next_cursor']}", headers=AUTH)).json()
    assert [(c["kind"], c["name"], rest["next_cursor"]) for c in rest["items"]] == [
        ("added", "refunds", None)
    ]
    later = quote((datetime.now(UTC) + timedelta(minutes=1)).isoformat())
    assert (await (await client.get(f"{path}?since={later}", headers=AUTH)).json())["items"] == []
    for bad in ("yesterday", "2026-11-30", "2026-11-30T12:00:00", ""):
        response = await client.get(f"{path}?since={bad}", headers=AUTH)
        assert response.status == 400, bad
        assert "RFC 3339" in (await response.json())["detail"]
    missing = await client.get("/v1/databases/db_nope/changes", headers=AUTH)
    assert missing.status == 404
    # One relation's history, for its table page; renamed relations answer to both names.
    only = await (await client.get(f"{path}?schema=public&table=refunds", headers=AUTH)).json()
    assert [c["name"] for c in only["items"]] == ["refunds"]
    none = await (await client.get(f"{path}?schema=other&table=refunds", headers=AUTH)).json()
    assert none["items"] == []
    half = await client.get(f"{path}?table=refunds", headers=AUTH)
    assert half.status == 400
    assert "give both or neither" in (await half.json())["detail"]
    for bad in ("schema=public&table=re%00funds", "schema=&table=refunds"):
        response = await client.get(f"{path}?{bad}", headers=AUTH)
        assert response.status == 400, bad


async def test_a_crawl_interval_is_set_at_registration_changed_and_stopped_by_patch(gateway):
    client, store, _ = gateway
    too_short = await client.post("/v1/databases", json=BODY | {"crawl_interval": 60}, headers=AUTH)
    assert too_short.status == 400
    assert "at least 300 seconds" in (await too_short.json())["detail"]
    too_long = await client.post(
        "/v1/databases", json=BODY | {"crawl_interval": 31 * 86400}, headers=AUTH
    )
    assert too_long.status == 422

    created = await client.post("/v1/databases", json=BODY | {"crawl_interval": 3600}, headers=AUTH)
    assert created.status == 201
    body = await created.json()
    assert body["crawl_interval"] == 3600
    due = datetime.fromisoformat(body["next_crawl_at"])
    assert timedelta(minutes=59) < due - datetime.now(UTC) <= timedelta(hours=1)
    path = f"/v1/databases/{body['id']}"

    daily = await (await client.patch(path, json={"crawl_interval": 86400}, headers=AUTH)).json()
    assert daily["crawl_interval"] == 86400
    assert datetime.fromisoformat(daily["next_crawl_at"]) - datetime.now(UTC) > timedelta(hours=23)
    renamed = await (await client.patch(path, json={"name": "other"}, headers=AUTH)).json()
    assert renamed["next_crawl_at"] == daily["next_crawl_at"]  # untouched by other changes
    stopped = await (await client.patch(path, json={"crawl_interval": None}, headers=AUTH)).json()
    assert (stopped["crawl_interval"], stopped["next_crawl_at"]) == (None, None)
    assert (await store.get_database(body["id"])).crawl_interval is None


async def test_asyncapi_documents_the_change_event_as_the_store_sends_it(gateway):
    client, store, _ = gateway
    document = await (await client.get("/asyncapi.json")).json()
    assert document["asyncapi"].startswith("3.")
    channel = document["channels"]["schemaChanged"]
    assert channel["address"] == "catalog.schema.changed.{database_id}"
    payload = document["components"]["messages"]["SchemaChanged"]["payload"]

    created = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    first = created["crawl"]["id"]
    await store.start_crawl(first, recorded_plan([Relation("1", "public", "orders", "a")]))
    await store.complete_crawl(first)
    second = await client.post(f"/v1/databases/{created['id']}/crawls", headers=AUTH)
    second_id = (await second.json())["crawl"]["id"]
    await store.start_crawl(second_id, recorded_plan([Relation("1", "public", "orders", "b")]))
    await store.complete_crawl(second_id)
    [event] = [m.payload for m, _ in store.outbox if m.subject.startswith("catalog.schema")]
    assert set(event) == set(payload["properties"])
    assert set(payload["required"]) <= set(event)
    types = {"string": str, "integer": int, "object": dict, "array": list, "boolean": bool}
    for name, value in event.items():
        assert isinstance(value, types[payload["properties"][name]["type"]]), name


async def test_redoc_and_its_script_come_from_the_gateway(gateway):
    client, *_ = gateway
    page = await client.get("/redoc")
    text = await page.text()
    assert "https://" not in text
    assert f'src="{REDOC_BUNDLE_PATH}"' in text
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    bundle = await client.get(REDOC_BUNDLE_PATH)  # public, like the page
    assert bundle.status == 200
    assert bundle.headers["Content-Type"].startswith("application/javascript")
    assert b"redoc" in (await bundle.read())[:4096].lower()


def _with_keys(t: Table, *keys: tuple[str, str, str, tuple[str, ...], tuple[str, ...]]) -> Table:
    """The table with foreign keys (name, ref_schema, ref_table, columns, ref_columns)."""
    foreign_keys = tuple(
        ForeignKey(name, columns, ref_schema, ref_table, ref_columns)
        for name, ref_schema, ref_table, columns, ref_columns in keys
    )
    return dataclasses.replace(t, foreign_keys=foreign_keys)


async def test_one_table_with_the_foreign_keys_that_point_at_it(gateway):
    client, store, index = gateway
    created = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    database_id = created["id"]
    odd = ("we/ird", 'x "y".z')  # a slash, quotes, a dot and a space
    tables = [
        table("public", "customers", "id", "email"),
        _with_keys(
            table("public", "employees", "id", "manager_id"),
            ("employees_manager", "public", "employees", ("manager_id",), ("id",)),
        ),
        _with_keys(
            table("sales", "invoices", "id", "billed_to", "shipped_to", "employee_id"),
            ("invoices_shipped", "public", "customers", ("shipped_to",), ("id",)),
            ("invoices_billed", "public", "customers", ("billed_to",), ("id",)),
            ("invoices_employee", "public", "employees", ("employee_id",), ("id",)),
        ),
        _with_keys(
            table("sales", "orders", "id", "customer_id"),
            ("orders_customer", "public", "customers", ("customer_id",), ("id",)),
        ),
        _with_keys(
            table(*odd, "id", "customer_email"),
            ("odd_customer", "public", "customers", ("customer_email",), ("email",)),
        ),
    ]
    await complete_crawl(store, index, database_id, *tables)
    path = f"/v1/databases/{database_id}/tables"

    response = await client.get(f"{path}/public/customers", headers=AUTH)
    assert response.status == 200
    assert await response.json() == {
        "database_id": database_id,
        "schema": "public",
        "name": "customers",
        "type": "table",
        "columns": [
            {
                "name": name,
                "position": position,
                "data_type": "integer",
                "nullable": position > 1,
                "default": None,
                "comment": None,
                "primary_key": position == 1,
                "generated": None,
                "auto_increment": False,
                "collation": None,
            }
            for position, name in enumerate(["id", "email"], 1)
        ],
        "comment": None,
        "row_estimate": None,
        "size_bytes": None,
        "primary_key": ["id"],
        "foreign_keys": [],
        "indexes": [],
        "partition_of": None,
        "definition": None,
        "storage_engine": None,
        "partitions": None,
        # By the referencing table's schema and name, then the key's name.
        "referenced_by": [
            {
                "schema": "sales",
                "table": "invoices",
                "name": "invoices_billed",
                "columns": ["billed_to"],
                "ref_columns": ["id"],
            },
            {
                "schema": "sales",
                "table": "invoices",
                "name": "invoices_shipped",
                "columns": ["shipped_to"],
                "ref_columns": ["id"],
            },
            {
                "schema": "sales",
                "table": "orders",
                "name": "orders_customer",
                "columns": ["customer_id"],
                "ref_columns": ["id"],
            },
            {
                "schema": odd[0],
                "table": odd[1],
                "name": "odd_customer",
                "columns": ["customer_email"],
                "ref_columns": ["email"],
            },
        ],
    }
    # A self-reference counts; a key to another table does not.
    employees = await (await client.get(f"{path}/public/employees", headers=AUTH)).json()
    assert [(r["table"], r["name"]) for r in employees["referenced_by"]] == [
        ("employees", "employees_manager"),
        ("invoices", "invoices_employee"),
    ]
    assert employees["foreign_keys"][0]["ref_table"] == "employees"
    # Names are path segments, percent-encoded: %2F is a slash inside one.
    encoded = f"{path}/{quote(odd[0], safe='')}/{quote(odd[1], safe='')}"
    assert "%2F" in encoded
    response = await client.get(encoded, headers=AUTH)
    assert response.status == 200, await response.text()
    found = await response.json()
    assert (found["schema"], found["name"], found["referenced_by"]) == (*odd, [])
    assert found["foreign_keys"][0]["name"] == "odd_customer"

    document = await (await client.get("/openapi.json")).json()
    documented = document["components"]["schemas"]
    assert set(found) == set(documented["TableDetailOut"]["properties"])
    assert set(employees["referenced_by"][0]) == set(documented["ReferenceOut"]["properties"])


async def test_a_table_the_live_crawl_does_not_have_is_a_404_that_names_it(gateway):
    client, store, index = gateway
    created = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    await complete_crawl(store, index, created["id"], table("sales", "orders", "id"))
    path = f"/v1/databases/{created['id']}/tables"
    for schema, name in [("sales", "Orders"), ("public", "orders"), ("sales", "id")]:
        response = await client.get(f"{path}/{schema}/{name}", headers=AUTH)
        body = await response.json()
        assert_problem(response, body, 404)
        assert f"{schema}.{name}" in body["detail"]
    # A later crawl that dropped it: the live generation answers, not the one before.
    await store.request_crawl(created["id"], "crawl_2")
    await complete_crawl(store, index, created["id"], table("sales", "refunds", "id"))
    response = await client.get(f"{path}/sales/orders", headers=AUTH)
    assert_problem(response, await response.json(), 404)
    assert (await client.get(f"{path}/sales/refunds", headers=AUTH)).status == 200


async def test_referenced_by_lists_the_first_500_keys(gateway):
    client, store, index = gateway
    created = await (await client.post("/v1/databases", json=BODY, headers=AUTH)).json()
    # 251 tables with two keys each to public.hub: 502 keys.
    referring = [
        _with_keys(
            table("public", f"s{n:03d}", "id", "a", "b"),
            ("a", "public", "hub", ("a",), ("id",)),
            ("b", "public", "hub", ("b",), ("id",)),
        )
        for n in range(251)
    ]
    await complete_crawl(store, index, created["id"], table("public", "hub", "id"), *referring)
    body = await (
        await client.get(f"/v1/databases/{created['id']}/tables/public/hub", headers=AUTH)
    ).json()
    listed = [(r["table"], r["name"]) for r in body["referenced_by"]]
    assert len(listed) == MAX_REFERENCED_BY == 500
    assert listed[:3] == [("s000", "a"), ("s000", "b"), ("s001", "a")]
    assert listed[-1] == ("s249", "b")
