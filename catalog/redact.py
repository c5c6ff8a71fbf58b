"""Scrub DSN passwords out of text that came from elsewhere before it is kept or shown.

A defence in depth only: messages are built without secrets in the first place (the crawlers
give drivers the password as an argument, never in a DSN, and format errors from their fields).
Known secrets are never masked by substring: a one-letter password would mask that letter
everywhere, and so both garble the text and tell which letter it is.
"""

from __future__ import annotations

import re

MASK = "***"
# user:password@ inside any URL-like DSN (postgresql://u:p@h, mysql://…, nats://…), up to the
# last @ before the host: a password may hold an unescaped @.
_DSN_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://[^\s:/@]*):[^\s/]*@")
# password=… in key/value connection strings.
_KV_PASSWORD = re.compile(r"(?i)(password\s*=\s*)('[^']*'|\"[^\"]*\"|\S+)")


def scrub(text: str) -> str:
    text = _DSN_PASSWORD.sub(rf"\g<scheme>:{MASK}@", text)
    return _KV_PASSWORD.sub(rf"\g<1>{MASK}", text)
