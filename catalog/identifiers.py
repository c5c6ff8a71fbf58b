"""Identifier analysis, done once in Python so every search adapter indexes the same terms."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # split at underscores, dots, spaces, punctuation


def _camel_pieces(word: str) -> list[str]:
    """Split one alphanumeric word at case changes and letter/digit boundaries (unicode-aware)."""
    pieces: list[str] = []
    start = 0
    for i in range(1, len(word)):
        prev, cur = word[i - 1], word[i]
        nxt = word[i + 1] if i + 1 < len(word) else ""
        boundary = (
            prev.isdigit() != cur.isdigit()
            or (prev.islower() and cur.isupper())  # salesRegion
            or (prev.isupper() and cur.isupper() and nxt.islower())  # HTTPServer
        )
        if boundary:
            pieces.append(word[start:i])
            start = i
    pieces.append(word[start:])
    return pieces


def identifier_parts(name: str) -> list[str]:
    """Lower-cased parts of an identifier: snake_case, camelCase, PascalCase, digits, dots, spaces.

    >>> identifier_parts("SalesRegion_2019.totalAmount")
    ['sales', 'region', '2019', 'total', 'amount']
    """
    return [piece.lower() for word in _WORD.findall(name) for piece in _camel_pieces(word)]


def identifier_terms(name: str) -> list[str]:
    """Everything an identifier is found by: its parts and, kept whole, the lower-cased name."""
    whole = name.lower()
    terms = identifier_parts(name)
    if whole not in terms:
        terms.append(whole)
    return terms
