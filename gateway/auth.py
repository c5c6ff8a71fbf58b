"""Who is calling: bearer tokens (our own API tokens, or OIDC JWTs) become a Principal, and
every route states the role it needs. Tenancy is enforced where resources are loaded
(gateway/access.py)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from catalog.errors import AuthenticationError, ForbiddenError, NotFoundError, RateLimitedError
from catalog.principal import Principal, Role
from catalog.tokens import token_hash
from gateway.keys import AUTH_FAILURES, OIDC, PRINCIPAL, STORE, TOKENS
from gateway.oidc import looks_like_jwt

# ReDoc's script, served from the package for the /redoc page.
REDOC_BUNDLE_PATH = "/redoc/redoc.standalone.js"
PUBLIC_PATHS = frozenset(
    {"/healthz", "/readyz", "/openapi.json", "/asyncapi.json", "/redoc", REDOC_BUNDLE_PATH}
)
# The web UI's page and assets: static files that hold no data. The page asks for a token and
# sends it with every API call it makes.
UI_PREFIX = "/ui"


def is_public(request: web.Request) -> bool:
    """Whether the route the request matched is one of the public ones. Decided by the route,
    not the path: a path decoded once more than routing decodes it (`/ui%2F…`) would pass a
    path test and then match another route."""
    resource = request.match_info.route.resource
    if resource is None:  # no route matched: as before, a token comes first, then the 404
        return False
    route = resource.canonical
    return route in PUBLIC_PATHS or route == UI_PREFIX or route.startswith(UI_PREFIX + "/")


async def _authenticate(request: web.Request, token: str, hashed: bytes) -> Principal:
    verifier = request.app[OIDC]
    if verifier is not None and looks_like_jwt(token):
        principal = await verifier.verify(token)
        try:
            await request.app[STORE].get_tenant(principal.tenant_id)
        except NotFoundError:
            raise AuthenticationError(
                "the token names a tenant this catalog does not have"
            ) from None
        return principal
    principal = await request.app[TOKENS].principal(request.app[STORE], hashed)
    if principal is None:
        raise AuthenticationError("the bearer token is not valid")
    return principal


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if is_public(request):
        return await handler(request)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("send 'Authorization: Bearer <token>'")
    request[PRINCIPAL] = await _checked(request, token.strip())
    return await handler(request)


async def _checked(request: web.Request, token: str) -> Principal:
    """Authenticate; an address that keeps failing is refused before any store query, but a
    token this process confirmed lately still works from there."""
    # API tokens and JWTs are ASCII; other bytes are not a token.
    hashed = token_hash(token) if token.isascii() else None
    known = hashed is not None and request.app[TOKENS].known(hashed)
    if known:
        return known
    failures, address = request.app[AUTH_FAILURES], request.remote or "unknown"
    wait = failures.peek(address)
    if wait:
        raise RateLimitedError(
            "too many failed authentications from this address; retry later", retry_after=wait
        )
    try:
        if hashed is None:
            raise AuthenticationError("the bearer token is not valid")
        return await _authenticate(request, token, hashed)
    except AuthenticationError:
        failures.take(address)
        raise


def caller(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def require(request: web.Request, role: Role) -> Principal:
    """The caller, if their role allows `role`; 403 otherwise."""
    principal = caller(request)
    if not principal.role.allows(role):
        raise ForbiddenError(f"this needs the {role} role; the caller is a {principal.role}")
    return principal
