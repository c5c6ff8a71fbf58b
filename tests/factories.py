"""Small builders of domain objects for tests."""

from __future__ import annotations

from catalog.crawl_plan import ORDINAL_SPACING, CrawlPlan, PlannedRelation, plan_crawl
from catalog.crawler import Relation
from catalog.models import DEFAULT_TENANT, Column, Engine, NewDatabase, Table, TableType, Target

PASSWORD = "s3cr3t-Pa55word-!@#"


def table(schema: str, name: str, *columns: str, kind: TableType = TableType.TABLE) -> Table:
    return Table(
        schema=schema,
        name=name,
        type=kind,
        columns=tuple(
            Column(name=c, position=i + 1, data_type="integer", nullable=i > 0, primary_key=i == 0)
            for i, c in enumerate(columns)
        ),
        primary_key=columns[:1],
    )


def new_database(
    password: str = PASSWORD, name: str = "shop", tenant_id: str = DEFAULT_TENANT
) -> NewDatabase:
    return NewDatabase(
        tenant_id=tenant_id,
        name=name,
        target=Target(Engine.POSTGRESQL, "127.0.0.1", 5432, "shop", "reader"),
        password=password,
    )


def full_plan(*refs: str, batch_size: int = 500) -> CrawlPlan:
    """A full crawl's plan of relations `refs` (named t<ref> in schema public)."""
    relations = [Relation(ref, "public", f"t{ref}", None) for ref in refs]
    return plan_crawl(relations, None, batch_size)


def recorded_plan(relations: list[Relation]) -> CrawlPlan:
    """A plan that records `relations` (for the change history) but reads none of them: for
    tests that write the crawl's documents themselves."""
    placed = [PlannedRelation(r, (n + 1) * ORDINAL_SPACING) for n, r in enumerate(relations)]
    return CrawlPlan(True, placed, [])
