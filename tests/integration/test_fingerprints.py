"""Fingerprints, against each engine: every kind of change users care about changes the
fingerprint of the relation it touches, and of no other; row counts and physical details
(column numbers, object ids) change none.

Each case makes its own tables in the contract target (tests/integration/test_crawler_contract.py),
takes the fingerprints, applies one change and takes them again.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from catalog import services
from catalog.adapters.tantivy_index import TantivyIndex
from catalog.browse import live_scope, table_pages
from catalog.cipher import SecretCipher, generate_key
from catalog.documents import Document
from catalog.messages import (
    CrawlBatchRequested,
    CrawlRequested,
    SchemaChanged,
    schema_changed_subject,
)
from catalog.models import ChangeKind, Crawl, CrawlState
from indexer.handlers import CrawlHandlers
from tests.factories import new_database
from tests.fakes import InMemoryStore, RecordingPublisher
from tests.integration.test_crawler_contract import ContractTarget, contract_target

pytestmark = pytest.mark.asyncio(loop_scope="module")

Name = tuple[str, str]


@dataclass(frozen=True)
class Change:
    """One change: set-up and change statements per dialect, and what it must show."""

    name: str
    setup: dict[str, str]
    change: dict[str, str]
    changed: frozenset[str] = frozenset()  # tables (in schema sales) whose fingerprint changes
    added: frozenset[str] = frozenset()
    dropped: frozenset[str] = frozenset()


def both(sql: str) -> dict[str, str]:
    return {"postgresql": sql, "mysql": sql}


def change(name: str, setup: dict[str, str], alter: dict[str, str], **expected: set[str]) -> Change:
    return Change(name, setup, alter, **{k: frozenset(v) for k, v in expected.items()})


CHANGES = [
    change(
        "add_table",
        both("CREATE TABLE sales.fp_keep (id integer)"),
        both("CREATE TABLE sales.fp_new (id integer)"),
        added={"fp_new"},
    ),
    change(
        "drop_table",
        both("CREATE TABLE sales.fp_gone (id integer)"),
        both("DROP TABLE sales.fp_gone"),
        dropped={"fp_gone"},
    ),
    change(
        "rename_table",
        both("CREATE TABLE sales.fp_old_name (id integer)"),
        {
            "postgresql": "ALTER TABLE sales.fp_old_name RENAME TO fp_new_name",
            "mysql": "RENAME TABLE sales.fp_old_name TO sales.fp_new_name",
        },
        added={"fp_new_name"},
        dropped={"fp_old_name"},
    ),
    change(
        "add_column",
        both("CREATE TABLE sales.fp_add (id integer)"),
        both("ALTER TABLE sales.fp_add ADD COLUMN note text"),
        changed={"fp_add"},
    ),
    change(
        "drop_column",
        both("CREATE TABLE sales.fp_drop (id integer, note text)"),
        both("ALTER TABLE sales.fp_drop DROP COLUMN note"),
        changed={"fp_drop"},
    ),
    change(
        "column_type",
        both("CREATE TABLE sales.fp_type (id integer)"),
        {
            "postgresql": "ALTER TABLE sales.fp_type ALTER COLUMN id TYPE bigint",
            "mysql": "ALTER TABLE sales.fp_type MODIFY id bigint",
        },
        changed={"fp_type"},
    ),
    change(
        "nullability",
        both("CREATE TABLE sales.fp_null (id integer)"),
        {
            "postgresql": "ALTER TABLE sales.fp_null ALTER COLUMN id SET NOT NULL",
            "mysql": "ALTER TABLE sales.fp_null MODIFY id integer NOT NULL",
        },
        changed={"fp_null"},
    ),
    change(
        "default",
        both("CREATE TABLE sales.fp_default (id integer)"),
        both("ALTER TABLE sales.fp_default ALTER COLUMN id SET DEFAULT 7"),
        changed={"fp_default"},
    ),
    change(
        "column_comment",
        both("CREATE TABLE sales.fp_comment (id integer)"),
        {
            "postgresql": "COMMENT ON COLUMN sales.fp_comment.id IS 'the key'",
            "mysql": "ALTER TABLE sales.fp_comment MODIFY id integer COMMENT 'the key'",
        },
        changed={"fp_comment"},
    ),
    change(
        "table_comment",
        both("CREATE TABLE sales.fp_tcomment (id integer)"),
        {
            "postgresql": "COMMENT ON TABLE sales.fp_tcomment IS 'some rows'",
            "mysql": "ALTER TABLE sales.fp_tcomment COMMENT 'some rows'",
        },
        changed={"fp_tcomment"},
    ),
    change(
        "index",
        both("CREATE TABLE sales.fp_index (id integer, code integer)"),
        both("CREATE INDEX fp_index_code ON sales.fp_index (code)"),
        changed={"fp_index"},
    ),
    change(
        "primary_key",
        both("CREATE TABLE sales.fp_pk (id integer NOT NULL)"),
        both("ALTER TABLE sales.fp_pk ADD PRIMARY KEY (id)"),
        changed={"fp_pk"},
    ),
    change(
        "foreign_key",
        both(
            "CREATE TABLE sales.fp_parent (id integer PRIMARY KEY);"
            " CREATE TABLE sales.fp_child (parent_id integer)"
        ),
        both(
            "ALTER TABLE sales.fp_child ADD CONSTRAINT fp_child_parent"
            " FOREIGN KEY (parent_id) REFERENCES sales.fp_parent (id)"
        ),
        changed={"fp_child"},
    ),
    change(
        "view_definition",
        both(
            "CREATE TABLE sales.fp_base (id integer, name text);"
            " CREATE VIEW sales.fp_view AS SELECT id FROM sales.fp_base"
        ),
        both("CREATE OR REPLACE VIEW sales.fp_view AS SELECT id, name FROM sales.fp_base"),
        changed={"fp_view"},
    ),
    change(
        "partition_added",
        {
            "postgresql": "CREATE TABLE sales.fp_parted (id integer, at date)"
            " PARTITION BY RANGE (at);"
            " CREATE TABLE sales.fp_parted_2025 PARTITION OF sales.fp_parted"
            " FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')",
            "mysql": "CREATE TABLE sales.fp_parted (id integer, at date)"
            " PARTITION BY RANGE (YEAR(at)) (PARTITION fp_2025 VALUES LESS THAN (2026))",
        },
        {
            "postgresql": "CREATE TABLE sales.fp_parted_2026 PARTITION OF sales.fp_parted"
            " FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
            "mysql": "ALTER TABLE sales.fp_parted ADD PARTITION"
            " (PARTITION fp_2026 VALUES LESS THAN (2027))",
        },
    ),
    change(
        "rows_and_statistics_only",
        both("CREATE TABLE sales.fp_rows (id integer)"),
        {
            "postgresql": "INSERT INTO sales.fp_rows SELECT generate_series(1, 5000);"
            " ANALYZE sales.fp_rows",
            "mysql": "INSERT INTO sales.fp_rows VALUES (1), (2), (3); ANALYZE TABLE sales.fp_rows",
        },
    ),
]
# Partitions: PostgreSQL lists a new partition as a relation of its own; MySQL folds
# partitions into the parent, whose fingerprint changes.
PARTITION_ADDED = {"postgresql": {"added": {"fp_parted_2026"}}, "mysql": {"changed": {"fp_parted"}}}


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["postgresql", "mysql"])
async def target(request: pytest.FixtureRequest) -> AsyncIterator[ContractTarget]:
    async with contract_target(request) as opened:
        yield opened


async def fingerprints(target: ContractTarget) -> dict[Name, tuple[str, str]]:
    """(schema, name) → (ref, fingerprint) of every relation listed."""
    async with target.open() as crawler:
        return {(r.schema, r.name): (r.ref, r.fingerprint) async for r in crawler.list_relations()}


async def run(target: ContractTarget, statements: str) -> None:
    assert target.sql is not None
    for statement in statements.split(";"):
        await target.sql(statement)


@pytest.mark.parametrize("case", CHANGES, ids=[c.name for c in CHANGES])
async def test_a_change_changes_the_fingerprint_of_its_relation_and_no_other(
    target: ContractTarget, case: Change
) -> None:
    await run(target, case.setup[target.name])
    before = await fingerprints(target)
    again = await fingerprints(target)
    assert again == before  # stable while nothing changes

    await run(target, case.change[target.name])
    after = await fingerprints(target)
    if case.name == "rename_table" and target.name == "postgresql":
        # An object id outlives a rename: the history can call it one (MySQL names by name).
        assert after[("sales", "fp_new_name")][0] == before[("sales", "fp_old_name")][0]
    expected = {"changed": case.changed, "added": case.added, "dropped": case.dropped}
    if case.name == "partition_added":
        expected |= {k: frozenset(v) for k, v in PARTITION_ADDED[target.name].items()}
    assert {
        "changed": frozenset(
            name for (schema, name), (_, digest) in after.items()
            if (schema, name) in before and before[(schema, name)][1] != digest
        ),
        "added": frozenset(name for schema, name in after.keys() - before.keys()),
        "dropped": frozenset(name for schema, name in before.keys() - after.keys()),
    } == expected  # fmt: skip


async def test_fingerprints_do_not_depend_on_column_numbers_or_object_ids(
    target: ContractTarget,
) -> None:
    """The same definition made two ways: with a dropped column's gap, and anew."""
    await run(target, "CREATE TABLE sales.fp_gap (a integer, x integer, b text)")
    await run(target, "ALTER TABLE sales.fp_gap DROP COLUMN x")
    gapped_ref, gapped = (await fingerprints(target))[("sales", "fp_gap")]
    await run(target, "DROP TABLE sales.fp_gap")
    await run(target, "CREATE TABLE sales.fp_gap (a integer, b text)")
    fresh_ref, fresh = (await fingerprints(target))[("sales", "fp_gap")]
    assert fresh == gapped
    if target.name == "postgresql":
        assert fresh_ref != gapped_ref  # another object id, the same fingerprint


# --- through the crawl: the index, the history and the event ---------------------------------


@dataclass
class Catalog:
    """The crawl handlers over the target's real crawler and a real tantivy index (the store
    and the bus are fakes of our ports): what a change does to what readers see."""

    store: InMemoryStore
    index: TantivyIndex
    handlers: CrawlHandlers
    publisher: RecordingPublisher
    database_id: str = ""

    async def crawl(self, full: bool = False) -> Crawl:
        crawl = await services.request_crawl(self.store, self.database_id, full=full)
        self.publisher.published.clear()
        await self.handlers.handle(CrawlRequested(crawl.id, self.database_id))
        for _, data, _ in list(self.publisher.published):
            await self.handlers.handle(CrawlBatchRequested(**json.loads(data)))
        await self.store.finish_crawls(self.handlers.handle)
        return await self.store.get_crawl(crawl.id)

    async def tables(self) -> dict[str, Document]:
        scope = live_scope(await self.store.get_database(self.database_id))
        assert scope is not None
        pages = [page async for page in table_pages(self.index, scope)]
        return {d.table: d for page in pages for d in page if d.schema == "sales"}


@pytest_asyncio.fixture(loop_scope="module")
async def catalog(target: ContractTarget, tmp_path) -> AsyncIterator[Catalog]:
    store, publisher = InMemoryStore(), RecordingPublisher()
    index = TantivyIndex(tmp_path / "index")
    await index.open()
    cipher = SecretCipher.from_keys([generate_key()])
    handlers = CrawlHandlers(
        store,
        index,
        cipher,
        lambda _target, _password: target.open(),
        publisher,
        batch_size=50,
        stale_fail_safe=0.9,
    )
    catalog = Catalog(store, index, handlers, publisher)
    database, _ = await services.register_database(store, cipher, new_database())
    catalog.database_id = database.id
    await catalog.crawl()  # the baseline (queued at registration)
    try:
        yield catalog
    finally:
        await index.close()


def own_tables(case: Change, prefix: str) -> Change:
    """The case on tables (and indexes, keys, views) of its own: fp_ names renamed."""

    def renamed(names: frozenset[str]) -> frozenset[str]:
        return frozenset(name.replace("fp_", prefix) for name in names)

    return Change(
        case.name,
        {k: v.replace("fp_", prefix) for k, v in case.setup.items()},
        {k: v.replace("fp_", prefix) for k, v in case.change.items()},
        renamed(case.changed),
        renamed(case.added),
        renamed(case.dropped),
    )


@pytest.mark.parametrize("case", CHANGES, ids=[c.name for c in CHANGES])
async def test_a_change_shows_in_the_index_the_history_and_the_event(
    target: ContractTarget, catalog: Catalog, case: Change
) -> None:
    case = own_tables(case, "ix_")  # the test above made (and changed) the fp_ ones
    await run(target, case.setup[target.name])
    before = await catalog.crawl()  # reads everything again, with fingerprints
    kept = await catalog.tables()
    await run(target, case.change[target.name])
    crawl = await catalog.crawl()
    assert (crawl.state, crawl.incremental) == (CrawlState.COMPLETE, True)

    expected = {"changed": case.changed, "added": case.added, "dropped": case.dropped}
    if case.name == "partition_added":
        expected |= {
            k: frozenset(n.replace("fp_", "ix_") for n in v)
            for k, v in PARTITION_ADDED[target.name].items()
        }
    renamed = case.name == "rename_table" and target.name == "postgresql"
    kinds = {
        "changed": ChangeKind.ALTERED,
        "added": ChangeKind.ADDED,
        "dropped": ChangeKind.DROPPED,
    }
    want = {(kinds[k], name) for k, names in expected.items() for name in names}
    if renamed:  # an object id outlives a rename: one change, not a drop and an add
        want = {(ChangeKind.RENAMED, "ix_new_name")}
    history = [c for c in catalog.store.changes if c.crawl_id == crawl.id]
    assert {(c.kind, c.name) for c in history} == want
    events = [
        e
        for e in catalog.store.take_outbox(schema_changed_subject(catalog.database_id))
        if isinstance(e, SchemaChanged) and e.crawl_id == crawl.id
    ]
    # One event for a crawl that found changes, with their counts; none for one that did not.
    assert [sum(e.counts.values()) for e in events] == ([len(want)] if want else [])

    tables = await catalog.tables()
    for name in expected["added"]:
        assert tables[name].generation == crawl.generation
    for name in expected["dropped"]:
        assert name not in tables
    for name in expected["changed"]:
        assert tables[name].generation == crawl.generation
        assert tables[name].payload != kept[name].payload
    untouched = set(kept) - expected["changed"] - expected["dropped"]
    # Kept as they were: written by an earlier crawl, not read again.
    assert all(tables[name].generation <= before.generation for name in untouched)
