"""The gateway's app factory."""

from __future__ import annotations

from aiohttp import web

from catalog.cipher import SecretCipher
from catalog.netguard import TargetPolicy
from catalog.search import SearchIndex
from catalog.settings import Settings
from catalog.store import Store
from gateway.auth import auth_middleware
from gateway.errors import error_middleware
from gateway.keys import CIPHER, INDEX, POLICY, SETTINGS, STORE
from gateway.params import MAX_BODY_BYTES
from gateway.routes import databases, dead_letters, meta, search, seed


def create_app(
    settings: Settings,
    store: Store,
    index: SearchIndex,
    cipher: SecretCipher,
    policy: TargetPolicy | None = None,
) -> web.Application:
    """Build the application around services the caller opened (and will close).

    The target policy comes from the settings unless a test passes one (with its own resolver).
    """
    app = web.Application(
        middlewares=[error_middleware, auth_middleware], client_max_size=MAX_BODY_BYTES
    )
    app[SETTINGS] = settings
    app[STORE] = store
    app[INDEX] = index
    app[CIPHER] = cipher
    app[POLICY] = policy or TargetPolicy.from_lists(settings.target_allow, settings.target_deny)
    app.add_routes(meta.routes)
    app.add_routes(databases.routes)
    app.add_routes(search.routes)
    app.add_routes(dead_letters.routes)
    # Last: the seed's GET /{database_id} would otherwise shadow every other one-segment path.
    app.add_routes(seed.routes)
    return app
