"""English plural and singular forms of identifier parts, for search to match `orders` with a
table `order` and `company` with `companies`.

Hand-written rules, not the `inflect` library: inflect costs about 250 µs a word (its type
checks run on every call), a distinct search's whole budget is a few milliseconds, and it invents
singulars (`bus` → `bu`, `analysis` → `analysi`). A search only needs candidates: a form that
names nothing in the catalog matches nothing, so the rules may offer two where English is
ambiguous (`caches` → `cache` and `cach`).
"""

from __future__ import annotations

from functools import lru_cache

_IRREGULAR = {
    "person": "people",
    "child": "children",
    "man": "men",
    "woman": "women",
    "mouse": "mice",
    "goose": "geese",
    "foot": "feet",
    "tooth": "teeth",
    "criterion": "criteria",
    "datum": "data",
    "medium": "media",
    "index": "indices",
    "matrix": "matrices",
    "vertex": "vertices",
    "appendix": "appendices",
    "analysis": "analyses",
    "axis": "axes",
    "basis": "bases",
    "crisis": "crises",
    "diagnosis": "diagnoses",
    "thesis": "theses",
    "leaf": "leaves",
    "life": "lives",
    "wife": "wives",
    "knife": "knives",
    "half": "halves",
    "shelf": "shelves",
    "self": "selves",
    "wolf": "wolves",
}
_SINGULAR_OF = {plural: singular for singular, plural in _IRREGULAR.items()}
# Words whose plural is themselves, or that have no other number.
_INVARIANT = frozenset(
    {"data", "metadata", "news", "series", "species", "information", "equipment", "analytics"}
)
# Endings that take -es in the plural (box → boxes, class → classes, dish → dishes).
_SIBILANTS = ("s", "x", "z", "ch", "sh")
_VOWELS = frozenset("aeiou")
# Shorter parts (id, no, ts) are codes more often than nouns.
_MIN_LENGTH = 3


@lru_cache(maxsize=16_384)
def inflections(part: str) -> tuple[str, ...]:
    """The other number's forms of a lower-cased identifier part (the singular of a plural, the
    plural of a singular; both when it could be either), never the part itself."""
    if len(part) < _MIN_LENGTH or not part.isalpha() or part in _INVARIANT:
        return ()
    forms = {*_plurals(part), *_singulars(part)}
    forms.discard(part)
    return tuple(sorted(forms))


def _plurals(word: str) -> list[str]:
    if word in _IRREGULAR:
        return [_IRREGULAR[word]]
    if word in _SINGULAR_OF or _singulars(word):
        return []  # already plural
    if word.endswith("y") and word[-2] not in _VOWELS:
        return [word[:-1] + "ies"]  # company → companies
    if word.endswith(_SIBILANTS):
        return [word + "es"]  # box → boxes, status → statuses
    return [word + "s"]


def _singulars(word: str) -> list[str]:
    if word in _SINGULAR_OF:
        return [_SINGULAR_OF[word]]
    if word.endswith("ies") and len(word) > 4:
        return [word[:-3] + "y"]  # histories → history
    if word.endswith("ses"):
        # addresses, classes, statuses, buses; but cases, courses, responses
        return [word[:-2]] if word[:-2].endswith(("ss", "us")) else [word[:-1]]
    if word.endswith(("xes", "zes", "ches", "shes")):
        return [word[:-2], word[:-1]]  # boxes → box; caches → cache
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return [word[:-1]]  # orders → order
    return []
