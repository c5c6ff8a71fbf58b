"""Planning a crawl: which relations to read, in which batches, and where each one's documents
go among the database's tables (its ordinal).

A crawl is incremental when the live generation's relations have fingerprints to compare with:
it reads the relations that are new, renamed or changed, and keeps the documents of the rest.
Otherwise, or when asked, it is full: it reads every relation and numbers them all afresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter

from catalog.crawler import Relation

# The distance between the ordinals of neighbouring tables numbered afresh: 32 tables can be
# added between two neighbours, one at a time, before a crawl has to renumber (go full).
ORDINAL_SPACING = 1 << 32

_BY_NAME = attrgetter("schema", "name")


@dataclass(frozen=True, slots=True)
class LiveRelation:
    """A relation of the live generation, as the store recorded it."""

    ref: str
    schema: str
    name: str
    fingerprint: str
    ordinal: int


@dataclass(frozen=True)
class LiveCatalog:
    """The live generation's relations: what an incremental crawl compares with."""

    generation: int
    relations: list[LiveRelation]
    # When the last full crawl under it finished: an incremental crawl keeps the row estimates
    # and sizes of the relations it does not read as that crawl (or a later one) found them.
    base_finished_at: datetime


@dataclass(frozen=True, slots=True)
class PlannedRelation:
    relation: Relation
    ordinal: int


@dataclass(frozen=True)
class BatchPlan:
    refs: tuple[str, ...]
    ordinals: tuple[int, ...]


@dataclass(frozen=True)
class CrawlPlan:
    """What a crawl reads, in batches. An incremental one also names the live generation it
    compared with and that generation's relations it replaces (read again, renamed or
    dropped); it keeps every other live relation, and its documents, as they are."""

    full: bool
    reads: list[PlannedRelation]
    batches: list[BatchPlan]
    planned_on: int | None = None
    replaced: tuple[str, ...] = ()


def plan_crawl(
    relations: Sequence[Relation], live: LiveCatalog | None, batch_size: int
) -> CrawlPlan:
    """The plan of a crawl that found `relations`; incremental against the `live` catalog when
    it can be (None: a full crawl, as when the live one has no fingerprints)."""
    ordered = sorted(relations, key=_BY_NAME)
    incremental = None if live is None else _incremental(ordered, live.relations)
    if incremental is not None and 2 * len(incremental[0]) > len(ordered):
        # Reading most of it anyway: a full crawl spares retiring most of the live documents.
        incremental = None
    if incremental is None or live is None:
        reads = [PlannedRelation(r, (n + 1) * ORDINAL_SPACING) for n, r in enumerate(ordered)]
        return CrawlPlan(True, reads, _batches(reads, batch_size))
    reads, replaced = incremental
    return CrawlPlan(False, reads, _batches(reads, batch_size), live.generation, replaced)


def _batches(reads: list[PlannedRelation], batch_size: int) -> list[BatchPlan]:
    return [
        BatchPlan(
            tuple(p.relation.ref for p in reads[start : start + batch_size]),
            tuple(p.ordinal for p in reads[start : start + batch_size]),
        )
        for start in range(0, len(reads), batch_size)
    ]


def _incremental(
    ordered: Sequence[Relation], live: Sequence[LiveRelation]
) -> tuple[list[PlannedRelation], tuple[str, ...]] | None:
    """The relations to read, in order, each keeping its live ordinal if it kept its name, new
    and renamed ones spread between their neighbours; and the live ones not kept. None if that
    cannot be (no fingerprints to compare, or no room left between two ordinals)."""
    by_ref = {relation.ref: relation for relation in live}
    reads: list[PlannedRelation] = []
    kept: set[str] = set()
    waiting: list[Relation] = []  # new or renamed: placed once the next kept ordinal is known
    previous = 0
    for relation in ordered:
        if relation.fingerprint is None:
            return None
        known = by_ref.get(relation.ref)
        if known is None or known.schema != relation.schema or known.name != relation.name:
            waiting.append(relation)
            continue
        step = (known.ordinal - previous) // (len(waiting) + 1)
        if step <= 0:  # no room, or out of order (never expected): number them afresh
            return None
        reads.extend(
            PlannedRelation(new, previous + (n + 1) * step) for n, new in enumerate(waiting)
        )
        waiting = []
        if known.fingerprint == relation.fingerprint:
            kept.add(relation.ref)
        else:
            reads.append(PlannedRelation(relation, known.ordinal))
        previous = known.ordinal
    reads.extend(
        PlannedRelation(new, previous + (n + 1) * ORDINAL_SPACING) for n, new in enumerate(waiting)
    )
    return reads, tuple(r.ref for r in live if r.ref not in kept)
