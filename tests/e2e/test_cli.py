"""The `catalog` command's API commands, as a person runs them, against the whole system: a real
crawl through NATS into tantivy, over the gateway's HTTP API."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from dataclasses import dataclass

from tests.e2e.conftest import ADMIN_TOKEN, System, Target
from tests.target_schema import RELATIONS


@dataclass
class Run:
    code: int
    out: str
    err: str


async def catalog(system: System, *args: str, stdin: str = "", token: str = ADMIN_TOKEN) -> Run:
    """`catalog ARGS` in a process of its own, pointed at the system's gateway."""
    env = {
        **os.environ,
        "CATALOG_URL": str(system.client.make_url("")),
        "CATALOG_TOKEN": token,
        "COLUMNS": "200",  # wide enough that tables are not cut
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "catalog.cli",
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(90):
        out, err = await proc.communicate(stdin.encode())
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


def registration_args(target: Target, name: str) -> list[str]:
    return [
        "register",
        name,
        "--host",
        target.server.host,
        "--port",
        str(target.server.port),
        "--dbname",
        target.dbname,
        "--user",
        target.user,
        "--password-stdin",
    ]


async def test_register_follow_list_search_and_recrawl(system, target):
    registered = await catalog(
        system, *registration_args(target, "shop"), "--follow", stdin=target.password + "\n"
    )
    assert registered.code == 0, registered
    database_id = re.search(r"registered 'shop' as (db_\w+)", registered.out).group(1)
    # Not a terminal: a line each time the crawl moves on, then how it ended.
    assert re.search(r"(queued|running|finishing): \d/(5|\?) batches", registered.out)
    assert f"complete: {len(RELATIONS)} tables and" in registered.out
    assert "(full, generation 1)" in registered.out

    listed = await catalog(system, "databases")
    assert listed.code == 0, listed
    row = next(line for line in listed.out.splitlines() if database_id in line)
    assert "shop" in row
    assert "postgresql" in row
    assert "complete" in row

    found = await catalog(system, "search", "custmers", "--kind", "table")
    assert found.code == 0, found
    first = next(line for line in found.out.splitlines() if re.match(r"\W*1\W", line))
    assert "sales.customers" in first

    again = await catalog(system, "crawl", database_id, "--follow")
    assert again.code == 0, again
    assert re.search(r"complete: \d+ tables .*generation 2\)", again.out), again.out

    for run in (registered, listed, found, again):
        assert target.password not in run.out + run.err


async def test_a_failed_crawl_exits_3_with_its_error_class(system, target):
    closed = await catalog(
        system,
        *registration_args(target, "gone"),
        "--follow",
        stdin="wrong-password\n",
    )
    assert closed.code == 3, closed
    assert "failed (auth_failed)" in closed.out
    assert "wrong-password" not in closed.out + closed.err


async def test_api_errors_exit_1_with_the_problem_in_one_line(system):
    unknown = await catalog(system, "crawl", "db_missing")
    assert unknown.code == 1
    assert unknown.err.strip().startswith("catalog: 404 ")
    assert "db_missing" in unknown.err

    refused = await catalog(system, "databases", token="cat_not-a-token-0123456789abcdef")
    assert refused.code == 1
    assert refused.err.strip().startswith("catalog: 401 ")
    assert "Traceback" not in refused.err


async def test_register_without_a_terminal_asks_for_password_stdin(system, target):
    args = registration_args(target, "shop")[:-1]  # without --password-stdin
    run = await catalog(system, *args)
    assert run.code == 1
    assert "use --password-stdin" in run.err
