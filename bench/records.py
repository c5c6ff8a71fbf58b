"""What the benchmarks measure, as typed records. JSON is written with `save` (dataclasses.asdict)
and read back with `load`/`from_dict`, which rebuild the nested records from their type hints."""

from __future__ import annotations

import dataclasses
import json
import statistics
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
MB = 1024 * 1024
# A wrk run stopped at the crawl's end this soon after it began says too little to count.
MIN_WRK_SECONDS = 5.0


def median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# ---- crawls --------------------------------------------------------------------------------


@dataclass
class CrawlRun:
    """One registration -> complete in `catalog up` (bench.register_to_complete)."""

    wall: float
    duration: float | None
    queued: float | None  # requested -> started: queueing plus listing the relations
    tables: int
    columns: int
    batches: int | None
    batch_seconds: list[float] = field(default_factory=list)
    peak_catalog: int = 0  # the crawling process: catalog up's indexer child
    peak_embedded: int = 0
    peak_gateways: int = 0
    # Batches each worker ("pid:slot") acknowledged: how the crawl spread over them.
    workers: dict[str, int] = field(default_factory=dict)


@dataclass
class EndToEnd:
    """--repeat crawl runs, each in a fresh `catalog up`; `error` ends them early."""

    workers: int
    batch_size: int
    fresh_catalog_per_run: bool = True
    startup: float | None = None
    runs: list[CrawlRun] = field(default_factory=list)
    error: str | None = None
    log_tail: str | None = None

    @property
    def median_wall(self) -> float | None:
        return median_or_none([run.wall for run in self.runs])

    @property
    def median_crawl(self) -> float | None:
        return median_or_none([run.duration for run in self.runs if run.duration is not None])

    @property
    def peak_crawler(self) -> int | None:
        return max((run.peak_catalog for run in self.runs), default=None)

    @property
    def peak_gateways(self) -> int | None:
        return max((run.peak_gateways for run in self.runs), default=None)


@dataclass
class SearchCrawl:
    """A crawl as the search bench sees it: polled wall time, its own duration, peak RSS."""

    wall: float  # requested (or registered) -> seen complete, polled
    duration: float | None  # the crawl's own started -> finished
    tables: int
    columns: int
    peak_catalog: int = 0
    peak_embedded: int = 0


# ---- floors --------------------------------------------------------------------------------


@dataclass
class FloorSample:
    """One run of one bench.extract_floor approach, in its own process."""

    seconds: float
    counts: dict[str, int]
    start_rss: int  # before the timed work
    parts: dict[str, float] = field(default_factory=dict)
    peak_rss: int = 0


@dataclass
class FloorRun:
    """An approach's runs summarised: medians, the largest RSS, or why it has none."""

    seconds: float | None = None
    runs: list[float] = field(default_factory=list)
    peak_rss: int = 0
    start_rss: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    parts: dict[str, float] = field(default_factory=dict)
    failed: int = 0
    error: str | None = None

    @classmethod
    def of(cls, samples: list[FloorSample], errors: list[str]) -> FloorRun:
        if not samples:
            return cls(error=errors[-1] if errors else "not run")
        last = samples[-1]
        return cls(
            seconds=statistics.median(s.seconds for s in samples),
            runs=[s.seconds for s in samples],
            peak_rss=max(s.peak_rss for s in samples),
            start_rss=max(s.start_rss for s in samples),
            counts=last.counts,
            parts={k: statistics.median(s.parts[k] for s in samples) for k in last.parts},
            failed=len(errors),
        )


# ---- search under load ---------------------------------------------------------------------


@dataclass
class WrkRun:
    rps: float
    p50: float  # ms
    p99: float  # ms
    requests: int
    seconds: float
    errors: int  # non-2xx responses plus socket errors
    non_2xx: int = 0
    timeouts: int = 0  # no answer within wrk's --timeout: left out of the latency distribution
    cut: bool = False  # stopped with SIGINT when the crawl completed


def counted(runs: list[WrkRun]) -> list[WrkRun]:
    """The runs the medians are over: all but stubs cut short at the crawl's end."""
    kept = [run for run in runs if run.requests and run.seconds >= MIN_WRK_SECONDS]
    return kept or runs


@dataclass
class WrkSummary:
    """Medians over the counted runs, errors summed over them."""

    rps: float
    p50: float
    p99: float
    non_2xx: int
    timeouts: int
    requests: int
    seconds: float
    errors: int
    runs: int

    @classmethod
    def of(cls, runs: list[WrkRun] | None) -> WrkSummary | None:
        if not runs:
            return None
        kept = counted(runs)
        return cls(
            rps=statistics.median(run.rps for run in kept),
            p50=statistics.median(run.p50 for run in kept),
            p99=statistics.median(run.p99 for run in kept),
            non_2xx=sum(run.non_2xx for run in kept),
            timeouts=sum(run.timeouts for run in kept),
            requests=sum(run.requests for run in kept),
            seconds=sum(run.seconds for run in kept),
            errors=sum(run.errors for run in kept),
            runs=len(kept),
        )


@dataclass
class LoadedCrawl:
    crawl: SearchCrawl | None = None
    runs: list[WrkRun] = field(default_factory=list)


@dataclass
class SearchSettings:
    connections: int
    threads: int
    duration: int
    wrk_timeout: float
    runs: int


@dataclass
class SearchLoad:
    """Search under load in one catalog: idle, during a re-crawl, and (bench.scale) idle again
    with the answer cache off. `errors` says which phase failed, by its field's name."""

    settings: SearchSettings | None = None
    first_crawl: SearchCrawl | None = None
    queries: list[tuple[str, str]] = field(default_factory=list)  # (table, typo)
    found_top10: int = 0
    found_top1: int = 0
    checked: int = 0  # queries checked for what they find
    idle_crawl: SearchCrawl | None = None  # the re-crawl with no load, a baseline
    idle: list[WrkRun] | None = None
    loaded: LoadedCrawl | None = None
    idle_no_cache: list[WrkRun] | None = None
    errors: dict[str, str] = field(default_factory=dict)


# ---- OpenSearch bulk writes (bench.opensearch_crawl) ---------------------------------------


@dataclass
class BulkRun:
    chunk_size: int
    concurrency: int
    seconds: float
    client_cpu: float  # this process's CPU seconds: building and serializing the requests
    documents: int
    requests: int
    retries: int
    calls: int
    heap_used_mb: float  # the node's JVM heap in use just after the run
    peak_rss_mb: float  # the node's peak resident memory so far


@dataclass(frozen=True)
class OpenSearchNode:
    url: str
    version: str
    pid: int
    heap_max_mb: float


# ---- browsing ------------------------------------------------------------------------------


@dataclass
class Rss:
    pid: int | None  # of the process reported: the one that grew most
    before: int | None
    peak: int | None
    after: int | None
    growth: int | None
    samples: int


@dataclass
class Paging:
    page_size: int
    pages: int = 0
    tables: int = 0
    seconds: float = 0.0  # wall time of the whole walk
    page_ms: list[float] = field(default_factory=list)
    bucket: int = 0  # pages in each of the first, middle and last share
    first_ms: float = 0.0
    middle_ms: float = 0.0
    last_ms: float = 0.0
    last_over_first: float = 0.0
    throttled: int = 0  # 429 answers waited out (not timed)
    rss: Rss | None = None


@dataclass
class SeedStream:
    bytes: int = 0
    tables: int = 0
    columns: int = 0
    first_byte_ms: float = 0.0
    seconds: float = 0.0
    rss: Rss | None = None


@dataclass
class Browse:
    database: str
    database_id: str = ""
    measured_at: str = ""
    commit: str = ""
    setup: dict[str, Any] = field(default_factory=dict)  # where and how it was measured
    crawl: dict[str, Any] = field(default_factory=dict)  # the status of the crawl browsed
    paging: Paging | None = None
    seed: SeedStream | None = None


# ---- the scale run -------------------------------------------------------------------------


@dataclass
class Machine:
    cores: int
    memory_gib: int
    cpu: str
    python: str
    tantivy: str
    wrk: str
    postgresql: str = "?"


@dataclass
class Build:
    built: bool
    tables_found: int
    seconds: float | None = None  # when this run built it


@dataclass
class SizeResult:
    """Every step at one catalog size; a step that failed has its error in `errors`."""

    database: str
    tables: int
    columns: int
    build: Build | None = None
    e2e: EndToEnd | None = None
    floors: dict[str, FloorRun] | None = None
    workers_1: EndToEnd | None = None
    search: SearchLoad | None = None
    browse: Browse | None = None
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class ScaleSettings:
    workers: int
    batch_size: int
    search_duration: int


@dataclass
class ScaleRun:
    command: str
    started_at: str
    commit: str
    machine: Machine
    load_average_at_start: list[float]
    repeat: int
    largest: str
    settings: ScaleSettings
    json_path: str
    sizes: dict[str, SizeResult] = field(default_factory=dict)
    finished_at: str | None = None
    wall_seconds: float | None = None
    load_average_at_end: list[float] | None = None
    benchmark: str = "scale"


@dataclass
class Goal:
    goal: str
    measured: str
    result: str  # met / missed / failed


# ---- the speed issue's table (bench.speed) ---------------------------------------------------


@dataclass
class Relevance:
    suite: str  # kinds (kind=table and kind=column) or any (the search box's)
    mrr: float
    first_share: float
    queries: int


@dataclass
class SpeedRun:
    """One bench.speed run: the search load (its first crawl and its loaded full re-crawl), the
    floor of that crawl, and the relevance suites, all on one target in one run."""

    database: str
    kind: str
    search: SearchLoad | None = None
    floors: dict[str, FloorRun] = field(default_factory=dict)
    relevance: list[Relevance] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


# ---- JSON ----------------------------------------------------------------------------------


def save(record: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dataclasses.asdict(record), indent=1) + "\n")


def load(cls: type[T], path: Path) -> T:
    return from_dict(cls, json.loads(path.read_text()))


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """A record from its asdict() form; keys it has no field for are left out."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: _typed(hints[k], v) for k, v in data.items() if k in names})


def _typed(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):  # X | None: the X
        return _typed(next(a for a in args if a is not type(None)), value)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value)  # type: ignore[arg-type]
    if origin is list:
        return [_typed(args[0], item) for item in value]
    if origin is tuple:
        return tuple(_typed(a, item) for a, item in zip(args, value, strict=True))
    if origin is dict:
        return {key: _typed(args[1], item) for key, item in value.items()}
    return value
