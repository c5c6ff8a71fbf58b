"""Opaque page cursors: url-safe base64 of a small JSON object."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from catalog.errors import InvalidInputError


def encode_cursor(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str, keys: tuple[str, ...]) -> dict[str, Any]:
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidInputError("the cursor is not one this API issued") from None
    if not isinstance(position, dict) or set(position) != set(keys):
        raise InvalidInputError("the cursor is not one this API issued")
    return position
