"""Scrub secrets out of text that came from elsewhere (driver errors) before it is kept or shown."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
# user:password@ inside any URL-like DSN (postgresql://u:p@h, mysql://…, nats://…).
_DSN_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://[^\s:/@]*):[^\s@/]*@")
# password=… in key/value connection strings.
_KV_PASSWORD = re.compile(r"(?i)(password\s*=\s*)('[^']*'|\"[^\"]*\"|\S+)")


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    text = _DSN_PASSWORD.sub(rf"\g<scheme>:{MASK}@", text)
    return _KV_PASSWORD.sub(rf"\g<1>{MASK}", text)
