"""Planning a crawl: what an incremental crawl reads, and where new tables go."""

from __future__ import annotations

from datetime import UTC, datetime

from catalog.crawl_plan import ORDINAL_SPACING, LiveCatalog, LiveRelation, plan_crawl
from catalog.crawler import Relation

S = ORDINAL_SPACING


def listed(*names: str, fingerprint: str = "f") -> list[Relation]:
    return [Relation(name, "public", name, fingerprint) for name in names]


def live_of(*names: str, spacing: int = S) -> LiveCatalog:
    relations = [
        LiveRelation(name, "public", name, "f", (n + 1) * spacing) for n, name in enumerate(names)
    ]
    return LiveCatalog(7, relations, datetime.now(UTC))


def test_a_first_crawl_reads_everything_in_name_order_with_spaced_ordinals():
    plan = plan_crawl(listed("c", "a", "b"), None, 2)
    assert plan.full
    assert [(b.refs, b.ordinals) for b in plan.batches] == [
        (("a", "b"), (S, 2 * S)),
        (("c",), (3 * S,)),
    ]


def test_an_incremental_crawl_reads_the_changed_and_places_new_ones_between_neighbours():
    now = [*listed("a", "c", "e", "g"), *listed("b", "d", fingerprint="new")]
    now[1] = Relation("c", "public", "c", "changed")
    plan = plan_crawl(now, live_of("a", "c", "e", "g"), 10)
    assert not plan.full
    [batch] = plan.batches
    assert batch.refs == ("b", "c", "d")
    assert batch.ordinals == (S + S // 2, 2 * S, 2 * S + S // 2)  # c keeps its place
    assert (plan.planned_on, plan.replaced) == (7, ("c",))  # a, e and g are kept


def test_a_renamed_relation_is_read_again_and_moves_to_its_new_place():
    now = [*listed("b", "c", "d"), Relation("a", "public", "z", "f")]  # a renamed to z
    plan = plan_crawl(now, live_of("a", "b", "c", "d"), 10)
    [batch] = plan.batches
    assert (batch.refs, batch.ordinals) == (("a",), (5 * S,))  # after d, the last kept
    assert plan.replaced == ("a",)


def test_a_dropped_relation_is_replaced_and_nothing_read_for_it():
    plan = plan_crawl(listed("a", "b", "d"), live_of("a", "b", "c", "d"), 10)
    assert (plan.full, plan.batches, plan.replaced) == (False, [], ("c",))


def test_a_crawl_goes_full_when_it_cannot_compare_or_place_or_would_read_most_anyway():
    unknown = [Relation("a", "public", "a", None), *listed("b", "c", "d")]
    assert plan_crawl(unknown, live_of("a", "b", "c", "d"), 10).full
    crowded = [*listed("a", "b", "c", "d"), *listed("bb", "bc", fingerprint="new")]
    assert plan_crawl(crowded, live_of("a", "b", "c", "d", spacing=2), 10).full  # no room
    most = [Relation(n, "public", n, "changed") for n in ("a", "b", "c")] + listed("d")
    assert plan_crawl(most, live_of("a", "b", "c", "d"), 10).full
