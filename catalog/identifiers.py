"""Identifier analysis, done once in Python so every search adapter indexes the same terms."""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import pairwise

_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # split at underscores, dots, spaces, punctuation

# Substrings shorter than this are not indexed: two letters occur inside too many names.
MIN_SUBSTRING_LENGTH = 3
# Names repeat (every table has its `id`, `created_at`…): analysing each once keeps indexing fast.
_CACHED_NAMES = 65_536

Span = tuple[int, int]


def _camel_boundaries(word: str) -> list[int]:
    """Where one alphanumeric word splits at case changes and letter/digit boundaries."""
    boundaries = []
    for i in range(1, len(word)):
        prev, cur = word[i - 1], word[i]
        nxt = word[i + 1] if i + 1 < len(word) else ""
        if (
            prev.isdigit() != cur.isdigit()
            or (prev.islower() and cur.isupper())  # salesRegion
            or (prev.isupper() and cur.isupper() and nxt.islower())  # HTTPServer
        ):
            boundaries.append(i)
    return boundaries


@lru_cache(maxsize=_CACHED_NAMES)
def word_spans(name: str) -> tuple[Span, ...]:
    """Where the alphanumeric words of a name are: the runs between separators."""
    return tuple(match.span() for match in _WORD.finditer(name))


@lru_cache(maxsize=_CACHED_NAMES)
def part_spans(name: str) -> tuple[Span, ...]:
    """Where the parts of a name are: its words, split again at camelCase and digits."""
    spans: list[Span] = []
    for start, end in word_spans(name):
        cuts = [start, *(start + i for i in _camel_boundaries(name[start:end])), end]
        spans.extend(pairwise(cuts))
    return tuple(spans)


def identifier_parts(name: str) -> list[str]:
    """Lower-cased parts of an identifier: snake_case, camelCase, PascalCase, digits, dots, spaces.

    >>> identifier_parts("SalesRegion_2019.totalAmount")
    ['sales', 'region', '2019', 'total', 'amount']
    """
    return [name[start:end].lower() for start, end in part_spans(name)]


def compact_name(name: str) -> str:
    """The parts run together: how a name is typed without its separators ("salesregion")."""
    return "".join(identifier_parts(name))


def identifier_terms(name: str) -> list[str]:
    """Everything an identifier is found by: its parts and, kept whole, the lower-cased name and
    the parts run together (so `customerorders` finds `customer_orders`)."""
    return list(_identifier_terms(name))


@lru_cache(maxsize=_CACHED_NAMES)
def _identifier_terms(name: str) -> tuple[str, ...]:
    terms = identifier_parts(name)
    for whole in (name.lower(), "".join(terms)):
        if whole and whole not in terms:
            terms.append(whole)
    return tuple(terms)


def inner_suffixes(name: str) -> list[str]:
    """Suffixes of each lower-cased word that start inside it, at least MIN_SUBSTRING_LENGTH long.

    A substring of a word is a prefix of one of these, so substring search is a prefix query over
    them: a term-dictionary range, not a scan. The word itself is left out (prefix search over the
    name terms already covers it).

    >>> inner_suffixes("orderDate")
    ['rderdate', 'derdate', 'erdate', 'rdate', 'date', 'ate']
    """
    return list(_inner_suffixes(name))


@lru_cache(maxsize=_CACHED_NAMES)
def _inner_suffixes(name: str) -> tuple[str, ...]:
    suffixes: dict[str, None] = {}
    for start, end in word_spans(name):
        word = name[start:end].lower()
        for i in range(1, len(word) - MIN_SUBSTRING_LENGTH + 1):
            suffixes[word[i:]] = None
    return tuple(suffixes)
