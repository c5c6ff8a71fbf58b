"""Results as Markdown for docs/benchmarks.md, and the scale plot: no measuring here."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from bench.goals import (
    approach_seconds,
    e2e_seconds,
    floor_seconds,
    goal_rows,
    mb,
    secs,
    speed_goals,
    why_not,
)
from bench.harness import fmt
from bench.records import (
    MB,
    Browse,
    BulkRun,
    EndToEnd,
    FloorRun,
    OpenSearchNode,
    Paging,
    ScaleRun,
    SearchLoad,
    SeedStream,
    SizeResult,
    SpeedRun,
    WrkRun,
    WrkSummary,
    counted,
)
from catalog.adapters.opensearch_index import BulkOptions
from catalog.documents import Document

SCALE_BEGIN, SCALE_END = "<!-- scale:begin -->", "<!-- scale:end -->"
FLOOR_LABELS = {
    "floor_extract": "floor extract (the crawler's pg_catalog SQL, whole catalog, streamed)",
    "floor_index": "floor index: tantivy alone (converted outside the timer)",
    "extractor": "our extractor alone (list_relations + read_batch 500)",
    "index_adapter": "our index adapter (TantivyIndex.upsert, 5,500 a call)",
}
# Lines of the plot: label, how to read seconds of a size, line style.
PLOT_LINES: list[tuple[str, Callable[[SizeResult], float | None], str]] = [
    ("ours, end to end (registration → complete)", e2e_seconds, "-"),
    ("floor: extract + index (tantivy alone)", floor_seconds, "-"),
    ("our extractor alone", lambda s: approach_seconds(s, "extractor"), "-"),
]


# ---- bench.scale ---------------------------------------------------------------------------


def e2e_failure(size: SizeResult, key: str) -> str | None:
    """Why an end-to-end step (`e2e`, `workers_1`) has no runs to show; None when it has."""
    e2e: EndToEnd | None = getattr(size, key)
    if e2e is None:
        return why_not(size, key)
    return e2e.error if e2e.error and not e2e.runs else None


def size_lines(label: str, size: SizeResult, repeat: int) -> list[str]:
    """The results table of one size."""
    build = size.build
    if build is None:
        about = f"could not be built: {why_not(size, 'build')}"
    elif build.built:
        about = f"built by this run in {secs(build.seconds)} s"
    else:
        about = f"existed ({build.tables_found:,} tables)"
    lines = [
        f"### {size.tables:,} tables × {size.columns} columns (`{size.database}`)",
        "",
        f"Database {about}. Medians of {repeat} run{'s' * (repeat > 1)} (end to end: each in a "
        "fresh `catalog up`); ÷ floor is the time "
        "over floor extract + floor index (tantivy alone); peak RSS is the crawling process's "
        "(`catalog up`'s indexer child; the gateway processes summed beside it), or the fresh "
        "process each other approach runs in.",
        "",
        "| what | median s | runs s | peak RSS MB | ÷ floor |",
        "|---|---:|---:|---:|---:|",
    ]
    floor = floor_seconds(size)

    def ratio(seconds: float | None) -> str:
        return f"{seconds / floor:.2f}×" if seconds is not None and floor else "-"

    e2e = size.e2e
    if e2e is None or e2e_failure(size, "e2e"):
        lines.append(f"| **ours, end to end** | failed: {e2e_failure(size, 'e2e')} | | | |")
    else:
        runs = ", ".join(secs(run.wall) for run in e2e.runs)
        note = f" ({len(e2e.runs)} runs, then failed: {e2e.error})" if e2e.error else ""
        lines.append(
            f"| **ours, end to end** (registration → complete, workers {e2e.workers}){note} "
            f"| **{secs(e2e.median_wall)}** | {runs} | {mb(e2e.peak_crawler)} "
            f"(gateways {mb(e2e.peak_gateways)}) | **{ratio(e2e.median_wall)}** |"
        )
        lines.append(
            f"| the crawl itself (started → finished) | {secs(e2e.median_crawl)} "
            f"| {', '.join(secs(run.duration) for run in e2e.runs)} | | "
            f"{ratio(e2e.median_crawl)} |"
        )
    rows = size.floors or {}
    for key, text in FLOOR_LABELS.items():
        if key == "extractor":
            lines.append(f"| **floor: extract + index** | **{secs(floor)}** | | | 1.00× |")
        row = rows.get(key)
        if row is None or row.error:
            why = row.error if row else why_not(size, "floors")
            lines.append(f"| {text} | failed: {why} | | | |")
            continue
        lines.append(
            f"| {text} | {secs(row.seconds)} | {', '.join(secs(s) for s in row.runs)} "
            f"| {mb(row.peak_rss)} | {ratio(row.seconds)} |"
        )
    return lines


def workers_lines(size: SizeResult, workers: int) -> list[str]:
    lines = [
        "| CATALOG_WORKERS | median end to end s | runs s | batches acknowledged per worker, "
        "each run |",
        "|---:|---:|---:|---|",
    ]
    for key, count in (("workers_1", 1), ("e2e", workers)):
        e2e: EndToEnd | None = getattr(size, key)
        if e2e is None or e2e_failure(size, key):
            lines.append(f"| {count} | failed: {e2e_failure(size, key)} | | |")
            continue
        spread = "; ".join(
            " + ".join(str(n) for n in run.workers.values()) or "(no worker lines logged)"
            for run in e2e.runs
        )
        lines.append(
            f"| {e2e.workers} | {secs(e2e.median_wall)} "
            f"| {', '.join(secs(run.wall) for run in e2e.runs)} | {spread} |"
        )
    return lines


def search_lines(search: SearchLoad, whole_error: str) -> list[str]:
    lines = [
        "| phase | req/s | p50 ms | p99 ms | non-2xx | timeouts | requests | runs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    phases = (
        ("idle, default settings (answer cache on)", "idle", search.idle),
        (
            "idle, answer cache off (CATALOG_SEARCH_CACHE_MB=0)",
            "idle_no_cache",
            search.idle_no_cache,
        ),
        (
            "during a re-crawl, default settings",
            "loaded",
            search.loaded.runs if search.loaded else None,
        ),
    )
    for text, key, runs in phases:
        summary = WrkSummary.of(runs)
        if summary is None:
            why = search.errors.get(key) or whole_error
            lines.append(f"| {text} | failed: {why} | | | | | | |")
            continue
        lines.append(
            f"| {text} | {summary.rps:,.0f} | {summary.p50:.1f} | {summary.p99:.1f} "
            f"| {summary.non_2xx:,} | {summary.timeouts:,} | {summary.requests:,} "
            f"| {summary.runs} |"
        )
    settings = search.settings
    wrk = "wrk"
    if settings:
        wrk = (
            f"wrk -t{settings.threads} -c{settings.connections} -d{settings.duration}s "
            f"--latency --timeout={settings.wrk_timeout}s"
        )
    notes = [
        f"- Load: `{wrk}` on "
        "GET `/v1/search?q=<one-typo table name>&kind=table&database_id=<id>`, "
        f"{len(search.queries)} names rotated (the misspelled table first for "
        f"{search.found_top1}, in the top 10 for {search.found_top10}). "
        "Idle: back-to-back runs; during a re-crawl: back-to-back runs from the re-crawl request, "
        "as many as idle (the crawl then finishes unloaded: `catalog up` runs the indexer at a "
        "lower CPU priority, so a saturating load slows the crawl, not search); "
        "cache off: the same data, `catalog up` restarted with "
        "CATALOG_SEARCH_CACHE_MB=0. Medians over the runs, errors summed; where a run has "
        "timeouts its latencies are lower bounds (wrk leaves timeouts out)."
    ]
    first, loaded = search.first_crawl, search.loaded
    crawl = loaded.crawl if loaded else None
    if first and crawl and first.duration and crawl.duration and loaded:
        notes.append(
            f"- The re-crawl, loaded for its first {len(loaded.runs)} runs, took "
            f"{secs(crawl.duration)} s against "
            f"{secs(first.duration)} s for this catalog's first crawl, unloaded "
            f"(×{crawl.duration / first.duration:.2f}); crawler peak RSS during it "
            f"{mb(crawl.peak_catalog)} MB."
        )
    return [*lines, "", *notes]


def browse_lines(browse: Browse) -> list[str]:
    paging, seed = browse.paging or Paging(0), browse.seed or SeedStream()
    return [
        "| tables | pages × size | first / middle / last 10% ms | last ÷ first | all pages s "
        "| GET /{id} MB | to the end s | gateway RSS growth MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {paging.tables:,} | {paging.pages} × {paging.page_size} "
        f"| {paging.first_ms:.1f} / {paging.middle_ms:.1f} / {paging.last_ms:.1f} "
        f"| {paging.last_over_first:.2f} | {secs(paging.seconds)} | {seed.bytes / MB:.1f} "
        f"| {secs(seed.seconds)} | {mb(seed.rss.growth if seed.rss else None)} |",
    ]


def failures(run: ScaleRun) -> list[str]:
    found = []
    for label, size in run.sizes.items():
        found += [f"- {label} {key}: {error}" for key, error in size.errors.items()]
        for key in ("e2e", "workers_1"):
            e2e: EndToEnd | None = getattr(size, key)
            if e2e and e2e.error:
                found.append(f"- {label} {key}: {e2e.error}")
        found += [
            f"- {label} floors {name}: {row.error}"
            for name, row in (size.floors or {}).items()
            if row.error
        ]
        if size.search:
            found += [f"- {label} search {k}: {e}" for k, e in size.search.errors.items()]
    return found


def scale_section(run: ScaleRun, plot: Path, docs: Path) -> str:
    m = run.machine
    load_start, load_end = run.load_average_at_start, run.load_average_at_end
    load = ""
    if load_start and load_end:
        load = f"; load average {load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end"
    wall = run.wall_seconds
    sizes = ", ".join(f"{size.tables:,}" for size in run.sizes.values())
    lines = [
        SCALE_BEGIN,
        "## Scale: crawl time against catalog size",
        "",
        f"Everything the scale issue measures, {sizes} tables × 10 columns, in one run of one "
        f"command ({'unfinished' if wall is None else f'{wall / 60:.0f} min'}):",
        "",
        "```sh",
        f"{run.command}",
        "```",
        "",
        f"Measured {run.started_at} to {run.finished_at or '(cut short)'} (UTC) at "
        f"commit {run.commit}, on {m.cores} cores ({m.cpu}), {m.memory_gib} GiB, "
        f"shared with other work{load}; Python {m.python}, tantivy-py {m.tantivy}, "
        f"PostgreSQL {m.postgresql} (the targets), "
        f"{m.wrk}. `catalog up` on embedded defaults (workers {run.settings.workers}, "
        f"batch size {run.settings.batch_size}). Raw results: `{run.json_path}`; "
        f"`python -m bench.scale --from-json {run.json_path} --write-docs` renders this section "
        "and the plot again without measuring.",
        "",
        f"![crawl time against catalog size, log-log]({os.path.relpath(plot, docs.parent)})",
        "",
        "| goal | measured | |",
        "|---|---|---|",
        *(f"| {row.goal} | {row.measured} | {row.result} |" for row in goal_rows(run)),
        "",
    ]
    for label, size in run.sizes.items():
        lines += [*size_lines(label, size, run.repeat), ""]
    largest = run.sizes.get(run.largest)
    if largest and largest.build is not None:
        lines += [
            f"### At {largest.tables:,} tables: workers, browsing, search under load",
            "",
            "Batches per worker come from the indexer's `worker <pid>:<slot> acked "
            "catalog.crawl.batch` lines; workers are the pull loops of the one indexer process.",
            "",
            *workers_lines(largest, run.settings.workers),
            "",
        ]
        if largest.browse is None:
            lines += [f"Browsing failed: {why_not(largest, 'browse')}", ""]
        else:
            lines += [*browse_lines(largest.browse), ""]
        search = largest.search
        whole_error = why_not(largest, "search")
        if search is None or ("search" in largest.errors and not search.idle):
            lines += [f"Search under load failed: {whole_error}", ""]
        else:
            lines += [*search_lines(search, whole_error), ""]
    found = failures(run)
    if found:
        lines += ["Failed steps:", "", *found, ""]
    lines.append(SCALE_END)
    return "\n".join(lines)


def draw(run: ScaleRun, path: Path) -> None:
    """Seconds against tables on log axes: ours, the floor, our extractor alone."""
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    sizes = list(run.sizes.values())
    figure, axes = plt.subplots(figsize=(8.5, 5.5))
    for label, seconds_of, style in PLOT_LINES:
        points = [(size.tables, s) for size in sizes if (s := seconds_of(size)) is not None]
        if points:
            xs, ys = zip(*points, strict=True)
            axes.plot(xs, ys, linestyle=style, marker="o", label=label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    ticks = [size.tables for size in sizes]
    axes.set_xticks(ticks)
    axes.set_xticklabels([f"{t:,}" for t in ticks])
    axes.xaxis.set_minor_formatter(NullFormatter())
    if len(ticks) == 1:  # one size: a decade either side, so the axis is readable
        axes.set_xlim(ticks[0] / 3, ticks[0] * 3)
    axes.set_xlabel(f"tables (× {sizes[0].columns if sizes else 10} columns)")
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.set_ylabel(f"seconds (median of {run.repeat} run{'s' * (run.repeat > 1)})")
    axes.set_title(f"Crawl time against catalog size — {run.started_at[:10]}, {run.commit}")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    print(f"wrote {path}")


# ---- docs/benchmarks.md --------------------------------------------------------------------


def replace_between(text: str, path: Path, begin: str, end: str) -> None:
    """Replace the section between the markers, or put it right after the title; keep the rest.

    Re-read right before writing: others edit the file's other sections.
    """
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    if begin in current and end in current:
        before, rest = current.split(begin, 1)
        updated = before + text + rest.split(end, 1)[1]
    else:
        lines = current.splitlines(keepends=True)
        title = next((i for i, line in enumerate(lines) if line.startswith("# ")), -1)
        head, tail = "".join(lines[: title + 1]), "".join(lines[title + 1 :])
        updated = f"{head}\n{text}\n{tail}" if title >= 0 else f"{text}\n\n{current}"
    path.write_text(updated)
    print(f"wrote the section {begin} of {path}")


# ---- bench.search_load ---------------------------------------------------------------------


def wrk_run_lines(idle: list[WrkRun], loaded: list[WrkRun]) -> list[str]:
    """Every wrk run of bench.search_load, then each phase's medians."""
    lines = [
        "| phase | run | req/s | p50 ms | p99 ms | requests | seconds | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for phase, runs in (("idle", idle), ("during crawl", loaded)):
        kept = counted(runs)
        for number, run in enumerate(runs, 1):
            cut = " (cut at crawl end)" if run.cut else ""
            if run not in kept:
                cut += ", not in the median"
            lines.append(
                f"| {phase} | {number}{cut} | {run.rps:.0f} | {run.p50:.2f} | {run.p99:.2f} "
                f"| {run.requests} | {run.seconds:.1f} | {run.errors} |"
            )
    for phase, runs in (("idle", idle), ("during crawl", loaded)):
        summary = WrkSummary.of(runs)
        if summary:
            lines.append(
                f"| **{phase}** | **median** | **{summary.rps:.0f}** | **{summary.p50:.2f}** "
                f"| **{summary.p99:.2f}** | {summary.requests} | {summary.seconds:.1f} "
                f"| {summary.errors} |"
            )
    return lines


def search_load_summary(results: SearchLoad, distinct: bool) -> list[str]:
    """bench.search_load's findings, a bullet each."""
    lines = []
    first, idle_crawl = results.first_crawl, results.idle_crawl
    loaded_crawl = results.loaded.crawl if results.loaded else None
    if first:
        lines.append(
            f"- Registration -> complete: {first.wall:.1f} s (the crawl itself "
            f"{fmt(first.duration)} s) for {first.tables:,} tables and {first.columns:,} "
            f"columns; peak RSS of the crawling process (`catalog up`'s indexer) "
            f"{first.peak_catalog / MB:.0f} MB "
            f"(embedded PostgreSQL + NATS, summed, {first.peak_embedded / MB:.0f} MB)."
        )
    if idle_crawl and loaded_crawl and idle_crawl.duration and loaded_crawl.duration:
        lines.append(
            f"- Re-crawl with no load: {idle_crawl.duration:.1f} s; under search load: "
            f"{loaded_crawl.duration:.1f} s (x{loaded_crawl.duration / idle_crawl.duration:.2f})."
            f" Peak RSS of the indexer during the loaded re-crawl "
            f"{loaded_crawl.peak_catalog / MB:.0f} MB."
        )
    idle = WrkSummary.of(results.idle)
    loaded = WrkSummary.of(results.loaded.runs if results.loaded else None)
    if idle and loaded:
        lines.append(
            f"- Medians idle: {idle.rps:.0f} req/s, p50 {idle.p50:.2f} ms, p99 {idle.p99:.2f} ms."
            f" During the crawl: {loaded.rps:.0f} req/s, p50 {loaded.p50:.2f} ms, p99 "
            f"{loaded.p99:.2f} ms. p99 during crawl / idle: x{loaded.p99 / idle.p99:.2f}."
        )
    runs = (results.idle or []) + (results.loaded.runs if results.loaded else [])
    timeouts, non_2xx = sum(r.timeouts for r in runs), sum(r.non_2xx for r in runs)
    if timeouts or non_2xx:
        wrk_timeout = results.settings.wrk_timeout if results.settings else "?"
        lines.append(
            f"- wrk counted {non_2xx:,} non-2xx answers and {timeouts:,} timeouts (requests "
            f"unanswered after its {wrk_timeout:g} s `--timeout`) over all runs. wrk "
            "leaves timeouts out of the latency distribution, so where a run has them its p50 "
            "and p99 are lower bounds."
        )
    if results.queries:
        lines.append(
            f"- Queries: {len(results.queries):,} one-typo names of real tables, "
            + (
                "each run a slice of its own, none sent twice in a run"
                if distinct
                else "rotated by a wrk Lua script"
            )
            + f" (e.g. {', '.join(f'`{q}`' for _, q in results.queries[:4])}); of "
            f"{results.checked} checked, the misspelled table was in the top 10 for "
            f"{results.found_top10} and first for {results.found_top1}."
        )
    return lines


# ---- bench.extract_floor -------------------------------------------------------------------


def floor_lines(
    database: str, repeat: int, rows: dict[str, FloorRun], labels: dict[str, str]
) -> list[str]:
    """bench.extract_floor's table of approaches, the floor's sum, and each row's details."""
    extractor = rows.get("extractor")
    ours = extractor.seconds if extractor else None
    lines = [
        "",
        f"### {database}: median of {repeat} runs, each in a fresh process",
        "",
        "| approach | median s | peak RSS MB | RSS before timed work MB | vs our extractor |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in rows.items():
        if row.error or row.seconds is None:
            lines.append(f"| {labels[name]} | {row.error} | - | - | - |")
            continue
        ratio = f"{row.seconds / ours:.2f}x" if ours else "-"
        lines.append(
            f"| {labels[name]} | {row.seconds:.2f} | {row.peak_rss / MB:.0f} | "
            f"{row.start_rss / MB:.0f} | {ratio} |"
        )
    floor = [rows[k].seconds for k in ("floor_extract", "floor_index") if k in rows]
    if len(floor) == 2 and None not in floor:
        total = sum(s for s in floor if s is not None)
        versus = f" ({total / ours:.2f}x our extractor alone)" if ours else ""
        lines += ["", f"floor extract + floor index: {total:.2f} s{versus}"]
    lines.append("")
    for name, row in rows.items():
        if row.error:
            continue
        counts = ", ".join(f"{k} {v:,}" for k, v in row.counts.items())
        parts = ", ".join(f"{k} {v:.2f} s" for k, v in row.parts.items())
        line = f"- {name}: runs [{', '.join(f'{s:.2f}' for s in row.runs)}] s; {counts}"
        if parts:
            line += f"; parts (median): {parts}"
        if row.failed:
            line += f"; {row.failed} runs failed"
        lines.append(line)
    return lines


# ---- bench.search_latency and bench.opensearch_crawl ---------------------------------------------


def memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def search_latency_lines(
    args: argparse.Namespace,
    documents: int,
    generated: float,
    built: float,
    size: float,
    search_rows: list,
    suggest_rows: list,
    substring_rows: list,
) -> str:
    """bench.search_latency's section: a row per search, suggest and substring way."""
    all_search = [row[3] for row in search_rows]
    lines = [
        "## Search and suggest",
        "",
        f"`python -m bench.search_latency --tables {args.tables} --columns {args.columns}"
        f" --runs {args.runs}`: {os.cpu_count()} cores, {memory_gib():.0f} GiB,"
        f" Python {platform.python_version()}, tantivy-py {version('tantivy')}.",
        "",
        f"{documents:,} documents ({args.tables:,} tables x {args.columns} columns) generated in"
        f" {generated:.1f} s and indexed in {built:.1f} s ({size:.0f} MB). Times are per call of"
        " the adapter (the gateway's JSON and HTTP come on top), after one warm-up call, over"
        f" {args.runs} calls each; search asks for facets and one hit more than a page of 10,"
        " as GET /v1/search does.",
        "",
        "| search | q | kind | hits | median ms | p99 ms |",
        "|---|---|---|---:|---:|---:|",
    ]
    for label, text, kind, median, p99, hits in search_rows:
        lines.append(
            f"| {label} | `{text}` | {kind or 'any'} | {hits:,} | {median:.1f} | {p99:.1f} |"
        )
    lines += [
        "",
        f"Median of the search medians: {statistics.median(all_search):.1f} ms.",
        "",
        "| suggest q | median ms | p99 ms | first suggestions |",
        "|---|---:|---:|---|",
    ]
    for text, median, p99, first in suggest_rows:
        lines.append(f"| `{text}` | {median:.1f} | {p99:.1f} | {', '.join(first)} |")
    lines += [
        "",
        "Substring matching, the engine alone (`voice`, top 11):",
        "",
        "| how | median ms | p99 ms | documents |",
        "|---|---:|---:|---:|",
    ]
    for label, median, p99, count in substring_rows:
        lines.append(f"| {label} | {median:.2f} | {p99:.2f} | {count:,} |")
    return "\n".join(lines)


def opensearch_crawl_lines(
    args: argparse.Namespace,
    node: OpenSearchNode,
    documents: list[Document],
    per_call: int,
    generated: float,
    runs: list[BulkRun],
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> str:
    """bench.opensearch_crawl's section: the setup, then a row per setting."""
    argv = " ".join(sys.argv[1:])
    lines = [
        f"`python -m bench.opensearch_crawl {argv}`: {os.cpu_count()} cores, "
        f"{memory_gib():.0f} GiB, Python {platform.python_version()}, "
        f"opensearch-py {version('opensearch-py')}, OpenSearch {node.version} (one node, "
        f"heap {node.heap_max_mb:,.0f} MB); load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after.",
        "",
        f"{len(documents):,} documents ({args.tables:,} tables x {args.columns} columns) "
        f"generated in {generated:.1f} s, written {per_call:,} a call "
        f"(`--batch-tables {args.batch_tables}`) in chunks of at most "
        f"{args.chunk_bytes / 2**20:.0f} MiB; every run ends with exactly "
        f"{len(documents):,} documents in the index and its refresh interval put back. "
        f"Medians of {args.repeat} runs each.",
        "",
        "| chunk size | concurrency | seconds | documents/s | client CPU s | bulk requests "
        "| retries | node heap used after | node peak RSS so far |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    settings = sorted({(r.chunk_size, r.concurrency) for r in runs})
    medians = {}
    for chunk_size, concurrency in settings:
        alike = [r for r in runs if (r.chunk_size, r.concurrency) == (chunk_size, concurrency)]
        seconds = statistics.median(r.seconds for r in alike)
        medians[chunk_size, concurrency] = seconds
        last = alike[-1]
        lines.append(
            f"| {chunk_size} | {concurrency} | {seconds:.1f} | {last.documents / seconds:,.0f} "
            f"| {statistics.median(r.client_cpu for r in alike):.1f} | {last.requests} "
            f"| {max(r.retries for r in alike)} | {last.heap_used_mb:,.0f} MB "
            f"| {max(r.peak_rss_mb for r in alike):,.0f} MB |"
        )
    default = (BulkOptions().chunk_size, BulkOptions().concurrency)
    if default in medians and len(medians) > 1:
        best = min(medians, key=medians.__getitem__)
        lines += [
            "",
            f"Fastest: chunk {best[0]}, concurrency {best[1]}, at "
            f"{medians[default] / medians[best]:.2f}x the documents per second of the default "
            f"(chunk {default[0]}, concurrency {default[1]}).",
        ]
    return "\n".join(lines)


# ---- bench.speed -----------------------------------------------------------------------------


def speed_lines(run: SpeedRun) -> list[str]:
    """The speed issue's table, then the floor's parts and anything that failed."""
    lines = [
        "",
        f"### {run.database}: the speed issue's figures, one run",
        "",
        "| figure and goal | measured | |",
        "|---|---|---|",
        *(f"| {row.goal} | {row.measured} | {row.result} |" for row in speed_goals(run)),
        "",
    ]
    for name, row in run.floors.items():
        if row.error or row.seconds is None:
            lines.append(f"- floor `{name}`: {row.error}")
        else:
            counts = ", ".join(f"{key} {value:,}" for key, value in row.counts.items())
            lines.append(f"- floor `{name}`: {row.seconds:.2f} s ({counts})")
    lines += [f"- {step} failed: {error}" for step, error in run.errors.items()]
    return lines
