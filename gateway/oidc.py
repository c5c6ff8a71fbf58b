"""OIDC bearer tokens (Auth0, Keycloak, Okta, ...): verify a JWT against the IdP's JWKS.

The signature, issuer, audience and times are checked by PyJWT; this module picks the key,
keeps the JWKS cached, and turns the claims into a Principal. Tokens are never logged or echoed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import jwt

from catalog.errors import AuthenticationError, InvalidInputError, TransientError
from catalog.principal import Principal, Role

log = logging.getLogger(__name__)

# Public-key algorithms only: a shared-secret one (HS256) would let anyone holding the
# published public key forge tokens (key confusion), and "none" signs nothing.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_ROLE_VALUES = frozenset(role.value for role in Role)
# header.payload.signature, base64url without padding; the signature may be empty (alg none),
# which is still a JWT, to be refused with a precise message rather than as an unknown token.
_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def looks_like_jwt(token: str) -> bool:
    """Tell a JWT from our opaque API tokens (`cat_...`, which hold no dots)."""
    return _JWT_SHAPE.fullmatch(token) is not None


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    audience: str
    # Given explicitly (e.g. https://issuer/.well-known/jwks.json): no discovery round trip.
    jwks_url: str
    tenant_claim: str = "tenant"
    # Values reader|editor|admin; a token without it is a reader.
    role_claim: str = "role"
    # Clock skew tolerated on exp, nbf and iat.
    leeway_seconds: float = 60
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    # An unknown kid may trigger a refetch, but not more often than this: anyone can send
    # a token with a made-up kid, and must not be able to make us hammer the IdP.
    jwks_refetch_interval_seconds: float = 30
    # Cached keys are refreshed after this long, so a key the IdP withdrew stops verifying.
    jwks_max_age_seconds: float = 600
    jwks_timeout_seconds: float = 5

    def __post_init__(self) -> None:
        for name in ("issuer", "audience", "jwks_url", "tenant_claim", "role_claim"):
            if not getattr(self, name):
                raise InvalidInputError(f"OIDC {name} must not be empty")
        if not self.algorithms or not set(self.algorithms) <= ASYMMETRIC_ALGORITHMS:
            raise InvalidInputError(
                "OIDC algorithms must be public-key ones: "
                + ", ".join(sorted(ASYMMETRIC_ALGORITHMS))
            )
        url = urlsplit(self.jwks_url)
        # Whoever can alter the JWKS in transit can mint tokens: plain HTTP only on loopback.
        if url.scheme != "https" and not (url.scheme == "http" and url.hostname in _LOOPBACK_HOSTS):
            raise InvalidInputError("OIDC jwks_url must use https")
        if self.leeway_seconds < 0:
            raise InvalidInputError("OIDC leeway_seconds must not be negative")
        if self.jwks_timeout_seconds <= 0:
            raise InvalidInputError("OIDC jwks_timeout_seconds must be positive")


class OidcVerifier:
    """Verifies OIDC access tokens; one per process, closed with close() on shutdown."""

    def __init__(
        self,
        config: OidcConfig,
        session_factory: Callable[[], aiohttp.ClientSession] = aiohttp.ClientSession,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._session_factory = session_factory
        self._session: aiohttp.ClientSession | None = None
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch, successful or not
        self._fetch_error: TransientError | None = None  # why the last fetch failed
        # One fetch at a time: requests arriving meanwhile wait for it instead of adding theirs.
        self._lock = asyncio.Lock()

    async def verify(self, token: str) -> Principal:
        if not looks_like_jwt(token):
            raise AuthenticationError("the bearer token is not a JWT")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthenticationError("the bearer token is not a well-formed JWT") from exc
        alg = header.get("alg")
        # Checked before any key lookup, so alg=none or HS256 never reach a key or the IdP.
        if alg not in self._config.algorithms:
            raise AuthenticationError(
                "the token's signing algorithm is not accepted (accepted: "
                + ", ".join(self._config.algorithms)
                + ")"
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthenticationError("the token header names no signing key (kid)")
        key = await self._signing_key(kid)
        # The key decides the algorithm, not the token: an RSA key verifies RS256 only.
        if key.algorithm_name != alg:
            raise AuthenticationError("the token's algorithm does not match its signing key")
        claims = self._decode(token, key, alg)
        return self._principal(claims)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _decode(self, token: str, key: jwt.PyJWK, alg: str) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self._config.audience,
                issuer=self._config.issuer,
                leeway=self._config.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationError("the token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise AuthenticationError("the token is not valid yet") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationError(f"the token has no {exc.claim!r} claim") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthenticationError("the token is meant for another audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthenticationError("the token comes from another issuer") from exc
        except jwt.InvalidSignatureError as exc:
            raise AuthenticationError("the token's signature is not valid") from exc
        except jwt.PyJWTError as exc:
            raise AuthenticationError("the bearer token is not valid") from exc

    def _principal(self, claims: dict[str, Any]) -> Principal:
        tenant_claim, role_claim = self._config.tenant_claim, self._config.role_claim
        tenant = claims.get(tenant_claim)
        if not isinstance(tenant, str) or not tenant:
            raise AuthenticationError(f"the token has no {tenant_claim!r} claim")
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise AuthenticationError("the token's 'sub' claim is not a string")
        raw_role = claims.get(role_claim, Role.READER.value)
        if not isinstance(raw_role, str) or raw_role not in _ROLE_VALUES:
            raise AuthenticationError(
                f"the token's {role_claim!r} claim must be one of "
                + ", ".join(role.value for role in Role)
            )
        # `sub` is unique within its issuer only: the pair names the caller.
        return Principal(
            tenant_id=tenant, role=Role(raw_role), subject=f"{subject}@{claims['iss']}"
        )

    def _fresh_key(self, kid: str) -> jwt.PyJWK | None:
        if self._fetched_at is None:
            return None
        if self._clock() - self._fetched_at >= self._config.jwks_max_age_seconds:
            return None
        return self._keys.get(kid)

    async def _signing_key(self, kid: str) -> jwt.PyJWK:
        if (key := self._fresh_key(kid)) is not None:
            return key
        async with self._lock:
            # A fetch that finished while this request waited may have brought the key.
            if (key := self._fresh_key(kid)) is not None:
                return key
            now = self._clock()
            interval = self._config.jwks_refetch_interval_seconds
            if self._attempted_at is None or now - self._attempted_at >= interval:
                self._attempted_at = now
                try:
                    self._keys = await self._fetch_keys()
                except TransientError as exc:
                    self._fetch_error = exc
                    log.warning(
                        "cannot fetch the OIDC JWKS from %s: %s", self._config.jwks_url, exc
                    )
                else:
                    self._fetched_at = self._clock()
                    self._fetch_error = None
                    log.info("fetched %d OIDC signing keys", len(self._keys))
        # A stale key still verifies while the IdP is down: an outage must not log everyone out.
        if (key := self._keys.get(kid)) is not None:
            return key
        # The key may well exist: the IdP could not tell us, so this is a 503, not a 401.
        if self._fetch_error is not None:
            raise TransientError(str(self._fetch_error), self._fetch_error.error_class)
        raise AuthenticationError("the token is signed by an unknown key")

    async def _fetch_keys(self) -> dict[str, jwt.PyJWK]:
        """The usable signing keys by kid; an unreachable or broken IdP is a TransientError."""
        if self._session is None:
            self._session = self._session_factory()
        timeout = aiohttp.ClientTimeout(total=self._config.jwks_timeout_seconds)
        try:
            async with self._session.get(self._config.jwks_url, timeout=timeout) as response:
                if response.status != 200:
                    raise TransientError(
                        f"the identity provider's JWKS answered HTTP {response.status}"
                    )
                body = await response.json(content_type=None)
        except TimeoutError as exc:
            raise TransientError("the identity provider's JWKS timed out", "timeout") from exc
        except aiohttp.ClientError as exc:
            raise TransientError(
                "the identity provider's JWKS is unreachable", "unreachable"
            ) from exc
        except ValueError as exc:
            raise TransientError("the identity provider's JWKS is not JSON") from exc
        entries = body.get("keys") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            raise TransientError("the identity provider's JWKS has no 'keys' list")
        keys: dict[str, jwt.PyJWK] = {}
        for entry in entries:
            # Encryption keys and keys without a kid can never match a signed token.
            if not isinstance(entry, dict) or entry.get("use") == "enc":
                continue
            kid = entry.get("kid")
            if not isinstance(kid, str) or not kid:
                continue
            try:
                keys[kid] = jwt.PyJWK(entry)
            except jwt.PyJWTError as exc:
                # One odd key (an unsupported curve) must not disable the others.
                log.warning("skipping OIDC signing key %r: %s", kid, exc)
        return keys
