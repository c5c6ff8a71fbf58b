"""Tenants, roles, tokens, audit and abuse limits, through the gateway over fakes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from catalog.bootstrap import Services, ensure_admin_token
from catalog.cipher import SecretCipher, generate_key
from catalog.documents import documents_for_table
from catalog.errors import CrawlFailure, PermanentError
from catalog.models import DEFAULT_TENANT, Tenant
from catalog.principal import Role
from catalog.settings import Settings
from catalog.tokens import token_hash
from gateway.app import create_app
from tests.factories import PASSWORD, full_plan, table
from tests.fakes import FakeCrawler, InMemorySearchIndex, InMemoryStore

BODY = {"dbname": "shop", "user": "reader", "password": PASSWORD, "host": "10.0.0.5", "port": 5432}
TOKENS = {
    "admin": ("cat_operator", Role.ADMIN, DEFAULT_TENANT),
    "a_editor": ("cat_a_editor", Role.EDITOR, "tenant_a"),
    "a_reader": ("cat_a_reader", Role.READER, "tenant_a"),
    "a_admin": ("cat_a_admin", Role.ADMIN, "tenant_a"),
    "b_editor": ("cat_b_editor", Role.EDITOR, "tenant_b"),
}


def auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who][0]}"}


async def make_client(aiohttp_client, settings: Settings | None = None, crawler=None):
    store, index = InMemoryStore(), InMemorySearchIndex()
    for tenant in ("tenant_a", "tenant_b"):
        store.tenants[tenant] = Tenant(tenant, tenant, store.tenants[DEFAULT_TENANT].created_at)
    for name, (token, role, tenant) in TOKENS.items():
        await store.add_token(token_hash(token), name, role, tenant)
    services = Services(
        settings or Settings(), store, index, SecretCipher.from_keys([generate_key()]), None
    )
    crawler = crawler or FakeCrawler({})
    client = await aiohttp_client(create_app(services, crawlers=crawler.factory()))
    return client, store, index


@pytest.fixture
async def world(aiohttp_client):
    return await make_client(aiohttp_client)


async def register(client, who: str) -> dict:
    response = await client.post("/v1/databases", json=BODY, headers=auth(who))
    assert response.status == 201, await response.text()
    return await response.json()


async def crawled(store, index, database_id: str) -> None:
    crawl = await store.latest_crawl(database_id)
    await index.upsert(
        documents_for_table(
            database_id,
            1,
            0,
            table("public", "orders", "id"),
            tenant_id=store.databases[database_id].tenant_id,
        )
    )
    await store.start_crawl(crawl.id, full_plan())
    await store.complete_crawl(crawl.id)


async def test_every_read_route_hides_another_tenants_database(world):
    client, store, index = world
    theirs = await register(client, "a_editor")
    await crawled(store, index, theirs["id"])
    db = theirs["id"]
    crawl = theirs["crawl"]["id"]
    for method, path in [
        ("GET", f"/v1/databases/{db}"),
        ("GET", f"/v1/databases/{db}/tables"),
        ("GET", f"/v1/databases/{db}/tables/public/orders"),
        ("PATCH", f"/v1/databases/{db}"),
        ("DELETE", f"/v1/databases/{db}"),
        ("POST", f"/v1/databases/{db}/test"),
        ("POST", f"/v1/databases/{db}/crawls"),
        ("POST", f"/v1/databases/{db}/crawls/{crawl}/confirm"),
        ("GET", f"/{db}"),
        ("GET", f"/search/{db}/orders"),
        ("GET", f"/v1/search?q=orders&database_id={db}"),
        ("GET", f"/v1/suggest?q=ord&database_id={db}"),
    ]:
        kwargs = {"json": {"name": "x"}} if method == "PATCH" else {}
        response = await client.request(method, path, headers=auth("b_editor"), **kwargs)
        assert response.status == 404, (method, path, response.status)
    # And the lists and searches of tenant B simply do not contain it.
    listed = await (await client.get("/v1/databases", headers=auth("b_editor"))).json()
    assert listed["items"] == []
    found = await (await client.get("/v1/search?q=orders", headers=auth("b_editor"))).json()
    assert found["hits"] == []
    # While tenant A sees all of it.
    found = await (await client.get("/v1/search?q=orders", headers=auth("a_reader"))).json()
    assert [h["table"] for h in found["hits"]] == ["orders"]
    assert store.databases[db].tenant_id == "tenant_a"


async def test_roles_nest_reader_editor_admin(world):
    client, *_ = world
    response = await client.post("/v1/databases", json=BODY, headers=auth("a_reader"))
    assert response.status == 403
    assert (await response.json())["title"] == "Forbidden"
    created = await register(client, "a_editor")
    assert (
        await client.get(f"/v1/databases/{created['id']}", headers=auth("a_reader"))
    ).status == 200
    for path in ("/v1/audit", "/v1/dead-letters"):
        assert (await client.get(path, headers=auth("a_editor"))).status == 403
        assert (await client.get(path, headers=auth("a_admin"))).status == 200


async def test_tenants_and_tokens_are_made_by_admins_and_tokens_are_shown_once(world):
    client, store, _ = world
    response = await client.post("/v1/tenants", json={"name": "acme"}, headers=auth("a_admin"))
    assert response.status == 403  # only the operator's admins span tenants
    response = await client.post("/v1/tenants", json={"name": "acme"}, headers=auth("admin"))
    assert response.status == 201
    acme = (await response.json())["id"]
    again = await client.post("/v1/tenants", json={"name": "acme"}, headers=auth("admin"))
    assert again.status == 409

    response = await client.post(
        "/v1/tokens",
        json={"name": "ci", "role": "editor", "tenant_id": acme},
        headers=auth("admin"),
    )
    made = await response.json()
    assert response.status == 201
    assert made["token"].startswith("cat_")
    assert made["token"].encode() not in b"".join(store.tokens)  # only its hash is kept
    assert token_hash(made["token"]) in store.tokens
    listed = await (
        await client.get("/v1/databases", headers={"Authorization": f"Bearer {made['token']}"})
    ).json()
    assert listed["items"] == []

    cross = await client.post(
        "/v1/tokens", json={"name": "x", "tenant_id": acme}, headers=auth("a_admin")
    )
    assert cross.status == 403
    own = await client.post("/v1/tokens", json={"name": "x"}, headers=auth("a_admin"))
    assert (await own.json())["tenant_id"] == "tenant_a"


async def test_the_audit_log_records_who_did_what_without_secrets(world):
    client, store, _ = world
    created = await register(client, "a_editor")
    db = created["id"]
    await client.patch(
        f"/v1/databases/{db}", json={"password": "new-Secret-42"}, headers=auth("a_editor")
    )
    await client.post(f"/v1/databases/{db}/test", headers=auth("a_editor"))
    await client.post(f"/v1/databases/{db}/crawls", headers=auth("a_editor"))
    await client.delete(f"/v1/databases/{db}", headers=auth("a_editor"))
    events = (await (await client.get("/v1/audit", headers=auth("a_admin"))).json())["items"]
    assert [e["action"] for e in events] == [
        "database.registered",
        "database.changed",
        "database.tested",
        "crawl.requested",
        "database.deleted",
    ]
    # The token's id, never its name, which two tokens may share.
    editor = next(t for t in store.tokens.values() if t.name == "a_editor")
    assert {e["actor"] for e in events} == {f"token:{editor.id}"}
    assert events[1]["detail"] == {"fields": ["password"]}
    text = repr(store.audit)
    assert PASSWORD not in text
    assert "new-Secret-42" not in text
    # Tenant B's admin sees none of it.
    other = await client.get("/v1/audit", headers=auth("admin"))
    assert all(e["database_id"] != db for e in (await other.json())["items"])


async def test_changing_a_database_reseals_the_password_and_checks_the_target(world):
    client, store, _ = world
    created = await register(client, "a_editor")
    db = created["id"]
    before = store.passwords[db]
    response = await client.patch(
        f"/v1/databases/{db}",
        json={"name": "renamed", "password": "p2", "port": 6543},
        headers=auth("a_editor"),
    )
    body = await response.json()
    assert response.status == 200
    assert (body["name"], body["port"]) == ("renamed", 6543)
    assert "p2" not in await response.text()
    assert store.passwords[db] != before
    refused = await client.patch(
        f"/v1/databases/{db}",
        json={"host": "169.254.169.254", "password": "p3"},
        headers=auth("a_editor"),
    )
    assert refused.status == 422
    assert "not a permitted target" in (await refused.json())["detail"]
    assert store.databases[db].target.host == "10.0.0.5"


@pytest.mark.parametrize(
    "change",
    [
        {"host": "10.9.8.7"},
        {"port": 6000},
        {"user": "postgres"},
        {"dbname": "other"},
        {"sslmode": "disable"},
        {"ca_cert": None, "sslmode": "verify-full"},
    ],
)
async def test_changing_where_the_password_goes_needs_the_password_again(world, change):
    """Else an editor could point the stored password at a server of their own."""
    client, store, _ = world
    created = await register(client, "a_editor")
    db = created["id"]
    before = (store.databases[db], store.passwords[db])
    response = await client.patch(f"/v1/databases/{db}", json=change, headers=auth("a_editor"))
    problem = await response.json()
    assert response.status == 422, problem
    assert problem["title"] == "Password required"
    assert "give the password again" in problem["detail"]
    assert (store.databases[db], store.passwords[db]) == before


async def test_a_rename_or_an_unchanged_target_needs_no_password(world):
    client, store, _ = world
    created = await register(client, "a_editor")
    db = created["id"]
    sealed = store.passwords[db]
    same = {"name": "renamed", "host": "10.0.0.5", "port": 5432, "user": "reader"}
    response = await client.patch(f"/v1/databases/{db}", json=same, headers=auth("a_editor"))
    assert response.status == 200, await response.text()
    assert store.passwords[db] == sealed


async def test_a_password_left_on_a_row_whose_target_was_changed_does_not_open(aiohttp_client):
    """Sealed to its target: a row changed underneath it (a restored backup, a hand edit)
    makes the connection test fail as `credential`, and the crawler is never called."""
    crawler = FakeCrawler({})
    client, store, _ = await make_client(aiohttp_client, crawler=crawler)
    db = (await register(client, "a_editor"))["id"]
    database = store.databases[db]
    moved = dataclasses.replace(database.target, host="203.0.113.9")
    store.databases[db] = dataclasses.replace(database, target=moved)
    response = await client.post(f"/v1/databases/{db}/test", headers=auth("a_editor"))
    report = await response.json()
    assert response.status == 200
    assert report["ok"] is False
    assert report["error"]["error_class"] == "credential"
    assert crawler.passwords_seen == []


async def test_deleting_a_database_queues_its_documents_removal(world):
    client, store, _ = world
    created = await register(client, "a_editor")
    response = await client.delete(f"/v1/databases/{created['id']}", headers=auth("a_editor"))
    assert response.status == 204
    assert created["id"] not in store.databases
    assert store.outbox[-1][0].subject == "catalog.database.deleted"
    again = await client.get(f"/v1/databases/{created['id']}", headers=auth("a_editor"))
    assert again.status == 404


async def test_a_connection_test_reports_checks_or_a_scrubbed_error(aiohttp_client):
    crawler = FakeCrawler({})
    client, *_ = await make_client(aiohttp_client, crawler=crawler)
    created = await register(client, "a_editor")
    report = await (
        await client.post(f"/v1/databases/{created['id']}/test", headers=auth("a_editor"))
    ).json()
    assert report == {
        "ok": True,
        "server_version": "15.2",
        "checks": [{"name": "connect", "ok": True, "detail": "connected"}],
        "error": None,
    }
    assert crawler.passwords_seen == [PASSWORD]  # it used the stored, decrypted password
    crawler.failure = CrawlFailure("auth_failed", "password authentication failed for user reader")
    report = await (
        await client.post(f"/v1/databases/{created['id']}/test", headers=auth("a_editor"))
    ).json()
    assert report["ok"] is False
    assert report["error"]["error_class"] == "auth_failed"
    assert PASSWORD not in str(report)


async def test_credentials_are_tested_before_registering_without_storing_them(aiohttp_client):
    crawler = FakeCrawler({})
    client, store, _ = await make_client(aiohttp_client, crawler=crawler)
    body = {"host": "10.0.0.5", "dbname": "app", "user": "reader", "password": PASSWORD}
    response = await client.post("/v1/connection-tests", json=body, headers=auth("a_editor"))
    assert response.status == 200, await response.text()
    assert (await response.json())["ok"] is True
    assert crawler.passwords_seen == [PASSWORD]
    assert store.databases == {}
    assert store.passwords == {}
    crawler.failure = CrawlFailure("auth_failed", "password authentication failed for user reader")
    failed = await client.post("/v1/connection-tests", json=body, headers=auth("a_editor"))
    report = await failed.json()
    assert report["error"]["error_class"] == "auth_failed"
    assert PASSWORD not in str(report)
    # The registration's own guards: readers may not, and nothing reaches a refused host.
    reader = await client.post("/v1/connection-tests", json=body, headers=auth("a_reader"))
    assert reader.status == 403
    refused = body | {"host": "169.254.169.254"}
    response = await client.post("/v1/connection-tests", json=refused, headers=auth("a_editor"))
    assert response.status == 422
    assert len(crawler.passwords_seen) == 2
    # A password is taken as typed, spaces and all.
    spaced = body | {"password": f"  {PASSWORD} "}
    await client.post("/v1/connection-tests", json=spaced, headers=auth("a_editor"))
    assert crawler.passwords_seen[-1] == f"  {PASSWORD} "


async def test_me_names_the_caller_its_tenant_and_role(world):
    client, *_ = world
    response = await client.get("/v1/me", headers=auth("a_reader"))
    assert response.status == 200
    me = await response.json()
    assert (me["tenant_id"], me["role"]) == ("tenant_a", "reader")
    assert me["subject"].startswith("token:")
    assert (await client.get("/v1/me")).status == 401


async def test_per_token_rate_limit_answers_429_with_retry_after(aiohttp_client):
    client, *_ = await make_client(aiohttp_client, Settings(rate_limit=1, rate_burst=3))
    statuses = [
        (await client.get("/v1/databases", headers=auth("a_reader"))).status for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    limited = await client.get("/v1/databases", headers=auth("a_reader"))
    assert int(limited.headers["Retry-After"]) >= 1
    assert (await limited.json())["status"] == 429
    # Another caller has a bucket of its own.
    assert (await client.get("/v1/databases", headers=auth("b_editor"))).status == 200


async def test_concurrent_crawls_per_tenant_are_capped(aiohttp_client):
    client, store, _ = await make_client(aiohttp_client, Settings(max_crawls_per_tenant=2))
    await register(client, "a_editor")
    await register(client, "a_editor")
    response = await client.post("/v1/databases", json=BODY, headers=auth("a_editor"))
    assert response.status == 429
    assert "2 crawls are already queued or running" in (await response.json())["detail"]
    assert len(store.databases) == 2
    await register(client, "b_editor")  # other tenants are not held back


async def test_the_request_body_is_limited(world):
    client, *_ = world
    response = await client.post(
        "/v1/databases",
        data=b"{" + b" " * 140_000 + b"}",
        headers={**auth("a_editor"), "Content-Type": "application/json"},
    )
    assert response.status in (400, 413)
    assert response.content_type == "application/problem+json"


def test_settings_carry_the_limits():
    settings = Settings.from_env({"CATALOG_RATE_LIMIT": "5", "CATALOG_MAX_CRAWLS_PER_TENANT": "3"})
    assert (settings.rate_limit, settings.max_crawls_per_tenant) == (5.0, 3)
    assert dataclasses.replace(settings, rate_burst=7).rate_burst == 7


async def test_admins_list_their_tenants_tokens_by_id_and_never_the_token(world):
    client, *_ = world
    created = await client.post(
        "/v1/tokens", json={"name": "ci", "role": "reader"}, headers=auth("a_admin")
    )
    new = await created.json()
    assert created.status == 201
    assert new["id"].startswith("tok_")
    listed = await client.get("/v1/tokens", headers=auth("a_admin"))
    items = (await listed.json())["items"]
    assert {t["name"] for t in items} == {"a_editor", "a_reader", "a_admin", "ci"}
    assert new["id"] in {t["id"] for t in items}
    text = await listed.text()
    assert new["token"] not in text
    assert all(token not in text for token, *_ in TOKENS.values())


async def test_a_revoked_token_stops_working_at_once_and_another_tenants_is_not_found(world):
    client, store, _ = world
    editor = next(t for t in store.tokens.values() if t.name == "a_editor")
    assert (await client.get("/v1/databases", headers=auth("a_editor"))).status == 200  # cached
    other = next(t for t in store.tokens.values() if t.name == "b_editor")
    refused = await client.delete(f"/v1/tokens/{other.id}", headers=auth("a_admin"))
    assert refused.status == 404
    revoked = await client.delete(f"/v1/tokens/{editor.id}", headers=auth("a_admin"))
    assert revoked.status == 204
    assert (await client.get("/v1/databases", headers=auth("a_editor"))).status == 401
    assert (await client.get("/v1/databases", headers=auth("b_editor"))).status == 200
    events = (await (await client.get("/v1/audit", headers=auth("a_admin"))).json())["items"]
    assert events[-1]["action"] == "token.revoked"
    assert events[-1]["detail"] == {"token_id": editor.id}


async def test_a_token_stops_working_when_it_expires(world):
    client, store, _ = world
    past = datetime.now(UTC) - timedelta(minutes=1)
    refused = await client.post(
        "/v1/tokens", json={"name": "old", "expires_at": past.isoformat()}, headers=auth("a_admin")
    )
    assert refused.status == 400
    soon = datetime.now(UTC) + timedelta(hours=1)
    created = await client.post(
        "/v1/tokens", json={"name": "temp", "expires_at": soon.isoformat()}, headers=auth("a_admin")
    )
    body = await created.json()
    assert body["expires_at"] is not None
    hashed = token_hash(body["token"])
    store.tokens[hashed] = dataclasses.replace(store.tokens[hashed], expires_at=past)  # time passes
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert (await client.get("/v1/databases", headers=headers)).status == 401


async def test_a_new_admin_token_revokes_the_one_before(tmp_path):
    store = InMemoryStore()
    first, second = "cat_" + "a" * 40, "cat_" + "b" * 40
    await ensure_admin_token(Settings(data_dir=tmp_path, admin_token=first), store)
    await store.add_token(token_hash("cat_someone"), "admin", Role.ADMIN, DEFAULT_TENANT)
    await ensure_admin_token(Settings(data_dir=tmp_path, admin_token=second), store)
    assert await store.token_principal(token_hash(first)) is None
    assert await store.token_principal(token_hash(second)) is not None
    # A token an admin made, even one named "admin", is not the bootstrap token.
    assert await store.token_principal(token_hash("cat_someone")) is not None


@pytest.mark.parametrize("weak", ["x", "admin", "cat_" + "a" * 27])
async def test_a_weak_admin_token_is_refused_at_start(tmp_path, weak):
    with pytest.raises(PermanentError, match="at least 32 random characters"):
        await ensure_admin_token(Settings(data_dir=tmp_path, admin_token=weak), InMemoryStore())
