"""The web UI's files as the gateway serves them: without a token, from the package, under a
policy that runs only the gateway's own scripts."""

from __future__ import annotations

import re

from catalog.settings import Settings
from gateway.app import create_app
from tests.fakes import InMemorySearchIndex, InMemoryStore
from tests.unit.test_gateway import services_over


async def ui_client(aiohttp_client, settings: Settings | None = None):
    return await aiohttp_client(
        create_app(services_over(InMemoryStore(), InMemorySearchIndex(), settings))
    )


async def test_every_page_path_answers_the_page_without_a_token(aiohttp_client):
    client = await ui_client(aiohttp_client)
    moved = await client.get("/ui", allow_redirects=False)
    assert (moved.status, moved.headers["Location"]) == (308, "/ui/")
    pages = ["/ui/", "/ui/search?q=orders", "/ui/tables/db_1/sales/%3Cimg%3E", "/ui/databases"]
    for path in pages:
        response = await client.get(path)
        assert response.status == 200, path
        assert response.content_type == "text/html"
        assert '<script type="module" src="/ui/assets/app.js">' in await response.text()
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["Referrer-Policy"] == "no-referrer"


async def test_every_script_the_page_loads_is_served(aiohttp_client):
    client = await ui_client(aiohttp_client)
    page = await (await client.get("/ui/")).text()
    wanted = set(re.findall(r'(?:src|href)="(/ui/assets/[^"]+)"', page))
    seen: set[str] = set()
    while wanted - seen:
        path = (wanted - seen).pop()
        seen.add(path)
        response = await client.get(path)
        assert response.status == 200, path
        if path.endswith(".js"):
            assert response.content_type == "text/javascript"
            imports = re.findall(r'from "\./([^"]+)"', await response.text())
            wanted |= {f"/ui/assets/{name}" for name in imports}
    assert {"/ui/assets/app.js", "/ui/assets/search.js", "/ui/assets/app.css"} <= seen


async def test_an_unknown_or_escaping_asset_is_a_problem_not_a_file(aiohttp_client):
    client = await ui_client(aiohttp_client)
    for path in ("/ui/assets/nope.js", "/ui/assets/..%2F..%2Fapp.py", "/ui/assets/%2Fetc%2Fpasswd"):
        response = await client.get(path)
        assert response.status == 404, path
        assert response.content_type == "application/problem+json"


async def test_the_config_names_the_oidc_client_only_when_both_are_set(aiohttp_client):
    plain = await ui_client(aiohttp_client)
    assert await (await plain.get("/ui/config.json")).json() == {"oidc": None}
    settings = Settings(
        oidc_issuer="https://tenant.eu.auth0.com/",
        oidc_audience="catalog-api",
        oidc_jwks_url="https://tenant.eu.auth0.com/.well-known/jwks.json",
        oidc_client_id="ui-client",
    )
    client = await ui_client(aiohttp_client, settings)
    response = await client.get("/ui/config.json")
    assert await response.json() == {
        "oidc": {
            "issuer": "https://tenant.eu.auth0.com/",
            "client_id": "ui-client",
            "audience": "catalog-api",
            "scope": "openid profile email",
        }
    }
    # The page may reach the issuer (discovery, token endpoint), and nothing else outside.
    policy = response.headers["Content-Security-Policy"]
    assert "connect-src 'self' https://tenant.eu.auth0.com;" in policy


async def test_only_the_ui_routes_are_public_however_the_path_is_encoded(aiohttp_client):
    client = await ui_client(aiohttp_client)
    # Decoded once more than routing decodes it, this reads /ui/…, yet routes to GET /{id}.
    for path in ("/ui%2Fdb_1", "/ui%2F..%2Fv1%2Fdatabases"):
        response = await client.get(path)
        assert response.status == 401, path
        assert response.content_type == "application/problem+json"
    assert (await client.get("/v1/databases")).status == 401
