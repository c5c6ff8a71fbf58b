"""One error middleware: every failure becomes RFC 9457 problem details, never a stack trace."""

from __future__ import annotations

import logging
import math
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import ValidationError

from catalog.crawlers import TargetSettingsError
from catalog.errors import (
    AuthenticationError,
    CatalogError,
    ConflictError,
    CredentialError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    PasswordRequiredError,
    RateLimitedError,
    TransientError,
)
from catalog.netguard import RefusedTarget

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://catalog.invalid/problems/"
# The first matching class wins: subclasses before their bases.
_STATUS: dict[type[CatalogError], int] = {
    RefusedTarget: 422,
    TargetSettingsError: 422,
    PasswordRequiredError: 422,
    NotFoundError: 404,
    ForbiddenError: 403,
    RateLimitedError: 429,
    ConflictError: 409,
    InvalidInputError: 400,
    AuthenticationError: 401,
    TransientError: 503,
    CredentialError: 500,
}
RETRY_AFTER_SECONDS = "5"


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    slug: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
) -> web.Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + (slug or title.lower().replace(" ", "-")),
        "title": title,
        "status": status,
    }
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    return web.json_response(
        body, status=status, content_type="application/problem+json", headers=headers
    )


def _validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    # Only where and what: pydantic would also echo the input, which may be a password.
    return [
        {"field": ".".join(str(part) for part in err["loc"]), "message": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


def _status_of(exc: CatalogError) -> int:
    for kind, status in _STATUS.items():
        if isinstance(exc, kind):
            return status
    return 500


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    try:
        return await handler(request)
    except ValidationError as exc:
        return problem(
            422,
            "Invalid request",
            "The request does not match the documented schema.",
            slug="invalid-request",
            errors=_validation_errors(exc),
            instance=path,
        )
    except CatalogError as exc:
        status = _status_of(exc)
        headers = {"Retry-After": RETRY_AFTER_SECONDS} if status == 503 else None
        if isinstance(exc, RateLimitedError):
            headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
        if status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        if status >= 500:
            log.warning("%s %s failed: %s: %s", request.method, path, type(exc).__name__, exc)
        return problem(status, exc.title, str(exc), headers=headers, instance=path)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem(
            exc.status,
            exc.reason,
            exc.text if exc.text != exc.reason else None,
            headers={k: v for k, v in exc.headers.items() if k == "Allow"},
            instance=path,
        )
    except Exception:
        # The traceback goes to the log (no locals, so no secrets); the client gets no details.
        log.exception("%s %s failed unexpectedly", request.method, path)
        return problem(500, "Internal error", "An unexpected error occurred.", instance=path)
