"""OIDC bearer tokens through the gateway: a JWT from the IdP becomes a tenant's principal."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from catalog.bootstrap import Services
from catalog.cipher import SecretCipher, generate_key
from catalog.models import DEFAULT_TENANT, Tenant
from catalog.settings import Settings
from gateway.app import create_app
from tests.fakes import InMemorySearchIndex, InMemoryStore

ISSUER = "https://idp.example.test/"
AUDIENCE = "catalog-api"


@pytest.fixture
async def idp(aiohttp_server):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    app = web.Application()

    async def jwks(request: web.Request) -> web.Response:
        return web.json_response({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]})

    app.router.add_get("/jwks.json", jwks)
    server = await aiohttp_server(app)
    return key, str(server.make_url("/jwks.json"))


def token(key, **claims) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300}
    return jwt.encode({**body, **claims}, key, algorithm="RS256", headers={"kid": "k1"})


async def test_a_valid_jwt_reads_its_tenant_only(aiohttp_client, idp):
    key, jwks_url = idp
    store = InMemoryStore()
    created = store.tenants[DEFAULT_TENANT].created_at
    store.tenants["tenant_a"] = Tenant("tenant_a", "a", created)
    settings = Settings(oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_url=jwks_url)
    services = Services(
        settings, store, InMemorySearchIndex(), SecretCipher.from_keys([generate_key()]), None
    )
    client = await aiohttp_client(create_app(services))

    def bearer(value: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {value}"}

    ok = await client.get("/v1/databases", headers=bearer(token(key, tenant="tenant_a")))
    assert ok.status == 200
    editor = bearer(token(key, tenant="tenant_a", role="editor"))
    body = {"dbname": "d", "user": "u", "password": "p", "host": "10.0.0.5"}
    created_db = await client.post("/v1/databases", json=body, headers=editor)
    assert created_db.status == 201
    reader = bearer(token(key, tenant="tenant_a"))
    assert (await client.post("/v1/databases", json=body, headers=reader)).status == 403
    for bad in (
        token(key, tenant="nobody"),  # a tenant this catalog does not have
        token(key, tenant="tenant_a", aud="someone-else"),
        token(key, tenant="tenant_a", exp=int(time.time()) - 3600),
    ):
        response = await client.get("/v1/databases", headers=bearer(bad))
        assert response.status == 401
        assert bad not in await response.text()
