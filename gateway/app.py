"""The gateway's app factory."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from catalog.abbreviations import BUILTIN, Abbreviations, read_abbreviations
from catalog.bootstrap import Services
from catalog.crawler import CrawlerFactory
from catalog.crawlers import crawler_factory
from catalog.credentials import KeyProbe
from catalog.errors import InvalidInputError
from catalog.netguard import TargetPolicy
from catalog.settings import Settings
from gateway.answers import AnswerCache
from gateway.auth import auth_middleware
from gateway.buckets import TokenBuckets
from gateway.errors import error_middleware
from gateway.keys import (
    ABBREVIATIONS,
    ANSWERS,
    AUTH_FAILURES,
    CIPHER,
    CRAWLERS,
    INDEX,
    KEY_PROBE,
    OIDC,
    POLICY,
    SETTINGS,
    STORE,
    TOKENS,
)
from gateway.known_tokens import KnownTokens
from gateway.oidc import OidcConfig, OidcVerifier
from gateway.params import MAX_BODY_BYTES
from gateway.ratelimit import rate_limit_middleware
from gateway.request_metrics import request_metrics_middleware
from gateway.routes import admin, changes, databases, dead_letters, meta, search, seed, ui


def oidc_config(settings: Settings) -> OidcConfig | None:
    if settings.oidc_issuer is None:
        return None
    if not (settings.oidc_audience and settings.oidc_jwks_url):
        raise InvalidInputError(
            "CATALOG_OIDC_ISSUER needs CATALOG_OIDC_AUDIENCE and CATALOG_OIDC_JWKS_URL"
        )
    return OidcConfig(
        issuer=settings.oidc_issuer,
        audience=settings.oidc_audience,
        jwks_url=settings.oidc_jwks_url,
        tenant_claim=settings.oidc_tenant_claim,
        role_claim=settings.oidc_role_claim,
        leeway_seconds=settings.oidc_leeway,
    )


def abbreviations(settings: Settings) -> Abbreviations:
    if settings.abbreviations_file is None:
        return BUILTIN
    return BUILTIN.extended(read_abbreviations(settings.abbreviations_file))


def create_app(
    services: Services,
    *,
    policy: TargetPolicy | None = None,
    crawlers: CrawlerFactory | None = None,
) -> web.Application:
    """Build the application around services the caller opened (and will close).

    The target policy and the crawlers (for "test connection") come from the settings unless a
    test passes its own.
    """
    settings = services.settings
    buckets = TokenBuckets(settings.rate_limit, settings.rate_burst)
    app = web.Application(
        middlewares=[
            request_metrics_middleware,
            error_middleware,
            auth_middleware,
            rate_limit_middleware(buckets),
        ],
        client_max_size=MAX_BODY_BYTES,
    )
    app[SETTINGS] = settings
    app[STORE] = services.store
    app[INDEX] = services.index
    app[CIPHER] = services.cipher
    app[KEY_PROBE] = KeyProbe()
    app[ABBREVIATIONS] = abbreviations(settings)
    app[ANSWERS] = AnswerCache(settings.search_cache_mb * 1024 * 1024)
    app[TOKENS] = KnownTokens()
    app[AUTH_FAILURES] = TokenBuckets(settings.auth_failure_rate, settings.auth_failure_burst)
    app[POLICY] = policy or TargetPolicy.from_settings(settings)
    app[CRAWLERS] = crawlers or crawler_factory(settings, app[POLICY])
    config = oidc_config(settings)
    app[OIDC] = None

    async def oidc_verifier(app: web.Application) -> AsyncIterator[None]:
        # Its HTTP session belongs to the running loop: made at startup, closed at cleanup.
        app[OIDC] = OidcVerifier(config) if config else None
        yield
        if app[OIDC] is not None:
            await app[OIDC].close()

    app.cleanup_ctx.append(oidc_verifier)
    app.add_routes(meta.routes)
    app.add_routes(databases.routes)
    app.add_routes(search.routes)
    app.add_routes(dead_letters.routes)
    app.add_routes(changes.routes)
    app.add_routes(admin.routes)
    app.add_routes(ui.routes)
    # Last: the seed's GET /{database_id} would otherwise shadow every other one-segment path.
    app.add_routes(seed.routes)
    return app
