"""Planning a crawl: which relations to read, in which batches, and where each one's documents
go among the database's tables (its ordinal).

A crawl is incremental when the live generation's relations have fingerprints to compare with:
it reads the relations that are new, renamed or changed, and keeps the documents of the rest.
Otherwise, or when asked, it is full: it reads every relation and numbers them all afresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from catalog.crawler import Relation

# The distance between the ordinals of neighbouring tables numbered afresh: 32 tables can be
# added between two neighbours, one at a time, before a crawl has to renumber (go full).
ORDINAL_SPACING = 1 << 32


@dataclass(frozen=True)
class LiveRelation:
    """A relation of the live generation, as the store recorded it."""

    ref: str
    schema: str
    name: str
    fingerprint: str
    ordinal: int
    columns: int  # how many column documents it has
    written_in: int  # the generation that wrote its documents


@dataclass(frozen=True)
class PlannedRelation:
    relation: Relation
    ordinal: int
    kept: LiveRelation | None  # unchanged since the live generation: its documents stay


@dataclass(frozen=True)
class BatchPlan:
    refs: tuple[str, ...]
    ordinals: tuple[int, ...]


@dataclass(frozen=True)
class CrawlPlan:
    full: bool
    relations: list[PlannedRelation]
    batches: list[BatchPlan]

    @property
    def kept(self) -> list[LiveRelation]:
        return [planned.kept for planned in self.relations if planned.kept is not None]


def plan_crawl(
    relations: Sequence[Relation], live: Sequence[LiveRelation] | None, batch_size: int
) -> CrawlPlan:
    """The plan of a crawl that found `relations`; incremental against the `live` generation's
    when it can be (None: a full crawl, as when the live one has no fingerprints)."""
    ordered = sorted(relations, key=lambda relation: (relation.schema, relation.name))
    planned = None if live is None else _incremental(ordered, live)
    if planned is not None and 2 * sum(p.kept is None for p in planned) > len(planned):
        # Reading most of it anyway: a full crawl spares retiring most of the live documents.
        planned = None
    full = planned is None
    if planned is None:
        planned = [
            PlannedRelation(relation, (number + 1) * ORDINAL_SPACING, None)
            for number, relation in enumerate(ordered)
        ]
    to_read = [p for p in planned if p.kept is None]
    batches = [
        BatchPlan(
            tuple(p.relation.ref for p in to_read[start : start + batch_size]),
            tuple(p.ordinal for p in to_read[start : start + batch_size]),
        )
        for start in range(0, len(to_read), batch_size)
    ]
    return CrawlPlan(full, planned, batches)


def _incremental(
    ordered: Sequence[Relation], live: Sequence[LiveRelation]
) -> list[PlannedRelation] | None:
    """Relations in order, each keeping its live ordinal if it kept its name, new and renamed
    ones spread between their neighbours; None if that cannot be (no fingerprints to compare,
    or no room left between two ordinals)."""
    if any(relation.fingerprint is None for relation in ordered):
        return None
    by_ref = {relation.ref: relation for relation in live}
    planned: list[PlannedRelation] = []
    waiting: list[Relation] = []  # new or renamed: placed once the next kept ordinal is known
    previous = 0
    for relation in ordered:
        known = by_ref.get(relation.ref)
        if known is None or (known.schema, known.name) != (relation.schema, relation.name):
            waiting.append(relation)
            continue
        ordinal = known.ordinal
        step = (ordinal - previous) // (len(waiting) + 1)
        if step <= 0:  # no room, or out of order (never expected): number them afresh
            return None
        planned.extend(
            PlannedRelation(new, previous + (number + 1) * step, None)
            for number, new in enumerate(waiting)
        )
        waiting = []
        unchanged = known.fingerprint == relation.fingerprint
        planned.append(PlannedRelation(relation, ordinal, known if unchanged else None))
        previous = ordinal
    planned.extend(
        PlannedRelation(new, previous + (number + 1) * ORDINAL_SPACING, None)
        for number, new in enumerate(waiting)
    )
    return planned
