"""The suite's private engines: each runs from this run's folder on a port of its own, a broken
one fails with its log, and what a killed run left behind is stopped and removed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web
from playwright.async_api import async_playwright

from tests.engines.mariadb import MariaDbServer
from tests.engines.postgres import PostgresServer
from tests.engines.process import (
    EngineFailed,
    alive,
    clean_leftovers,
    engine_folder,
    new_run_folder,
    running,
)

CLICK_PAGE = """<!doctype html><title>engine check</title>
<button onclick="this.textContent = 'clicked ' + (1 + 1)">press</button>"""


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


async def test_postgres_runs_from_this_runs_folder(postgres: PostgresServer, engine_run: Path):
    conn = await asyncpg.connect(postgres.url())
    try:
        version = await conn.fetchval("SHOW server_version_num")
        data_directory = await conn.fetchval("SHOW data_directory")
        encoding = await conn.fetchval("SHOW server_encoding")
    finally:
        await conn.close()
    assert int(version) >= 150000
    assert encoding == "UTF8"
    if "CATALOG_TEST_POSTGRES_URL" not in os.environ:
        assert data_directory.startswith(str(engine_run))


async def test_postgres_asks_other_roles_for_their_password(postgres: PostgresServer):
    role = f"engine_check_{os.getpid()}"
    await postgres.execute("postgres", f"CREATE ROLE {role} LOGIN PASSWORD 'right'")
    try:
        url = f"postgresql://{role}:right@{postgres.host}:{postgres.port}/postgres"
        conn = await asyncpg.connect(url)
        assert await conn.fetchval("SELECT current_user") == role
        await conn.close()
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(url.replace(":right@", ":wrong@"))
    finally:
        await postgres.execute("postgres", f"DROP ROLE {role}")


def test_mariadb_runs_from_this_runs_folder(mariadb: MariaDbServer, engine_run: Path):
    version, port, datadir = mariadb.client("SELECT VERSION(), @@port, @@datadir").split("\t")
    assert "MariaDB" in version
    assert int(port) == mariadb.port
    if "CATALOG_TEST_MYSQL_URL" not in os.environ:
        assert datadir.strip().startswith(str(engine_run))


async def test_chromium_runs_a_page_script(chromium: str, aiohttp_server):
    async def page(_: web.Request) -> web.Response:
        return web.Response(text=CLICK_PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    server = await aiohttp_server(app)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.connect_over_cdp(chromium)
        try:
            page = await browser.new_page()
            await page.goto(str(server.make_url("/")))
            await page.click("button")
            assert await page.text_content("button") == "clicked 2"
        finally:
            await browser.close()


def test_an_engine_that_exits_while_starting_fails_with_its_log(tmp_path):
    argv = ["sh", "-c", "echo 'FATAL: no such setting' >&2; exit 3"]
    with (
        pytest.raises(EngineFailed, match=r"(?s)exited with code 3.*FATAL: no such setting"),
        running("broken", argv, folder=tmp_path, ready=lambda: False),
    ):
        pass


def test_an_engine_never_ready_fails_after_its_timeout_and_is_stopped(tmp_path):
    argv = ["sh", "-c", "echo $$ > sleeper.pid; echo still warming up; exec sleep 60"]
    with (
        pytest.raises(EngineFailed, match=r"(?s)not ready within 0.5 s.*still warming up"),
        running("slow", argv, folder=tmp_path, ready=lambda: False, timeout=0.5),
    ):
        pass
    assert not alive(int((tmp_path / "sleeper.pid").read_text()))
    assert not (tmp_path / "engine.pid").exists()


def test_leftovers_of_a_killed_run_are_stopped_and_removed(tmp_path):
    root = tmp_path / "runs"
    dead_owner = subprocess.Popen(["true"])
    dead_owner.wait()
    killed = root / "run-killed"
    folder = killed / "postgres"
    folder.mkdir(parents=True)
    (killed / "owner.pid").write_text(str(dead_owner.pid))
    leftover = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", folder])
    (folder / "engine.pid").write_text(str(leftover.pid))
    live = root / "run-live"
    live.mkdir()
    (live / "owner.pid").write_text(str(os.getpid()))

    reports = clean_leftovers(root)

    assert leftover.wait(10) == -signal.SIGTERM
    assert not killed.exists()
    assert live.exists()  # a running test process keeps its engines
    assert reports == [
        f"stopped a leftover postgres (pid {leftover.pid}) of a killed test run in {killed}"
    ]


def test_a_reused_pid_is_not_killed_as_a_leftover(tmp_path):
    root = tmp_path / "runs"
    folder = root / "run-killed" / "postgres"
    folder.mkdir(parents=True)
    (root / "run-killed" / "owner.pid").write_text("999999999")
    stranger = subprocess.Popen(["sleep", "300"])  # its command line names no run folder
    (folder / "engine.pid").write_text(str(stranger.pid))
    try:
        assert clean_leftovers(root) == []
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_engines_die_with_the_test_run_that_started_them(tmp_path):
    """SIGKILL the process that started an engine: the engine goes too (PR_SET_PDEATHSIG)."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from tests.engines.process import new_run_folder, engine_folder, running\n"
        "run = new_run_folder(Path(sys.argv[1]))\n"
        "folder = engine_folder(run, 'sleeper', None)\n"
        "with running('sleeper', ['sleep', '300'], folder=folder, ready=lambda: True) as e:\n"
        "    print(e.process.pid, flush=True)\n"
        "    time.sleep(300)\n"
    )
    starter = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "runs")],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert starter.stdout is not None
    engine_pid = int(starter.stdout.readline())
    starter.kill()
    starter.wait()
    starter.stdout.close()
    wait_for(lambda: not alive(engine_pid))


def test_a_new_run_folder_is_reachable_by_engine_users(tmp_path):
    run = new_run_folder(tmp_path / "runs")
    assert run.stat().st_mode & 0o777 == 0o755
    assert (run / "owner.pid").read_text() == str(os.getpid())
    assert engine_folder(run, "x", None).stat().st_mode & 0o777 == 0o700
