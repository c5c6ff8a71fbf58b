"""Short forms that schemas are full of (`qty`, `dept`, `txn_ts`), and the words they stand for:
search looks each up both ways, so `quantity` finds `order_qty` and `cust` finds `customer`.

One identifier part on each side. A built-in list of common ones; operators add their own with a
file (CATALOG_ABBREVIATIONS_FILE) of lines `short = word`, `#` starting a comment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from catalog.errors import InvalidInputError
from catalog.identifiers import identifier_parts

_BUILTIN_PAIRS = (
    ("acct", "account"), ("acc", "account"), ("addr", "address"), ("adm", "admin"),
    ("amt", "amount"), ("att", "attribute"), ("attr", "attribute"), ("auth", "authorization"),
    ("avg", "average"), ("bal", "balance"), ("cfg", "configuration"), ("cfg", "config"),
    ("conf", "configuration"), ("cnt", "count"), ("ctry", "country"), ("cntry", "country"),
    ("ccy", "currency"), ("curr", "currency"), ("cust", "customer"), ("dept", "department"),
    ("desc", "description"), ("descr", "description"), ("dest", "destination"),
    ("dst", "destination"), ("doc", "document"), ("dt", "date"), ("emp", "employee"),
    ("err", "error"), ("ext", "external"), ("grp", "group"), ("img", "image"),
    ("info", "information"), ("inv", "invoice"), ("inv", "inventory"), ("lang", "language"),
    ("loc", "location"), ("lvl", "level"), ("mgr", "manager"), ("msg", "message"), ("mth", "month"),
    ("nbr", "number"), ("no", "number"), ("num", "number"), ("org", "organization"),
    ("org", "organisation"), ("pct", "percent"), ("pmt", "payment"), ("prev", "previous"),
    ("prod", "product"), ("pwd", "password"), ("qty", "quantity"), ("ref", "reference"),
    ("req", "request"), ("resp", "response"), ("seq", "sequence"), ("src", "source"),
    ("stat", "status"), ("stat", "statistic"), ("svc", "service"), ("sys", "system"),
    ("tel", "telephone"), ("tmp", "temporary"), ("temp", "temporary"), ("ts", "timestamp"),
    ("tx", "transaction"), ("txn", "transaction"), ("usr", "user"), ("val", "value"),
    ("ver", "version"), ("wk", "week"), ("yr", "year"),
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class Abbreviations:
    """Each part's other spellings: the words a short form stands for, and the reverse."""

    alternatives: Mapping[str, tuple[str, ...]]

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]]) -> Abbreviations:
        found: dict[str, set[str]] = {}
        for short, word in pairs:
            found.setdefault(short, set()).add(word)
            found.setdefault(word, set()).add(short)
        return cls(MappingProxyType({k: tuple(sorted(v)) for k, v in found.items()}))

    def extended(self, pairs: Iterable[tuple[str, str]]) -> Abbreviations:
        mine = [(part, other) for part, others in self.alternatives.items() for other in others]
        return Abbreviations.of([*mine, *pairs])

    def of_part(self, part: str) -> tuple[str, ...]:
        return self.alternatives.get(part, ())


BUILTIN = Abbreviations.of(_BUILTIN_PAIRS)


def read_abbreviations(path: Path) -> list[tuple[str, str]]:
    """The `short = word` pairs of an operator's file; a line that is not one says where."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read the abbreviations file {path}: {exc}") from None
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        short, equals, word = (side.strip() for side in line.partition("="))
        parts = [identifier_parts(short), identifier_parts(word)]
        if not equals or any(len(side) != 1 for side in parts):
            raise InvalidInputError(
                f"{path}, line {number}: write one abbreviation as `short = word`, one name"
                " part on each side"
            )
        pairs.append((parts[0][0], parts[1][0]))
    return pairs
