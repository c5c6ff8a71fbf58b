"""The shipped entry points as real processes: `catalog up` on embedded defaults, and
`python -m gateway` + `python -m indexer` against external PostgreSQL, NATS and OpenSearch."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import sys
from pathlib import Path

import aiohttp
import asyncpg
from prometheus_client.parser import text_string_to_metric_families

from catalog.embedded import free_port
from tests.e2e.conftest import Target
from tests.processes import process, wait_until_ready

CATALOG = str(Path(sys.executable).parent / "catalog")


async def register_and_find(base: str, token: str, target: Target) -> dict:
    """Register the target, wait for its crawl, and search for a table with a typo."""
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(f"{base}/credentials", json=target.registration()) as response:
            assert response.status == 200, await response.text()
            database_id = (await response.json())["id"]
        async with asyncio.timeout(60):
            while True:
                async with http.get(f"{base}/v1/databases/{database_id}") as response:
                    crawl = (await response.json())["crawl"]
                if crawl["state"] in ("complete", "failed"):
                    break
                await asyncio.sleep(0.2)
        assert crawl["state"] == "complete", crawl
        async with http.get(f"{base}/search/{database_id}/ordr_totals") as response:
            return await response.json()


async def test_catalog_up_runs_everything_embedded_and_stops_cleanly(tmp_path, target):
    data_dir = tmp_path / "data"
    port, metrics_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "catalog-up.log"
    env = {
        "CATALOG_DATA_DIR": str(data_dir),
        "CATALOG_PORT": str(port),
        "CATALOG_METRICS_PORT": str(metrics_port),
    }
    for name in ("CATALOG_DATABASE_URL", "CATALOG_NATS_URL", "CATALOG_OPENSEARCH_URL"):
        env[name] = ""  # embedded defaults, whatever the caller's environment says
    async with process(CATALOG, "up", env=env, log=log) as proc:
        await wait_until_ready(base, proc, log)
        token_file = data_dir / "admin-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert stat.S_IMODE((data_dir / "secret-keys").stat().st_mode) == 0o600
        await assert_private_and_postgres_still_reaches_its_files(data_dir)
        token = token_file.read_text().strip()
        found = await register_and_find(base, token, target)
        assert "order_totals" in found["tables"]["sales"]
        await assert_metrics_move(base, token, f"http://127.0.0.1:{metrics_port}/metrics")
    assert proc.returncode == 0, log.read_text()
    output = log.read_text()
    assert f"catalog up: {base}" in output
    assert "embedded NATS stopped" in output
    assert "embedded PostgreSQL stopped" in output
    assert target.password not in output
    assert (data_dir / "postgres" / "PG_VERSION").exists()
    assert (data_dir / "index").is_dir()
    assert not (data_dir / "postgres" / "postmaster.pid").exists()  # the server was stopped


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: aiohttp.ClientSession, url: str) -> Samples:
    async with http.get(url) as response:
        assert response.status == 200
        text = await response.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float:
    """A series' value, summed over the labels not named (0 when there is none)."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)


async def assert_metrics_move(base: str, token: str, metrics_url: str) -> None:
    """After a crawl (register_and_find), the key series of every process are served summed by
    catalog up, and searches move them."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        # The crawl's end is counted when the indexer handles the store's CrawlEnded message,
        # a moment after the status says complete.
        async with asyncio.timeout(30):
            while True:
                before = await scrape(http, metrics_url)
                if sample(before, "catalog_crawls_ended_total", state="complete"):
                    break
                await asyncio.sleep(0.1)
        assert sample(before, "catalog_crawls_ended_total", state="complete") == 1
        assert sample(before, "catalog_crawl_duration_seconds_count", state="complete") == 1
        assert sample(before, "catalog_crawl_batches_total", outcome="done") >= 1
        assert sample(before, "catalog_documents_indexed_total") > 13  # tables and columns
        route = "/v1/databases/{database_id}"
        assert sample(before, "catalog_http_requests_total", route=route, status="200") >= 1
        assert ("catalog_outbox_backlog", frozenset()) in before
        assert ("catalog_consumer_pending_messages", frozenset({("state", "waiting")})) in before
        for text in ("custmers", "ordr_totals", "emial"):  # each new: not a cached answer
            async with http.get(f"{base}/v1/search", params={"q": text}) as response:
                assert response.status == 200
        async with http.get(f"{base}/v1/no-such-route") as response:
            assert response.status == 404
        async with http.request("TRACE", f"{base}/v1/search") as response:
            assert response.status == 405
        after = await scrape(http, metrics_url)
    searches = "catalog_http_requests_total"
    assert (
        sample(after, searches, route="/v1/search") - sample(before, searches, route="/v1/search")
        == 3
    )
    searched = "catalog_search_duration_seconds_count"
    assert sample(after, searched, kind="any") - sample(before, searched, kind="any") == 3
    assert sample(after, searches, route="unmatched", status="404") >= 1
    # Any method the API does not use is one label: a scanner cannot grow the series.
    assert sample(after, searches, route="unmatched", method="other", status="405") == 1
    # Never a path, a query or a name as a label.
    assert not any("custmers" in str(key) or labelled_with_a_path(key) for key in after)


def labelled_with_a_path(key: tuple[str, frozenset[tuple[str, str]]]) -> bool:
    """Whether a series is labelled with a concrete path rather than a route pattern."""
    return any(name == "route" and "db_" in value for name, value in key[1])


async def assert_private_and_postgres_still_reaches_its_files(data_dir: Path) -> None:
    """0700; or, as root, where pgserver runs PostgreSQL as a user of its own (in our group),
    0710. A CHECKPOINT (which opens files by absolute path) proves PostgreSQL still passes."""
    folder = data_dir.stat()
    if (data_dir / "postgres").stat().st_uid == os.geteuid():
        assert stat.S_IMODE(folder.st_mode) == 0o700
    else:
        assert (stat.S_IMODE(folder.st_mode), folder.st_gid) == (0o710, os.getegid())
    conn = await asyncpg.connect(host=str(data_dir / "postgres"), user="postgres")
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


def children_running(parent: int, module: str) -> list[int]:
    """Pids of `parent`'s children that run `python -m module`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat_fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        if int(stat_fields[1]) == parent and argv[1:3] == [b"-m", module.encode()]:
            found.append(int(entry.name))
    return found


def up_env(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    env = {"CATALOG_DATA_DIR": str(tmp_path / "data"), "CATALOG_PORT": str(port), **extra}
    for name in ("CATALOG_DATABASE_URL", "CATALOG_NATS_URL", "CATALOG_OPENSEARCH_URL"):
        env[name] = ""
    return env


async def test_catalog_up_restarts_a_child_that_dies_and_keeps_serving(tmp_path, target):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "catalog-up.log"
    env = up_env(tmp_path, port, CATALOG_GATEWAY_PROCESSES="2", CATALOG_INDEXER_NICE="5")
    async with process(CATALOG, "up", env=env, log=log) as proc:
        await wait_until_ready(base, proc, log)
        gateways = children_running(proc.pid, "gateway")
        [indexer] = children_running(proc.pid, "indexer")
        assert len(gateways) == 2
        assert os.getpriority(os.PRIO_PROCESS, indexer) == os.getpriority(os.PRIO_PROCESS, 0) + 5
        os.kill(indexer, signal.SIGKILL)
        os.kill(gateways[0], signal.SIGKILL)
        async with asyncio.timeout(30):
            while len(children_running(proc.pid, "indexer")) != 1 or (
                len(children_running(proc.pid, "gateway")) != 2
            ):
                await asyncio.sleep(0.2)
        token = (tmp_path / "data" / "admin-token").read_text().strip()
        found = await register_and_find(base, token, target)
        assert "order_totals" in found["tables"]["sales"]
    assert proc.returncode == 0, log.read_text()
    output = log.read_text()
    assert "indexer exited with code -9; restarting it" in output
    assert "gateway-1 exited with code -9; restarting it" in output or (
        "gateway-2 exited with code -9; restarting it" in output
    )


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


async def test_the_children_stop_when_catalog_up_is_killed(tmp_path):
    port = free_port()
    log = tmp_path / "catalog-up.log"
    data_dir = tmp_path / "data"
    async with process(CATALOG, "up", env=up_env(tmp_path, port), log=log) as proc:
        try:
            await wait_until_ready(f"http://127.0.0.1:{port}", proc, log)
            children = children_running(proc.pid, "gateway") + children_running(proc.pid, "indexer")
            assert len(children) >= 2
            proc.kill()  # no chance to stop anything itself
            await proc.wait()
            async with asyncio.timeout(30):
                while any(Path(f"/proc/{pid}").exists() for pid in children):
                    await asyncio.sleep(0.2)
        finally:
            # The engines it started outlive a SIGKILL (PostgreSQL daemonises; NATS has its own
            # session): they are this test's to stop.
            for pid in processes_mentioning(str(data_dir / "nats")):
                os.kill(pid, signal.SIGTERM)
            postmaster = data_dir / "postgres" / "postmaster.pid"
            if postmaster.exists():
                os.kill(int(postmaster.read_text().split()[0]), signal.SIGTERM)


async def test_a_second_catalog_up_stops_the_nats_server_a_killed_one_left(tmp_path):
    """Two nats-servers on one JetStream store would corrupt it."""
    data_dir = tmp_path / "data"
    store = str((data_dir / "nats").resolve())
    port = free_port()
    log = tmp_path / "first.log"
    async with process(CATALOG, "up", env=up_env(tmp_path, port), log=log) as first:
        await wait_until_ready(f"http://127.0.0.1:{port}", first, log)
        [leftover] = processes_mentioning(store)
        first.kill()
        await first.wait()
    assert Path(f"/proc/{leftover}").exists()  # it outlived the SIGKILL

    port = free_port()
    log = tmp_path / "second.log"
    try:
        async with process(CATALOG, "up", env=up_env(tmp_path, port), log=log) as second:
            await wait_until_ready(f"http://127.0.0.1:{port}", second, log)
            running = processes_mentioning(store)
            assert leftover not in running
            assert len(running) == 1
        assert f"stopping a nats-server (pid {leftover}) left running" in log.read_text()
    finally:
        for pid in processes_mentioning(store):
            os.kill(pid, signal.SIGTERM)
        postmaster = data_dir / "postgres" / "postmaster.pid"
        if postmaster.exists():
            os.kill(int(postmaster.read_text().split()[0]), signal.SIGTERM)


async def test_catalog_up_stops_with_one_clear_line_when_its_nats_server_dies(tmp_path):
    """Not up and headless for good: its children would only answer 503 and retry forever."""
    port = free_port()
    log = tmp_path / "catalog-up.log"
    async with process(CATALOG, "up", env=up_env(tmp_path, port), log=log) as proc:
        await wait_until_ready(f"http://127.0.0.1:{port}", proc, log)
        [nats_server] = processes_mentioning(str((tmp_path / "data" / "nats").resolve()))
        os.kill(nats_server, signal.SIGKILL)
        async with asyncio.timeout(60):
            await proc.wait()
    assert proc.returncode == 1
    output = log.read_text()
    assert "catalog: the embedded NATS stopped answering; stopping everything" in output
    assert not (tmp_path / "data" / "postgres" / "postmaster.pid").exists()  # stopped too


async def test_catalog_up_refuses_a_port_in_use_with_one_clear_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        log = tmp_path / "catalog-up.log"
        async with process(CATALOG, "up", env=up_env(tmp_path, port), log=log) as proc:
            async with asyncio.timeout(60):
                await proc.wait()
    assert proc.returncode == 1
    assert f"catalog: cannot listen on 127.0.0.1:{port}" in log.read_text()
    assert not (tmp_path / "data" / "postgres" / "postmaster.pid").exists()


async def test_gateway_and_indexer_run_apart_on_external_engines(
    tmp_path, target, store_url, nats_url, opensearch_url
):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "CATALOG_DATA_DIR": str(tmp_path / "data"),
        "CATALOG_PORT": str(port),
        "CATALOG_DATABASE_URL": store_url,
        "CATALOG_NATS_URL": nats_url,
        "CATALOG_OPENSEARCH_URL": opensearch_url,
        "CATALOG_OPENSEARCH_INDEX": "catalog-e2e",
        "CATALOG_ADMIN_TOKEN": "cat_external-admin-0123456789abcdef",
        "CATALOG_TARGET_THIS_HOST": "1",  # the target is on loopback
        "CATALOG_SECRET_KEYS": "kJ7lJc3vS0f1q0HOSzWZ1uN3m8V1mB4N0b2Zq6b6Lxs=",
    }
    gateway_log, indexer_log = tmp_path / "gateway.log", tmp_path / "indexer.log"
    async with (
        process(sys.executable, "-m", "gateway", env=env, log=gateway_log) as gateway,
        process(sys.executable, "-m", "indexer", env=env, log=indexer_log),
    ):
        await wait_until_ready(base, gateway, gateway_log)
        found = await register_and_find(base, "cat_external-admin-0123456789abcdef", target)
        assert "order_totals" in found["tables"]["sales"]
    for log in (gateway_log, indexer_log):
        assert target.password not in log.read_text()
    assert not (tmp_path / "data" / "postgres").exists()  # nothing embedded was started
