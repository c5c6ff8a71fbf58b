"""Opaque, sortable identifiers."""

from __future__ import annotations

import secrets
import time


def new_id(prefix: str) -> str:
    """`prefix_`, 48-bit milliseconds and 80 random bits in hex: unique, roughly time-ordered."""
    return f"{prefix}_{int(time.time() * 1000):012x}{secrets.token_hex(10)}"
