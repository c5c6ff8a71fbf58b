"""Prometheus metrics of the gateway and the indexer, and the endpoint that serves them.

`catalog up` runs several gateway processes and an indexer. prometheus-client's multiprocess
mode has each child write its samples to files in PROMETHEUS_MULTIPROC_DIR (a folder `catalog up`
empties under its data folder and names in the children's environment), and `catalog up` serves
them summed on CATALOG_METRICS_HOST:CATALOG_METRICS_PORT (127.0.0.1:9464 unless set). A gateway
or indexer run on its own (a deployment's container) serves its own samples there, only when
CATALOG_METRICS_PORT is set. Nothing here carries a secret: labels are routes, states and
outcomes, never a database's name or a query.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)

from catalog.models import Crawl

log = logging.getLogger(__name__)

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own variable
CATALOG_UP_METRICS_PORT = 9464

# Requests are quick, crawls are not: each histogram has the buckets its durations fall in.
_REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_CRAWL_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400)

HTTP_REQUESTS = Counter(
    "catalog_http_requests",
    "HTTP requests answered by the gateway, by route (its pattern) and status",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "catalog_http_request_duration_seconds",
    "Seconds from a request's arrival to its answer, by route",
    ["route", "method"],
    buckets=_REQUEST_BUCKETS,
)
SEARCH_DURATION = Histogram(
    "catalog_search_duration_seconds",
    "Seconds the search index took to answer a search (not counting answers kept in the cache)",
    ["kind"],
    buckets=_REQUEST_BUCKETS,
)
CRAWLS_ENDED = Counter(
    "catalog_crawls_ended",
    "Crawls that ended: complete, failed, or held by the fail-safe",
    ["state"],
)
CRAWL_DURATION = Histogram(
    "catalog_crawl_duration_seconds",
    "Seconds from a crawl's start (its plan stored) to its end, by how it ended",
    ["state"],
    buckets=_CRAWL_BUCKETS,
)
BATCHES = Counter(
    "catalog_crawl_batches",
    "Crawl batch messages handled: done, failed (to be tried again, or given up), and"
    " redelivered (handled again, after a failure or a delivery that never finished)",
    ["outcome"],
)
DOCUMENTS_INDEXED = Counter(
    "catalog_documents_indexed",
    "Table and column documents written to the search index by crawls",
)
OUTBOX_BACKLOG = Gauge(
    "catalog_outbox_backlog",
    "Events committed to the store's outbox and not yet published to NATS",
    multiprocess_mode="mostrecent",
)
# The gauges keep the most recent value of whichever process set it (not a live sum), so a dead
# child's files need no cleanup: mark_process_dead only removes live gauges' files.
CONSUMER_PENDING = Gauge(
    "catalog_consumer_pending_messages",
    "Messages of the crawl stream waiting for a worker (waiting), and delivered but not yet"
    " acknowledged (unacknowledged)",
    ["state"],
    multiprocess_mode="mostrecent",
)


def prepare_multiprocess_dir(data_dir: Path) -> Path:
    """An empty folder for the children's samples (a new `catalog up` starts from zero)."""
    folder = data_dir / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def serve(host: str, port: int, multiprocess_dir: Path | None = None) -> bool:
    """Serve /metrics on host:port from a thread of this process: the samples of every process
    writing to `multiprocess_dir`, else this process's own. False (and a warning) when the
    port cannot be had: metrics are not worth refusing to run for."""
    registry = REGISTRY
    if multiprocess_dir is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(multiprocess_dir))
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        log.warning("metrics are not served: cannot listen on %s:%s: %s", host, port, exc)
        return False
    log.info("metrics on http://%s:%s/metrics", host, port)
    return True


def serve_own(host: str, port: int | None) -> None:
    """A gateway or indexer process: serve its own metrics if a port is set and no supervisor
    gathers them (`catalog up` names a multiprocess folder and serves that instead)."""
    if port and not os.environ.get(MULTIPROCESS_DIR):
        serve(host, port)


def record_crawl_end(crawl: Crawl) -> None:
    """Count a crawl that ended (complete, failed or held) and how long it ran."""
    CRAWLS_ENDED.labels(crawl.state.value).inc()
    if crawl.duration_seconds is not None:  # None: it ended before it started
        CRAWL_DURATION.labels(crawl.state.value).observe(max(0.0, crawl.duration_seconds))
