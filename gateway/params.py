"""Parsing of bodies and query parameters into clear 400/422 problems."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from catalog.errors import InvalidInputError

Model = TypeVar("Model", bound=BaseModel)
# Room for a 64 KiB CA bundle in a registration, and little else.
MAX_BODY_BYTES = 128 * 1024


async def read_body(request: web.Request, model: type[Model], optional: bool = False) -> Model:
    """The JSON body as `model`; an optional one may be left out (its defaults)."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise InvalidInputError(f"the body is larger than {MAX_BODY_BYTES} bytes")
    raw = await request.read()
    if optional and not raw.strip():
        return model()
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInputError("the body is not valid JSON") from None
    except RecursionError:
        raise InvalidInputError("the body is nested too deeply") from None
    if not isinstance(data, dict):
        raise InvalidInputError("the body must be a JSON object")
    return model.model_validate(data)


MAX_QUERY_LENGTH = 200
# No request string may hold these (CR, LF, NUL…): they end up in logs, SQL and headers.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# The longest name an engine gives a schema or table (PostgreSQL 63 bytes, MySQL 64 characters),
# with room to spare.
MAX_IDENTIFIER_LENGTH = 255


def query_text(raw: str, name: str) -> str:
    """What to search for: required, and short enough that matching it stays cheap."""
    text = raw.strip()
    if not text:
        raise InvalidInputError(f"'{name}' is required")
    if len(text) > MAX_QUERY_LENGTH:
        raise InvalidInputError(f"'{name}' must be at most {MAX_QUERY_LENGTH} characters")
    return text


def identifier_param(raw: str, name: str) -> str:
    """A schema or table name, as the engine spells it."""
    if not raw:
        raise InvalidInputError(f"'{name}' must not be empty")
    if len(raw) > MAX_IDENTIFIER_LENGTH or CONTROL_CHARACTERS.search(raw):
        raise InvalidInputError(
            f"'{name}' must be a name of at most {MAX_IDENTIFIER_LENGTH} characters, without"
            " control characters"
        )
    return raw


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInputError(f"'{name}' must be a whole number") from None
    if not low <= value <= high:
        raise InvalidInputError(f"'{name}' must be between {low} and {high}")
    return value


def bool_param(request: web.Request, name: str, default: bool) -> bool:
    raw = request.query.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw not in ("true", "false"):
        raise InvalidInputError(f"'{name}' must be true or false")
    return raw == "true"


def list_param(
    request: web.Request, name: str, max_items: int = 20, max_length: int = 200
) -> tuple[str, ...]:
    """A repeatable parameter's values (blank ones ignored), in the order given."""
    values = tuple(value for value in request.query.getall(name, []) if value.strip())
    if len(values) > max_items:
        raise InvalidInputError(f"'{name}' may be given at most {max_items} times")
    if any(len(value) > max_length for value in values):
        raise InvalidInputError(f"each '{name}' must be at most {max_length} characters")
    return values


# RFC 3339's date-time (what OpenAPI's "date-time" means): a date, a time and an offset.
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def datetime_param(request: web.Request, name: str) -> datetime | None:
    """An RFC 3339 instant, like 2026-11-30T12:00:00Z; None when absent."""
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        if not _DATE_TIME.fullmatch(raw):
            raise ValueError(raw)
        return datetime.fromisoformat(raw.upper())
    except ValueError:
        raise InvalidInputError(
            f"'{name}' must be an RFC 3339 date and time with an offset, like 2026-11-30T12:00:00Z"
        ) from None
