"""A MySQL/MariaDB schema crawled by `catalog up`, against the floor, measured in the same run.

    python -m bench.mysql_floor --port 3306 --user bench --password bench --database bench_10k \
        --build 10000 --repeat 3

The floor is what the catalog cannot avoid reading: one streamed SELECT over
information_schema.COLUMNS for the schema, plus the bulk key and index queries
(KEY_COLUMN_USAGE, STATISTICS), on one connection. The catalog's figure is registration to
`complete` (bench.register_to_complete), with the crawler's peak RSS. --build N first (re)creates
the schema with N tables of 10 columns, a primary key, a unique key, an index, and a foreign key
on every tenth table.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

import asyncmy
from asyncmy.cursors import SSCursor

from bench.harness import MB, add_catalog_args, add_profile_args, add_run_args, script_parser
from bench.register_to_complete import measure
from catalog.adapters.mysql_crawler import quote

FLOOR_QUERIES = (
    "SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT,"
    " EXTRA, COLLATION_NAME, COLUMN_COMMENT FROM information_schema.COLUMNS"
    " WHERE TABLE_SCHEMA = %s",
    "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME,"
    " REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = %s",
    "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS"
    " WHERE TABLE_SCHEMA = %s",
)


def table_ddl(schema: str, number: int) -> str:
    name = f"t{number:05d}"
    fk = ""
    if number % 10 == 0:
        fk = f", CONSTRAINT {name}_prev FOREIGN KEY (c1) REFERENCES t{number - 1:05d} (id)"
    return (
        f"CREATE TABLE {quote(schema)}.{name} (id int AUTO_INCREMENT PRIMARY KEY,"
        " c1 int, c2 varchar(45) NOT NULL, c3 datetime DEFAULT CURRENT_TIMESTAMP,"
        " c4 decimal(12,2), c5 text COMMENT 'notes', c6 enum('a','b','c') DEFAULT 'a',"
        " c7 bigint unsigned, c8 date, c9 tinyint(1) NOT NULL DEFAULT 0,"
        f" UNIQUE KEY {name}_c2 (c2), KEY {name}_c1 (c1){fk})"
    )


async def connect(args: argparse.Namespace) -> asyncmy.Connection:
    return await asyncmy.connect(
        host=args.host, port=args.port, user=args.user, password=args.password, autocommit=True
    )


async def build(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    connection = await connect(args)
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(f"DROP DATABASE IF EXISTS {quote(args.database)}")
            await cursor.execute(f"CREATE DATABASE {quote(args.database)}")
            for number in range(1, args.build + 1):
                await cursor.execute(table_ddl(args.database, number))
    finally:
        await connection.ensure_closed()
    print(f"built {args.build} tables in {time.perf_counter() - started:.1f} s", flush=True)


async def floor(args: argparse.Namespace) -> tuple[float, int]:
    """Seconds for the floor's three streamed queries, and the rows they returned."""
    connection = await connect(args)
    rows = 0
    try:
        started = time.perf_counter()
        for sql in FLOOR_QUERIES:
            async with connection.cursor(SSCursor) as cursor:
                await cursor.execute(sql, (args.database,))
                while chunk := await cursor.fetchmany(2_000):
                    rows += len(chunk)
        return time.perf_counter() - started, rows
    finally:
        await connection.ensure_closed()


async def main_async(args: argparse.Namespace) -> int:
    if args.build:
        await build(args)
    floors = []
    for _ in range(args.repeat):
        seconds, rows = await floor(args)
        floors.append(seconds)
        print(f"floor: {seconds:.2f} s ({rows} rows)", flush=True)
    measured = await measure(args)
    if measured.error or not measured.runs:
        print(f"benchmark failed: {measured.error}", file=sys.stderr)
        return 1
    floor_median = statistics.median(floors)
    crawl_median = statistics.median(run.wall for run in measured.runs)
    peak = max(run.peak_catalog for run in measured.runs) / MB
    run = measured.runs[0]
    print(
        f"\n{args.database}: {run.tables} tables, {run.columns} columns\n"
        f"floor (3 streamed information_schema queries), median of {len(floors)}:"
        f" {floor_median:.2f} s\n"
        f"registration -> complete, median of {len(measured.runs)}: {crawl_median:.2f} s"
        f" ({crawl_median / floor_median:.2f}x the floor)\n"
        f"crawler peak RSS: {peak:.0f} MB"
    )
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = script_parser("bench.mysql_floor", __doc__)
    add_catalog_args(parser, "bench_10k")
    parser.set_defaults(engine="mysql", port=3306, user="bench")
    parser.add_argument("--build", type=int, default=0, help="first (re)create N tables")
    parser.add_argument("--repeat", type=int, default=3)
    add_profile_args(parser, "one more crawl")
    add_run_args(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
