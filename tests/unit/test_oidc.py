"""The OIDC verifier against a JWKS served locally, with tokens signed by PyJWT."""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import socket
import time
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from catalog.errors import AuthenticationError, InvalidInputError, TransientError
from catalog.principal import Principal, Role
from gateway.oidc import OidcConfig, OidcVerifier, looks_like_jwt

ISSUER = "https://idp.example/"
AUDIENCE = "catalog-api"
LEEWAY = 60
REFETCH = 30
MAX_AGE = 600
MISSING = object()


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private: Any

    @property
    def jwk(self) -> dict[str, Any]:
        algorithm = RSAAlgorithm if self.alg.startswith("RS") else ECAlgorithm
        public = algorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def with_kid(self, kid: str) -> SigningKey:
        return SigningKey(kid, self.alg, self.private)


def rsa_private():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return SigningKey("rsa-1", "RS256", rsa_private())


@pytest.fixture(scope="module")
def ec_key() -> SigningKey:
    return SigningKey("ec-1", "ES256", ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture(scope="module")
def other_rsa_key() -> SigningKey:
    return SigningKey("rsa-2", "RS256", rsa_private())


@dataclass
class FakeIdp:
    """Serves a JWKS that a test can rotate, break or slow down, and counts the fetches."""

    keys: list[dict[str, Any]]
    url: str = ""
    hits: int = 0
    status: int = 200
    delay: float = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status != 200:
            return web.Response(status=self.status)
        return web.json_response({"keys": self.keys})


class FakeClock:
    """Stands in for time.monotonic, so the JWKS rate limit and max age run without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def config(jwks_url: str, **overrides: Any) -> OidcConfig:
    return OidcConfig(
        issuer=ISSUER,
        audience=AUDIENCE,
        jwks_url=jwks_url,
        leeway_seconds=LEEWAY,
        jwks_refetch_interval_seconds=REFETCH,
        jwks_max_age_seconds=MAX_AGE,
        **overrides,
    )


@pytest.fixture
async def idp(aiohttp_server, rsa_key, ec_key) -> FakeIdp:
    fake = FakeIdp(keys=[rsa_key.jwk, ec_key.jwk])
    app = web.Application()
    app.router.add_get("/jwks", fake.handle)
    server = await aiohttp_server(app)
    fake.url = str(server.make_url("/jwks"))
    return fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def verifier(idp, clock):
    verifier = OidcVerifier(config(idp.url), clock=clock)
    yield verifier
    await verifier.close()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-42",
        "tenant": "acme",
        "role": "editor",
        "iat": now,
        "exp": now + 300,
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not MISSING}


def sign(key: SigningKey, payload: dict[str, Any] | None = None, **headers: Any) -> str:
    headers = {"kid": key.kid, **headers}
    return jwt.encode(payload or claims(), key.private, algorithm=key.alg, headers=headers)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict[str, Any], payload: dict[str, Any], secret: bytes | None) -> str:
    """A token built by hand, as an attacker would: PyJWT refuses to make these."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = b"" if secret is None else hmac.digest(secret, signing_input.encode(), "sha256")
    return f"{signing_input}.{b64url(signature)}"


async def rejected(verifier: OidcVerifier, token: str, match: str) -> None:
    with pytest.raises(AuthenticationError, match=match) as info:
        await verifier.verify(token)
    assert token not in str(info.value)


# Valid tokens


async def test_rs256_token_gives_the_principal(verifier, rsa_key, idp):
    principal = await verifier.verify(sign(rsa_key))
    assert principal == Principal(tenant_id="acme", role=Role.EDITOR, subject=f"user-42@{ISSUER}")
    assert idp.hits == 1


async def test_es256_token_gives_the_principal(verifier, ec_key):
    principal = await verifier.verify(sign(ec_key, claims(role="admin", tenant="globex")))
    assert principal == Principal(tenant_id="globex", role=Role.ADMIN, subject=f"user-42@{ISSUER}")


async def test_a_token_without_role_is_a_reader(verifier, rsa_key):
    principal = await verifier.verify(sign(rsa_key, claims(role=MISSING)))
    assert principal.role is Role.READER


async def test_claim_names_are_configurable(idp, clock, rsa_key):
    custom = OidcVerifier(
        config(
            idp.url,
            tenant_claim="https://catalog.example/tenant",
            role_claim="https://catalog.example/role",
        ),
        clock=clock,
    )
    try:
        token = sign(
            rsa_key,
            claims(
                tenant=MISSING,
                role=MISSING,
                **{
                    "https://catalog.example/tenant": "initech",
                    "https://catalog.example/role": "admin",
                },
            ),
        )
        principal = await custom.verify(token)
    finally:
        await custom.close()
    assert (principal.tenant_id, principal.role) == ("initech", Role.ADMIN)


async def test_an_audience_list_containing_ours_is_accepted(verifier, rsa_key):
    principal = await verifier.verify(sign(rsa_key, claims(aud=["other-api", AUDIENCE])))
    assert principal.subject == f"user-42@{ISSUER}"


async def test_keys_are_cached_between_tokens(verifier, rsa_key, ec_key, idp, clock):
    for _ in range(3):
        await verifier.verify(sign(rsa_key))
        await verifier.verify(sign(ec_key))
        clock.advance(REFETCH + 1)
    assert idp.hits == 1


async def test_concurrent_first_tokens_share_one_fetch(verifier, rsa_key, ec_key, idp):
    principals = await asyncio.gather(*(verifier.verify(sign(k)) for k in [rsa_key, ec_key] * 5))
    assert {p.tenant_id for p in principals} == {"acme"}
    assert idp.hits == 1


# Times


async def test_expired_token_is_rejected(verifier, rsa_key):
    now = int(time.time())
    await rejected(verifier, sign(rsa_key, claims(iat=now - 900, exp=now - 2 * LEEWAY)), "expired")


async def test_token_not_yet_valid_beyond_the_leeway_is_rejected(verifier, rsa_key):
    token = sign(rsa_key, claims(nbf=int(time.time()) + 5 * LEEWAY))
    await rejected(verifier, token, "not valid yet")


async def test_token_issued_in_the_future_beyond_the_leeway_is_rejected(verifier, rsa_key):
    token = sign(rsa_key, claims(iat=int(time.time()) + 5 * LEEWAY))
    await rejected(verifier, token, "not valid yet")


@pytest.mark.parametrize(
    "times",
    [
        {"exp": -LEEWAY // 2},
        {"nbf": LEEWAY // 2},
        {"iat": LEEWAY // 2},
    ],
    ids=["expired-within-leeway", "nbf-within-leeway", "iat-within-leeway"],
)
async def test_clock_skew_within_the_leeway_is_accepted(verifier, rsa_key, times):
    now = int(time.time())
    token = sign(rsa_key, claims(**{name: now + offset for name, offset in times.items()}))
    assert (await verifier.verify(token)).tenant_id == "acme"


async def test_token_without_exp_is_rejected(verifier, rsa_key):
    await rejected(verifier, sign(rsa_key, claims(exp=MISSING)), "'exp' claim")


# Issuer, audience, signature, algorithms


async def test_wrong_audience_is_rejected(verifier, rsa_key):
    await rejected(verifier, sign(rsa_key, claims(aud="another-api")), "another audience")


async def test_missing_audience_is_rejected(verifier, rsa_key):
    await rejected(verifier, sign(rsa_key, claims(aud=MISSING)), "'aud' claim")


async def test_wrong_issuer_is_rejected(verifier, rsa_key):
    await rejected(verifier, sign(rsa_key, claims(iss="https://evil.example/")), "another issuer")


async def test_signature_by_another_key_with_the_same_kid_is_rejected(
    verifier, rsa_key, other_rsa_key
):
    token = sign(other_rsa_key.with_kid(rsa_key.kid))
    await rejected(verifier, token, "signature is not valid")


async def test_tampered_payload_is_rejected(verifier, rsa_key):
    header, _, signature = sign(rsa_key).split(".")
    payload = b64url(json.dumps(claims(role="admin", tenant="victim")).encode())
    await rejected(verifier, f"{header}.{payload}.{signature}", "signature is not valid")


async def test_alg_none_is_rejected_without_touching_the_idp(verifier, rsa_key, idp):
    token = forged({"alg": "none", "typ": "JWT", "kid": rsa_key.kid}, claims(), secret=None)
    assert looks_like_jwt(token)
    await rejected(verifier, token, "algorithm is not accepted")
    assert idp.hits == 0


async def test_hs256_signed_with_the_rsa_public_key_is_rejected(verifier, rsa_key, idp):
    pem = rsa_key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = forged({"alg": "HS256", "typ": "JWT", "kid": rsa_key.kid}, claims(), secret=pem)
    await rejected(verifier, token, "algorithm is not accepted")
    assert idp.hits == 0


async def test_token_alg_must_match_its_key(verifier, rsa_key, ec_key):
    # An accepted algorithm, but the kid names a key of another type.
    await rejected(verifier, sign(ec_key, kid=rsa_key.kid), "does not match its signing key")


async def test_an_algorithm_outside_the_configured_list_is_rejected(idp, clock, rsa_key):
    es_only = OidcVerifier(config(idp.url, algorithms=("ES256",)), clock=clock)
    try:
        await rejected(es_only, sign(rsa_key), "accepted: ES256")
    finally:
        await es_only.close()


@pytest.mark.parametrize("algorithms", [("HS256",), ("RS256", "none"), ()])
def test_symmetric_or_no_algorithms_cannot_be_configured(algorithms):
    with pytest.raises(InvalidInputError, match="public-key"):
        config("https://idp.example/jwks", algorithms=algorithms)


def test_the_jwks_url_must_be_https_off_loopback():
    with pytest.raises(InvalidInputError, match="https"):
        config("http://idp.example/.well-known/jwks.json")
    assert config("http://127.0.0.1:8080/jwks").jwks_url.startswith("http://")


async def test_token_without_kid_is_rejected(verifier, rsa_key, idp):
    token = jwt.encode(claims(), rsa_key.private, algorithm="RS256")
    await rejected(verifier, token, "kid")
    assert idp.hits == 0


@pytest.mark.parametrize(
    "token", ["cat_abc", "a.b", "eyJhbGciOiJSUzI1NiJ9.e30.!!", "Basic dXNlcjpwYXNz"]
)
async def test_non_jwts_are_rejected_without_touching_the_idp(verifier, idp, token):
    await rejected(verifier, token, "not a JWT")
    assert idp.hits == 0


async def test_garbage_in_jwt_shape_is_rejected(verifier):
    await rejected(verifier, "bm90.anNvbg.c2ln", "not a well-formed JWT")


# Claims


async def test_missing_tenant_is_rejected(verifier, rsa_key):
    await rejected(verifier, sign(rsa_key, claims(tenant=MISSING)), "'tenant' claim")


async def test_empty_tenant_is_rejected(verifier, rsa_key):
    await rejected(verifier, sign(rsa_key, claims(tenant="")), "'tenant' claim")


@pytest.mark.parametrize("role", ["superuser", "ADMIN", ["admin"], None])
async def test_unknown_role_is_rejected(verifier, rsa_key, role):
    token = sign(rsa_key, claims(role=role))
    await rejected(verifier, token, "'role' claim must be one of reader, editor, admin")


async def test_missing_subject_is_rejected(verifier, rsa_key):
    await rejected(verifier, sign(rsa_key, claims(sub=MISSING)), "'sub' claim")


# The JWKS cache


async def test_unknown_kid_refetches_once_then_is_rejected(
    verifier, rsa_key, other_rsa_key, idp, clock
):
    await verifier.verify(sign(rsa_key))
    clock.advance(REFETCH + 1)
    await rejected(verifier, sign(other_rsa_key.with_kid("stranger")), "unknown key")
    assert idp.hits == 2


async def test_a_key_rotated_in_is_accepted_after_a_refetch(verifier, rsa_key, idp, clock):
    await verifier.verify(sign(rsa_key))
    rotated = SigningKey("rsa-rotated", "RS256", rsa_private())
    idp.keys = [rotated.jwk, *idp.keys]
    clock.advance(REFETCH + 1)
    principal = await verifier.verify(sign(rotated, claims(sub="after-rotation")))
    assert principal.subject == f"after-rotation@{ISSUER}"
    assert idp.hits == 2
    # The old key still verifies: it is in the refetched set too.
    assert (await verifier.verify(sign(rsa_key))).subject == f"user-42@{ISSUER}"
    assert idp.hits == 2


async def test_unknown_kids_refetch_at_most_once_per_interval(
    verifier, rsa_key, other_rsa_key, idp, clock
):
    await verifier.verify(sign(rsa_key))
    clock.advance(REFETCH + 1)
    await rejected(verifier, sign(other_rsa_key.with_kid("stranger-1")), "unknown key")
    await rejected(verifier, sign(other_rsa_key.with_kid("stranger-2")), "unknown key")
    clock.advance(REFETCH - 1)
    await rejected(verifier, sign(other_rsa_key.with_kid("stranger-3")), "unknown key")
    assert idp.hits == 2
    clock.advance(2)
    await rejected(verifier, sign(other_rsa_key.with_kid("stranger-4")), "unknown key")
    assert idp.hits == 3


async def test_a_withdrawn_key_stops_verifying_once_the_cache_is_old(
    verifier, rsa_key, ec_key, idp, clock
):
    await verifier.verify(sign(rsa_key))
    idp.keys = [ec_key.jwk]
    clock.advance(MAX_AGE - 1)
    assert (await verifier.verify(sign(rsa_key))).tenant_id == "acme"
    assert idp.hits == 1
    clock.advance(2)
    await rejected(verifier, sign(rsa_key), "unknown key")
    assert idp.hits == 2


async def test_unusable_jwks_entries_are_skipped(verifier, rsa_key, idp):
    idp.keys = [
        {"kty": "EC", "crv": "P-999", "x": "AA", "y": "AA", "kid": "odd-curve"},
        {**rsa_key.jwk, "kid": "for-encryption", "use": "enc"},
        {k: v for k, v in rsa_key.jwk.items() if k != "kid"},
        "not-a-key",
        rsa_key.jwk,
    ]
    assert (await verifier.verify(sign(rsa_key))).tenant_id == "acme"
    await rejected(verifier, sign(rsa_key.with_kid("for-encryption")), "unknown key")


# An unreachable or broken IdP


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_unreachable_idp_is_transient(clock, rsa_key):
    url = f"http://127.0.0.1:{closed_port()}/jwks"
    verifier = OidcVerifier(config(url), clock=clock)
    try:
        with pytest.raises(TransientError, match="unreachable") as info:
            await verifier.verify(sign(rsa_key))
    finally:
        await verifier.close()
    assert info.value.error_class == "unreachable"


@pytest.mark.parametrize("status", [500, 503, 404])
async def test_idp_error_status_is_transient_and_retried_after_the_interval(
    verifier, rsa_key, idp, clock, status
):
    idp.status = status
    with pytest.raises(TransientError, match=f"HTTP {status}"):
        await verifier.verify(sign(rsa_key))
    # Within the interval, requests fail fast instead of queueing on a dead IdP.
    with pytest.raises(TransientError):
        await verifier.verify(sign(rsa_key))
    assert idp.hits == 1
    idp.status = 200
    clock.advance(REFETCH + 1)
    assert (await verifier.verify(sign(rsa_key))).tenant_id == "acme"
    assert idp.hits == 2


async def test_slow_idp_times_out_as_transient(idp, clock, rsa_key):
    idp.delay = 0.5
    verifier = OidcVerifier(config(idp.url, jwks_timeout_seconds=0.05), clock=clock)
    started = time.monotonic()
    try:
        with pytest.raises(TransientError, match="timed out") as info:
            await verifier.verify(sign(rsa_key))
    finally:
        await verifier.close()
    assert info.value.error_class == "timeout"
    assert time.monotonic() - started < 0.4


async def test_cached_keys_keep_verifying_while_the_idp_is_down(verifier, rsa_key, idp, clock):
    await verifier.verify(sign(rsa_key))
    idp.status = 503
    clock.advance(MAX_AGE + 1)
    assert (await verifier.verify(sign(rsa_key))).tenant_id == "acme"
    assert idp.hits == 2


async def test_unknown_kid_while_the_idp_is_down_is_transient(
    verifier, rsa_key, other_rsa_key, idp, clock
):
    await verifier.verify(sign(rsa_key))
    idp.status = 503
    clock.advance(REFETCH + 1)
    with pytest.raises(TransientError):
        await verifier.verify(sign(other_rsa_key))
    assert idp.hits == 2


async def test_close_is_safe_before_any_fetch_and_twice(idp, verifier, rsa_key):
    await verifier.close()
    await verifier.verify(sign(rsa_key))
    await verifier.close()
    await verifier.close()
    assert idp.hits == 1


# Helpers


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", True),
        ("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", True),
        ("cat_Zm9vYmFyYmF6", False),
        ("a.b", False),
        ("a.b.c.d", False),
        ("a.b+c.d", False),
        ("a.b c.d", False),
        ("", False),
    ],
)
def test_looks_like_jwt(token, expected):
    assert looks_like_jwt(token) is expected


@pytest.mark.parametrize(
    ("held", "needed", "allowed"),
    [
        (Role.ADMIN, Role.EDITOR, True),
        (Role.ADMIN, Role.READER, True),
        (Role.EDITOR, Role.EDITOR, True),
        (Role.EDITOR, Role.ADMIN, False),
        (Role.READER, Role.EDITOR, False),
        (Role.READER, Role.READER, True),
    ],
)
def test_roles_nest(held, needed, allowed):
    assert held.allows(needed) is allowed
