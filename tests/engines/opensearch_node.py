"""A private OpenSearch node: the launcher in tests/engines/opensearch (a Java main that starts
OpenSearch's `Node` with our plugins on the classpath, jars from Maven Central), on a free port.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from catalog.embedded import free_port
from tests.engines.process import engine_folder, running

LAUNCHER = Path(__file__).parent / "opensearch" / "run"
# A JVM and a fresh cluster state: seconds, more on a loaded machine.
START_TIMEOUT_SECONDS = 120.0


def _healthy(url: str) -> bool:
    """The node answers and its cluster state is usable (yellow: one node, no replicas)."""
    try:
        with urllib.request.urlopen(f"{url}/_cluster/health", timeout=2) as response:
            return json.load(response)["status"] in ("yellow", "green")
    except (OSError, urllib.error.URLError, ValueError, KeyError):
        return False


@contextlib.contextmanager
def running_opensearch(run: Path) -> Iterator[str]:
    """Start the node; yield its URL (http://127.0.0.1:port)."""
    folder = engine_folder(run, "opensearch", None)
    home, port = folder / "home", free_port()
    (home / "tmp").mkdir(parents=True)
    url = f"http://127.0.0.1:{port}"
    argv = [str(LAUNCHER), str(home), str(port)]
    with running(
        "opensearch",
        argv,
        folder=folder,
        ready=lambda: _healthy(url),
        timeout=START_TIMEOUT_SECONDS,
    ):
        yield url
