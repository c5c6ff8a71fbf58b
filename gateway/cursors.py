"""Opaque page cursors: url-safe base64 of a small JSON object."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from catalog.errors import InvalidInputError

_BIGINT = 2**63


def encode_cursor(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode()


class _Listed(Protocol):
    @property
    def id(self) -> Any: ...


Row = TypeVar("Row", bound=_Listed)


def page_after(rows: Sequence[Row], limit: int) -> tuple[Sequence[Row], str | None]:
    """A list's page from `limit` + 1 rows fetched: the first `limit`, and the cursor after the
    last of them when the extra row says there are more."""
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], encode_cursor({"after": rows[limit - 1].id})


def after_cursor(cursor: str | None, kind: type) -> Any:
    """The `after` position of a list's cursor (None for the first page), of type `kind`."""
    return decode_cursor(cursor, ("after",), kind)["after"] if cursor else None


def decode_cursor(cursor: str, keys: tuple[str, ...], kind: type | None = None) -> dict[str, Any]:
    """The position in `cursor`; with `kind`, every value must be of that type (a forged cursor's
    list or text would otherwise reach the store or int() and fail there)."""
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidInputError("the cursor is not one this API issued") from None
    if not isinstance(position, dict) or set(position) != set(keys):
        raise InvalidInputError("the cursor is not one this API issued")
    if kind is not None and not all(type(position[key]) is kind for key in keys):
        raise InvalidInputError("the cursor is not one this API issued")
    if kind is int and not all(0 <= position[key] < _BIGINT for key in keys):
        raise InvalidInputError("the cursor is not one this API issued")  # the store's bigint
    return position
