"""A private headless Chromium from Debian's package, for browser tests: tests drive it over the
DevTools protocol (Playwright's `connect_over_cdp`), so no test tool downloads a browser.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from tests.engines.process import EngineFailed, engine_folder, running

# Without the background-networking flags Chromium keeps dialling Google's hosts, which a closed
# network refuses; --no-sandbox because the tests may run as root.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


def binary() -> str:
    found = os.environ.get("CATALOG_TEST_CHROMIUM") or shutil.which("chromium")
    if found is None:
        raise EngineFailed("no chromium; scripts/test-deps installs it")
    return found


@contextlib.contextmanager
def running_chromium(run: Path) -> Iterator[str]:
    """Start Chromium; yield its DevTools endpoint (http://127.0.0.1:port)."""
    folder = engine_folder(run, "chromium", None)
    profile = folder / "profile"
    # With port 0, Chromium picks a free port and writes it as the first line of this file.
    active_port = profile / "DevToolsActivePort"
    argv = [binary(), *FLAGS, f"--user-data-dir={profile}", "about:blank"]
    written = lambda: active_port.exists() and "\n" in active_port.read_text()  # noqa: E731
    with running("chromium", argv, folder=folder, ready=written):
        port = active_port.read_text().split()[0]
        yield f"http://127.0.0.1:{port}"
