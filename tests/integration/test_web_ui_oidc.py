"""The web UI's OIDC sign-in in headless Chromium: the authorization-code flow with PKCE against
an issuer's discovery document, as Auth0 runs it. The issuer here is a small one of the test's
own (discovery, authorize, token and JWKS endpoints), since no real IdP runs on this machine;
the gateway verifies the token it issues like any other."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from playwright.async_api import async_playwright, expect

from catalog.bootstrap import Services
from catalog.cipher import SecretCipher, generate_key
from catalog.models import DEFAULT_TENANT
from catalog.settings import Settings
from gateway.app import create_app
from tests.browser import keep_screenshot
from tests.fakes import InMemorySearchIndex, InMemoryStore

AUDIENCE = "catalog-api"
CLIENT_ID = "catalog-ui"
WAIT_MS = 30_000


@dataclass
class Issuer:
    url: str = ""
    authorized: list[dict[str, str]] = field(default_factory=list)
    exchanged: list[dict[str, str]] = field(default_factory=list)
    challenges: dict[str, str] = field(default_factory=dict)  # code -> code_challenge
    # Send the browser back with another state than it sent (a forged or mixed-up answer).
    forge_state: bool = False


def _issuer_app(issuer: Issuer) -> web.Application:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    # The UI calls discovery and the token endpoint from another origin: CORS, as IdPs allow.
    cors = {"Access-Control-Allow-Origin": "*"}

    async def discovery(request: web.Request) -> web.Response:
        base = issuer.url.rstrip("/")
        document = {
            "issuer": issuer.url,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "jwks_uri": f"{base}/jwks.json",
        }
        return web.json_response(document, headers=cors)

    async def authorize(request: web.Request) -> web.Response:
        params = dict(request.query)
        issuer.authorized.append(params)
        code = f"code-{len(issuer.authorized)}"
        issuer.challenges[code] = params["code_challenge"]
        # The person signs in at the IdP; it sends the browser back with a code.
        state = "forged" if issuer.forge_state else params["state"]
        back = urlencode({"code": code, "state": state})
        raise web.HTTPFound(f"{params['redirect_uri']}?{back}")

    async def token(request: web.Request) -> web.Response:
        form = dict(await request.post())
        issuer.exchanged.append(form)
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        proof = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if issuer.challenges.pop(form.get("code", ""), None) != proof:
            return web.json_response({"error": "invalid_grant"}, status=400, headers=cors)
        now = int(time.time())
        claims = {
            "iss": issuer.url,
            "aud": AUDIENCE,
            "sub": "alice",
            "iat": now,
            "exp": now + 300,
            "tenant": DEFAULT_TENANT,
            "role": "editor",
        }
        access = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
        return web.json_response({"access_token": access, "token_type": "Bearer"}, headers=cors)

    async def jwks(request: web.Request) -> web.Response:
        return web.json_response({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]})

    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", discovery)
    app.router.add_get("/authorize", authorize)
    app.router.add_post("/oauth/token", token)
    app.router.add_get("/jwks.json", jwks)
    return app


async def test_oidc_sign_in_with_pkce_and_a_forged_callback(chromium: str, aiohttp_server):
    issuer = Issuer()
    idp = await aiohttp_server(_issuer_app(issuer))
    issuer.url = str(idp.make_url("/"))
    settings = Settings(
        oidc_issuer=issuer.url,
        oidc_audience=AUDIENCE,
        oidc_jwks_url=str(idp.make_url("/jwks.json")),
        oidc_client_id=CLIENT_ID,
    )
    cipher = SecretCipher.from_keys([generate_key()])
    services = Services(settings, InMemoryStore(), InMemorySearchIndex(), cipher, None)
    gateway = await aiohttp_server(create_app(services))
    origin = str(gateway.make_url("")).rstrip("/")

    async with async_playwright() as playwright:
        browser = await playwright.chromium.connect_over_cdp(chromium)
        try:
            page = await (await browser.new_context()).new_page()
            await page.goto(f"{origin}/ui/databases")
            await page.get_by_role("button", name=f"Sign in with {idp.host}:{idp.port}").click()
            # Back from the IdP, signed in, on the page asked for.
            await expect(page.locator("#caller")).to_have_text(
                "alice@" + issuer.url + " (editor)", timeout=WAIT_MS
            )
            await expect(page.get_by_role("heading", name="Databases")).to_be_visible()
            assert page.url == f"{origin}/ui/databases"
            await keep_screenshot(page, "oidc_signed_in")
            [asked] = issuer.authorized
            assert asked["response_type"] == "code"
            assert asked["client_id"] == CLIENT_ID
            assert asked["code_challenge_method"] == "S256"
            assert asked["audience"] == AUDIENCE
            assert asked["redirect_uri"] == f"{origin}/ui/callback"
            assert "openid" in asked["scope"].split()
            [traded] = issuer.exchanged
            assert traded["grant_type"] == "authorization_code"
            assert traded["code_verifier"] not in json.dumps(asked)  # only its hash went out

            # An answer with another state than this tab's sign-in sent signs nobody in, and its
            # code is never traded.
            fresh = await (await browser.new_context()).new_page()
            await fresh.goto(f"{origin}/ui/search")
            issuer.forge_state = True
            await fresh.get_by_role("button", name=f"Sign in with {idp.host}:{idp.port}").click()
            refused = fresh.get_by_role("alert")
            await expect(refused).to_contain_text(
                "does not match a sign-in started here", timeout=WAIT_MS
            )
            assert len(issuer.authorized) == 2
            assert len(issuer.exchanged) == 1
            await keep_screenshot(fresh, "oidc_forged_callback")
            # Nor does a link to the callback that no sign-in started; the text it carries as
            # the issuer's error is not shown.
            await fresh.goto(f"{origin}/ui/callback?error=x&error_description=Call+0800+now")
            await expect(refused).to_contain_text("does not match", timeout=WAIT_MS)
            assert "0800" not in await fresh.locator("main").inner_text()
            assert len(issuer.exchanged) == 1
        finally:
            await browser.close()
