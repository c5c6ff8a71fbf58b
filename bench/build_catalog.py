"""Build a deterministic PostgreSQL catalog of many tables, for crawl benchmarks.

    python -m bench.build_catalog --tables 1000 --columns 10 --schemas 20 --database bench_1k

The DDL is generated per schema and sent in multi-statement chunks (one transaction each) over a
few connections, so 100,000 tables cost a couple of hundred round trips, not 100,000.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from random import Random

import asyncpg

from bench.harness import add_shape_args, script_parser

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"

SCHEMAS = [
    "sales", "finance", "marketing", "inventory", "hr", "logistics", "analytics", "billing",
    "crm", "support", "warehouse", "audit", "staging", "reporting", "payments", "catalog",
    "ops", "security", "web", "mobile",
]  # fmt: skip
ENTITIES = [
    "customer", "order", "invoice", "payment", "shipment", "product", "region", "sales",
    "event", "audit", "account", "user", "session", "vendor", "supplier", "employee",
    "department", "inventory", "warehouse", "price", "discount", "campaign", "lead",
    "contract", "subscription", "ticket", "refund", "transaction", "ledger", "budget",
    "forecast", "store", "device", "click", "page_view", "review", "coupon", "tax",
    "currency", "carrier",
]  # fmt: skip
DETAILS = [
    "item", "line", "detail", "summary", "status", "address", "contact", "note", "metric",
    "snapshot", "log", "total", "balance", "rate", "category", "mapping",
]  # fmt: skip
SUFFIXES = [
    "_history", "_daily", "_weekly", "_monthly", "_2019", "_2020", "_2021", "_archive",
    "_staging", "_v2", "_backup", "_agg", "_raw", "_tmp",
]  # fmt: skip
# (name, type) pairs, so a column's type fits its name the way it does in real schemas.
COLUMNS = [
    ("name", "text"), ("code", "varchar(32)"), ("status", "varchar(20)"),
    ("description", "text"), ("email", "varchar(255)"), ("amount", "numeric(12,2)"),
    ("quantity", "integer"), ("total", "numeric(12,2)"), ("price", "numeric(12,2)"),
    ("created_at", "timestamptz"), ("updated_at", "timestamptz"), ("deleted_at", "timestamptz"),
    ("is_active", "boolean"), ("is_deleted", "boolean"), ("metadata", "jsonb"),
    ("payload", "jsonb"), ("attributes", "jsonb"), ("external_id", "uuid"),
    ("correlation_id", "uuid"), ("version", "integer"), ("sequence_no", "bigint"),
    ("event_count", "bigint"), ("title", "varchar(200)"), ("country_code", "varchar(2)"),
    ("currency_code", "varchar(3)"), ("phone", "varchar(40)"), ("notes", "text"),
    ("source", "varchar(50)"), ("category", "varchar(100)"), ("score", "numeric(12,2)"),
    ("rank", "integer"), ("is_primary", "boolean"), ("valid_from", "timestamptz"),
    ("valid_to", "timestamptz"), ("owner_id", "bigint"), ("parent_id", "bigint"),
    ("tenant_id", "integer"), ("revision", "bigint"), ("label", "text"),
    ("url", "varchar(2048)"),
]  # fmt: skip
PK_TYPES = ["bigint"] * 14 + ["integer"] * 3 + ["uuid"] * 3
TABLE_NOTES = [
    "One row per {e}; loaded nightly from the operational system",
    "Denormalised {e} data for reporting",
    "Raw {e} feed, kept for replay",
    "Slowly changing {e} dimension",
]
COLUMN_NOTES = [
    "Set by the loader, never by users",
    "Nullable until the upstream system backfills it",
    "ISO value as received",
    "Deprecated: kept for old reports",
]

P_PRIMARY_KEY = 0.9
P_FOREIGN_KEY = 0.1
P_INDEX = 0.2
P_COMMENT = 0.1
P_NOT_NULL = 0.25
SIMPLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def q(name: str) -> str:
    # Always quoted: "order" and "user" are reserved words and are also realistic table names.
    return f'"{name}"'


@dataclass
class Counts:
    tables: int = 0
    columns: int = 0
    primary_keys: int = 0
    foreign_keys: int = 0
    indexes: int = 0
    table_comments: int = 0
    column_comments: int = 0

    def add(self, other: Counts) -> None:
        for key, value in vars(other).items():
            setattr(self, key, getattr(self, key) + value)


@dataclass
class SchemaPlan:
    """Generates one schema's DDL; tables only reference earlier tables of the same schema."""

    schema: str
    rng: Random
    columns: int
    names: set[str] = field(default_factory=set)
    # Earlier tables with a primary key: (name, key type), candidates for foreign keys.
    keyed: list[tuple[str, str]] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)

    def table_name(self) -> str:
        rng = self.rng
        for _ in range(5):
            name = rng.choice(ENTITIES)
            if rng.random() < 0.6:
                name += "_" + rng.choice(DETAILS)
            if rng.random() < 0.5:
                name += rng.choice(SUFFIXES)
            if name not in self.names:
                break
        base, n = name, 2
        while name in self.names:  # a big schema runs out of combinations: number them
            name, n = f"{base}_{n}", n + 1
        self.names.add(name)
        return name

    def table(self) -> str:
        rng, s = self.rng, q(self.schema)
        name = self.table_name()
        table = f"{s}.{q(name)}"
        lines: list[str] = []
        tail: list[str] = []
        column_names: list[str] = []
        pk_type = rng.choice(PK_TYPES)
        has_pk = rng.random() < P_PRIMARY_KEY
        lines.append(f"id {pk_type}" + (" PRIMARY KEY" if has_pk else " NOT NULL"))
        column_names.append("id")
        if self.keyed and rng.random() < P_FOREIGN_KEY:
            ref, ref_type = rng.choice(self.keyed)
            column = f"{ref}_id"
            lines.append(f"{q(column)} {ref_type} REFERENCES {s}.{q(ref)} (id)")
            column_names.append(column)
            self.counts.foreign_keys += 1
        wanted = max(self.columns - len(lines), 0)
        picked = rng.sample(COLUMNS, min(wanted, len(COLUMNS)))
        picked += [(f"extra_{i}", "text") for i in range(wanted - len(picked))]
        indexable: list[str] = []
        for column, kind in picked:
            null = " NOT NULL" if rng.random() < P_NOT_NULL else ""
            default = " DEFAULT now()" if column == "created_at" else ""
            lines.append(f"{q(column)} {kind}{null}{default}")
            column_names.append(column)
            if kind != "jsonb":
                indexable.append(column)
        tail_index = indexable and rng.random() < P_INDEX
        if tail_index:
            # Unnamed: PostgreSQL picks a unique name, so truncation can never collide.
            cols = ", ".join(q(c) for c in rng.sample(indexable, min(len(indexable), 2)))
            tail.append(f"CREATE INDEX ON {table} ({cols});")
            self.counts.indexes += 1
        if rng.random() < P_COMMENT:
            note = rng.choice(TABLE_NOTES).format(e=name.replace("_", " "))
            tail.append(f"COMMENT ON TABLE {table} IS '{note}';")
            self.counts.table_comments += 1
        for column in column_names:
            if rng.random() < P_COMMENT:
                tail.append(
                    f"COMMENT ON COLUMN {table}.{q(column)} IS '{rng.choice(COLUMN_NOTES)}';"
                )
                self.counts.column_comments += 1
        if has_pk:
            self.keyed.append((name, pk_type))
            self.counts.primary_keys += 1
        self.counts.tables += 1
        self.counts.columns += len(column_names)
        body = ",\n  ".join(lines)
        return f"CREATE TABLE {table} (\n  {body}\n);\n" + "\n".join(tail)

    def chunks(self, tables: int, chunk: int) -> Iterator[str]:
        """Yield multi-statement strings of up to `chunk` tables; generated lazily."""
        for start in range(0, tables, chunk):
            yield "\n".join(self.table() for _ in range(min(chunk, tables - start)))


def schema_names(count: int) -> list[str]:
    return [
        SCHEMAS[i] if i < len(SCHEMAS) else f"{SCHEMAS[i % len(SCHEMAS)]}_{i // len(SCHEMAS)}"
        for i in range(count)
    ]


def split_tables(tables: int, schemas: int) -> list[int]:
    """Spread tables as evenly as possible: the first `tables % schemas` get one more."""
    base, extra = divmod(tables, schemas)
    return [base + (1 if i < extra else 0) for i in range(schemas)]


async def prepare_database(dsn: str, database: str, recreate: bool) -> None:
    admin = await asyncpg.connect(dsn)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if exists and not recreate:
            raise SystemExit(f"database {database} exists; pass --recreate to rebuild it")
        if exists:
            # FORCE: a crawler or psql left connected must not block a rebuild.
            await admin.execute(f"DROP DATABASE {q(database)} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {q(database)}")
    finally:
        await admin.close()


async def build(args: argparse.Namespace) -> Counts:
    names = schema_names(args.schemas)
    sizes = split_tables(args.tables, args.schemas)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(args.schemas):
        queue.put_nowait(i)
    total = Counts()

    async def worker() -> None:
        conn = await asyncpg.connect(args.dsn, database=args.database)
        try:
            # Losing the tail of a benchmark build on a crash is fine; waiting on fsync is not.
            await conn.execute("SET synchronous_commit = off")
            while not queue.empty():
                i = queue.get_nowait()
                # A seed per schema keeps the output the same whatever worker builds which schema.
                plan = SchemaPlan(names[i], Random(f"{args.seed}:{names[i]}"), args.columns)
                await conn.execute(f"CREATE SCHEMA {q(names[i])}")
                for sql in plan.chunks(sizes[i], args.chunk):
                    async with conn.transaction():
                        await conn.execute(sql)
                total.add(plan.counts)
        finally:
            await conn.close()

    # Schemas are independent (foreign keys stay inside one), so they can be built in parallel.
    await asyncio.gather(*(worker() for _ in range(min(args.jobs, args.schemas))))
    return total


async def finish(args: argparse.Namespace) -> int:
    conn = await asyncpg.connect(args.dsn, database=args.database)
    try:
        # What autovacuum would soon do anyway: planner statistics for the grown catalog tables.
        await conn.execute(
            "ANALYZE pg_catalog.pg_class, pg_catalog.pg_attribute, pg_catalog.pg_index,"
            " pg_catalog.pg_constraint, pg_catalog.pg_description, pg_catalog.pg_namespace"
        )
        return await conn.fetchval(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind = 'r' AND n.nspname = ANY($1::text[])",
            schema_names(args.schemas),
        )
    finally:
        await conn.close()


async def main_async(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    await prepare_database(args.dsn, args.database, args.recreate)
    counts = await build(args)
    ddl_done = time.perf_counter()
    found = await finish(args)
    elapsed = time.perf_counter() - started
    print(
        f"database {args.database}: {counts.tables} tables, {counts.columns} columns in "
        f"{args.schemas} schemas; {counts.primary_keys} primary keys, {counts.foreign_keys} "
        f"foreign keys, {counts.indexes} secondary indexes, {counts.table_comments} table and "
        f"{counts.column_comments} column comments"
    )
    print(f"pg_class confirms {found} tables")
    print(f"elapsed {elapsed:.1f} s (DDL {ddl_done - started:.1f} s)")
    if found != counts.tables:
        raise SystemExit("table count mismatch")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = script_parser("bench.build_catalog", __doc__)
    add_shape_args(parser, 1000)
    parser.add_argument("--database", required=True)
    parser.add_argument("--dsn", default=DEFAULT_DSN, help="any database on the target server")
    parser.add_argument("--recreate", action="store_true", help="drop the database first")
    parser.add_argument("--chunk", type=int, default=250, help="tables per transaction")
    parser.add_argument("--jobs", type=int, default=2, help="parallel connections")
    args = parser.parse_args(argv)
    if not SIMPLE_NAME.match(args.database):
        parser.error("--database must be a lower-case identifier")
    for name in ("tables", "columns", "schemas", "chunk", "jobs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    asyncio.run(main_async(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
