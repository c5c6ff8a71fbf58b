"""Why a hit matched: a query's clauses (catalog.search) evaluated in Python on the hit's document.

The engines rank with these clauses but cannot say which one matched (tantivy gives every fuzzy
hit the same score and no highlights). Evaluating them here, once, gives both adapters the same
highlights and the same matched columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape

from rapidfuzz.distance import OSA

from catalog.documents import Document, TermField, document_terms, name_analysis
from catalog.identifiers import Span, identifier_terms, part_spans, word_spans
from catalog.search import Match, MatchPlan, Reason, TermClause

HIGHLIGHT_OPEN, HIGHLIGHT_CLOSE = "<em>", "</em>"


@dataclass(frozen=True)
class MatchedColumn:
    name: str
    data_type: str
    highlight: str


@dataclass(frozen=True)
class Explanation:
    # What the engine scores the document: the best clause of each part, plus any bonus.
    score: float
    # The document's name, HTML-escaped, the matched parts inside <em>…</em>; None when only
    # column names matched.
    highlight: str | None
    # Table documents: the columns whose names matched a query part that the table's own name
    # did not match better.
    matched_columns: tuple[MatchedColumn, ...]
    # Why it matched: the whole name's match when the whole name matched (exact, inflection,
    # abbreviation), else the weakest of the parts' matches.
    match: Reason | None = None


def edit_distance(a: str, b: str, limit: int) -> int:
    """Edits from a to b (insert, delete, substitute, swap neighbours), or limit + 1 if more.

    The optimal-string-alignment distance, which is what the engines' fuzzy queries count with
    transpositions on; rapidfuzz computes it in C, a thousand times faster than Python did, and
    explaining every hit of every page made it the gateway's hottest loop.
    """
    return OSA.distance(a, b, score_cutoff=limit)


def clause_matches(clause: TermClause, term: str) -> bool:
    if clause.match is Match.EXACT:
        return term == clause.value
    if clause.match is Match.PREFIX:
        return term.startswith(clause.value)
    return edit_distance(clause.value, term, clause.distance) <= clause.distance


def _matched_term(clause: TermClause, terms: Iterable[str]) -> str | None:
    return next((term for term in terms if clause_matches(clause, term)), None)


def _term_spans(name: str, clause: TermClause, term: str) -> list[Span]:
    """Where in `name` a term of it (a part, the whole name, or the compact name) matched."""
    if clause.field is TermField.NAME:
        return [(0, len(name))]
    if clause.field is TermField.NAME_SUBSTRINGS:
        spans = []
        for start, end in word_spans(name):
            at = name[start:end].lower().find(clause.value, 1)
            if at > 0:
                spans.append(_cut(name, (start, end), at, len(clause.value)))
        return spans
    parts = part_spans(name)
    lowered = [name[start:end].lower() for start, end in parts]
    if not parts:
        return [(0, len(name))]
    if term in lowered:
        length = len(clause.value) if clause.match is Match.PREFIX else len(term)
        return [
            _cut(name, span, 0, length)
            for span, low in zip(parts, lowered, strict=True)
            if low == term
        ]
    # The whole or compact name: a prefix covers its first parts, anything else all of them.
    if clause.match is not Match.PREFIX:
        return [(parts[0][0], parts[-1][1])]
    spans, remaining = [], len(clause.value)
    for span, low in zip(parts, lowered, strict=True):
        if remaining <= 0:
            break
        spans.append(_cut(name, span, 0, min(remaining, len(low))))
        remaining -= len(low)
    return spans


def _cut(name: str, span: Span, offset: int, length: int) -> Span:
    """`length` lower-cased characters from `offset` in a span; the whole span if lower-casing
    changed its length (then offsets in the lower-cased text do not map back)."""
    start, end = span
    if len(name[start:end].lower()) != end - start:
        return span
    return (start + offset, min(start + offset + length, end))


def highlight(name: str, spans: Iterable[Span]) -> str:
    """`name`, HTML-escaped, with <em>…</em> around the spans (merged where they touch)."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, position = [], 0
    for start, end in merged:
        out += [escape(name[position:start]), HIGHLIGHT_OPEN, escape(name[start:end])]
        out.append(HIGHLIGHT_CLOSE)
        position = end
    out.append(escape(name[position:]))
    return "".join(out)


_DERIVED = frozenset({TermField.COLUMN_TERMS, TermField.TABLE_TERMS, TermField.TABLE_COMPACT})


class _DocumentTerms(dict[str, Sequence[str]]):
    """A document's terms per analysed field (catalog.documents), each worked out when first
    asked for: a table's column terms are needed only when its own name did not match."""

    def __init__(self, document: Document) -> None:
        super().__init__(name_analysis(document.name))
        self._document = document

    def __missing__(self, field: str) -> Sequence[str]:
        document = self._document
        if field in _DERIVED:  # COLUMN_TERMS, TABLE_TERMS, TABLE_COMPACT: all at once
            derived = document_terms(document)
            for name in _DERIVED:
                self[name] = derived.get(name, [])
        else:  # "kind": a table may match a query's words through its columns alone
            self[field] = {"kind": [str(document.kind)]}[field]
        return self[field]


def _best(
    alternatives: Iterable[TermClause], terms: dict[str, Sequence[str]]
) -> tuple[TermClause, str] | None:
    """The best-scoring clause that matches one of the document's terms, and that term: the
    first that does, in the plan's order, highest scores first (the first of equals, as the
    engines' dis_max keeps)."""
    for clause in alternatives:
        if clause.also is not None and clause.also[1] not in terms[clause.also[0]]:
            continue
        if (term := _matched_term(clause, terms[clause.field])) is not None:
            return clause, term
    return None


_REASONS = list(Reason)  # best first


def explain(document: Document, plan: MatchPlan) -> Explanation:
    terms = _DocumentTerms(document)
    score = 0.0
    name_spans: list[Span] = []
    column_clauses: list[TermClause] = []
    reasons: list[Reason] = []
    for alternatives in plan.parts:
        best = _best(alternatives, terms)
        if best is None:
            continue  # not a hit of this plan; nothing to explain for this part
        clause, term = best
        score += clause.score
        if clause.reason is None:
            continue  # the group that only requires a match of the name's own (catalog.search)
        reasons.append(clause.reason)
        if clause.field is TermField.COLUMN_TERMS:
            column_clauses.append(clause)
        elif clause.field is not TermField.TABLE_TERMS:  # the table's name is not the hit's
            name_spans += _term_spans(document.name, clause, term)
    whole: list[Reason] = []
    for alternatives in plan.bonuses:
        if (best := _best(alternatives, terms)) is not None:
            score += best[0].score
            name_spans.append((0, len(document.name)))
            if best[0].reason in (Reason.EXACT, Reason.INFLECTION, Reason.ABBREVIATION):
                whole.append(best[0].reason)
    chosen = min(whole, key=_REASONS.index) if whole else None
    return Explanation(
        score=score,
        highlight=highlight(document.name, name_spans) if name_spans else None,
        matched_columns=_matched_columns(document, column_clauses),
        match=chosen or (max(reasons, key=_REASONS.index) if reasons else None),
    )


def _matched_columns(document: Document, clauses: list[TermClause]) -> tuple[MatchedColumn, ...]:
    if not clauses:
        return ()
    matched = []
    for column in document.payload.get("columns", ()):
        name = column["name"]
        terms = identifier_terms(name)
        spans = [
            span
            for clause in clauses
            if (term := _matched_term(clause, terms)) is not None
            for span in _term_spans(name, clause, term)
        ]
        if spans:
            matched.append(MatchedColumn(name, column["data_type"], highlight(name, spans)))
    return tuple(matched)
