"""The web UI: one page and its assets, shipped in the package (no CDN, no build step).

Every path under /ui/ that is not an asset answers the same page, so that a result page or a
table page can be linked and reloaded; the page's script reads the path and asks the API.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from aiohttp import web

from catalog.errors import NotFoundError
from catalog.settings import Settings
from gateway.auth import UI_PREFIX
from gateway.keys import SETTINGS

routes = web.RouteTableDef()

_PAGE = "index.html"
_CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css"}


@cache
def _files() -> dict[str, bytes]:
    """The folder's files by name, read once. A request's name is only looked up here: no path
    leaves the folder, and names that are not there cost nothing to remember."""
    folder = resources.files("gateway") / "static" / "ui"
    return {entry.name: entry.read_bytes() for entry in folder.iterdir() if entry.is_file()}


def _policy(settings: Settings) -> str:
    """Scripts and styles from the gateway only, so nothing a name holds can run; the API is
    same-origin, and the OIDC issuer is reached for its discovery document and token endpoint."""
    connect = "'self'"
    if settings.oidc_issuer and settings.oidc_client_id:
        issuer = urlsplit(settings.oidc_issuer)
        connect += f" {issuer.scheme}://{issuer.netloc}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        f" connect-src {connect}; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def _headers(settings: Settings) -> dict[str, str]:
    return {
        "Content-Security-Policy": _policy(settings),
        "X-Content-Type-Options": "nosniff",
        # An authorization code in the callback's URL must not travel on in a Referer.
        "Referrer-Policy": "no-referrer",
        # A new release's assets are fetched again after a reload, never mixed with old ones.
        "Cache-Control": "no-cache",
    }


@routes.get(UI_PREFIX)
async def ui_root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPPermanentRedirect(f"{UI_PREFIX}/")


@routes.get(f"{UI_PREFIX}/config.json")
async def ui_config(request: web.Request) -> web.Response:
    """What the page needs before sign-in: whether, and where, it can sign in with OIDC."""
    settings = request.app[SETTINGS]
    oidc = None
    if settings.oidc_issuer and settings.oidc_client_id:
        oidc = {
            "issuer": settings.oidc_issuer,
            "client_id": settings.oidc_client_id,
            "audience": settings.oidc_audience,
            "scope": settings.oidc_scope,
        }
    return web.json_response({"oidc": oidc}, headers=_headers(settings))


@routes.get(UI_PREFIX + "/assets/{name}")
async def ui_asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    content_type = _CONTENT_TYPES.get(PurePosixPath(name).suffix)
    body = _files().get(name)
    if body is None or content_type is None:
        raise NotFoundError(f"the UI has no asset {name!r}")
    return web.Response(
        body=body, content_type=content_type, headers=_headers(request.app[SETTINGS])
    )


@routes.get(UI_PREFIX + "/{page:.*}")
async def ui_page(request: web.Request) -> web.Response:
    return web.Response(
        body=_files()[_PAGE], content_type="text/html", headers=_headers(request.app[SETTINGS])
    )
