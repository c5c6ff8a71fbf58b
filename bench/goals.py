"""The issues' goals, judged against a run, one Goal row each: the scale issue's (and, for search
during a crawl, the reliability issue's) against bench.scale; the speed issue's against
bench.speed."""

from __future__ import annotations

from bench.records import MB, Goal, ScaleRun, SizeResult, SpeedRun, WrkRun, WrkSummary
from tests.relevance.measure import MIN_MRR

FLOOR_RATIO = 1.5  # end to end within this many times floor extract + floor index
CRAWLER_RSS_MB = 250.0  # crawler peak RSS below this at every size...
FLAT_RATIO = 1.25  # ...and flat: the largest size's peak within this of the smallest's
IDLE_RPS, IDLE_P99_MS, CRAWL_P99_MS = 2_000.0, 20.0, 50.0
GET_ID_GROWTH_MB = 100.0
# The speed issue's: distinct searches, the first crawl against its floor, the crawler's memory.
SPEED_RPS, SPEED_P99_MS, SPEED_CRAWL_P99_MS = 1_000.0, 50.0, 100.0
SPEED_FLOOR_RATIO = 3.0
SPEED_RSS_MB = 250.0
# The floor: the extract and index (bench.extract_floor approaches).
SPEED_FLOOR = ("minimal_extract", "minimal_index")


def secs(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 1000 else f"{value:,.0f}"


def mb(value: float | None) -> str:
    return "-" if value is None else f"{value / MB:,.0f}"


def why_not(size: SizeResult, step: str) -> str:
    """Why a step of a size has no result: its error, or 'not run'."""
    return size.errors.get(step, "not run")


def approach_seconds(size: SizeResult, approach: str) -> float | None:
    """An extract_floor approach's median, or None where it failed or did not run."""
    row = (size.floors or {}).get(approach)
    return None if row is None or row.error else row.seconds


def floor_seconds(size: SizeResult) -> float | None:
    """Floor extract + floor index (tantivy alone): what a crawl cannot go below."""
    extract, index = approach_seconds(size, "floor_extract"), approach_seconds(size, "floor_index")
    return None if extract is None or index is None else extract + index


def e2e_seconds(size: SizeResult) -> float | None:
    return None if size.e2e is None or size.e2e.error else size.e2e.median_wall


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def floor_goals(sizes: dict[str, SizeResult]) -> list[Goal]:
    """Per size: end to end against the floor."""
    rows: list[Goal] = []
    for label, size in sizes.items():
        ours, floor = e2e_seconds(size), floor_seconds(size)
        goal = f"{label}: end to end within {FLOOR_RATIO}× of floor extract + floor index"
        if ours is None or floor is None:
            why = e2e_error(size) or "a floor failed or did not run"
            rows.append(Goal(goal, f"failed: {why}", "failed"))
            continue
        measured = f"{ours / floor:.2f}× ({secs(ours)} s against {secs(floor)} s)"
        rows.append(Goal(goal, measured, verdict(ours / floor <= FLOOR_RATIO)))
    return rows


def e2e_error(size: SizeResult) -> str | None:
    if size.e2e is None:
        return why_not(size, "e2e")
    return size.e2e.error


def memory_goal(sizes: dict[str, SizeResult]) -> Goal:
    goal = f"crawler peak RSS < {CRAWLER_RSS_MB:.0f} MB at every size, and flat"
    peaks = {
        label: size.e2e.peak_crawler
        for label, size in sizes.items()
        if size.e2e and not size.e2e.error and size.e2e.peak_crawler
    }
    if not peaks or len(peaks) != len(sizes):
        return Goal(goal, "failed: end to end did not run at every size", "failed")
    values = list(peaks.values())  # sizes in ascending order
    measured = ", ".join(f"{label} {mb(peak)} MB" for label, peak in peaks.items())
    below = max(values) / MB < CRAWLER_RSS_MB
    if len(values) == 1:
        return Goal(goal, measured, f"{verdict(below)} (below; flat needs two sizes)")
    flat = values[-1] / values[0]
    measured += f"; largest ÷ smallest {flat:.2f}× (flat: ≤ {FLAT_RATIO}×)"
    return Goal(goal, measured, verdict(below and flat <= FLAT_RATIO))


def wrk_text(summary: WrkSummary) -> str:
    text = f"{summary.rps:,.0f} req/s, p99 {summary.p99:.1f} ms"
    if summary.timeouts or summary.non_2xx:
        text += f" ({summary.non_2xx} non-2xx, {summary.timeouts} timeouts)"
    return text


def search_goals(largest: str, size: SizeResult) -> list[Goal]:
    search = size.search
    whole = why_not(size, "search")  # when the whole step failed or did not run
    rows: list[Goal] = []
    for key, label in (("idle", "answer cache on (default)"), ("idle_no_cache", "cache off")):
        goal = (
            f"{largest}: search idle ≥ {IDLE_RPS:,.0f} req/s, p99 < {IDLE_P99_MS:.0f} ms, {label}"
        )
        summary = WrkSummary.of(getattr(search, key) if search else None)
        if summary is None:
            why = (search.errors.get(key) if search else None) or whole
            rows.append(Goal(goal, f"failed: {why}", "failed"))
            continue
        ok = summary.rps >= IDLE_RPS and summary.p99 < IDLE_P99_MS and not summary.timeouts
        rows.append(Goal(goal, wrk_text(summary), verdict(ok)))
    goal = f"{largest}: search p99 < {CRAWL_P99_MS:.0f} ms during a crawl (the reliability issue)"
    summary = WrkSummary.of(search.loaded.runs if search and search.loaded else None)
    if summary is None:
        why = (search.errors.get("loaded") if search else None) or whole
        rows.append(Goal(goal, f"failed: {why}", "failed"))
    else:
        ok = summary.p99 < CRAWL_P99_MS and not summary.timeouts
        rows.append(Goal(goal, wrk_text(summary), verdict(ok)))
    goal = f"{largest}: GET /{{id}} gateway RSS growth < {GET_ID_GROWTH_MB:.0f} MB"
    seed = size.browse.seed if size.browse else None
    growth = seed.rss.growth if seed and seed.rss else None
    if seed is None or growth is None:
        why = why_not(size, "browse") if size.browse is None else "no RSS"
        rows.append(Goal(goal, f"failed: {why}", "failed"))
    else:
        measured = f"{growth / MB:.1f} MB while streaming {seed.bytes / MB:.1f} MB"
        rows.append(Goal(goal, measured, verdict(growth / MB < GET_ID_GROWTH_MB)))
    return rows


def goal_rows(run: ScaleRun) -> list[Goal]:
    largest = run.sizes.get(run.largest) or SizeResult(f"bench_{run.largest}", 0, 0)
    return [
        *floor_goals(run.sizes),
        memory_goal(run.sizes),
        *search_goals(run.largest, largest),
    ]


def _search_goal(label: str, runs: list[WrkRun] | None, rps: float | None, p99: float) -> Goal:
    want = f"≥ {rps:,.0f} req/s, p99 < {p99:.0f} ms" if rps else f"p99 < {p99:.0f} ms"
    summary = WrkSummary.of(runs)
    if summary is None:
        return Goal(f"{label}: {want}", "not measured", "failed")
    # wrk leaves timeouts out of its latencies: a run with any cannot vouch for its p99.
    ok = summary.p99 < p99 and (rps is None or summary.rps >= rps) and not summary.timeouts
    return Goal(f"{label}: {want}", wrk_text(summary), verdict(ok))


def speed_goals(run: SpeedRun) -> list[Goal]:
    """The speed issue's table."""
    search = run.search
    first = search.first_crawl if search else None
    loaded = search.loaded if search else None
    rows = [
        _search_goal(
            f"distinct `kind={run.kind}` searches, idle",
            search and search.idle,
            SPEED_RPS,
            SPEED_P99_MS,
        ),
        _search_goal(
            "the same during a full re-crawl", loaded and loaded.runs, None, SPEED_CRAWL_P99_MS
        ),
    ]
    floors = [run.floors.get(name) for name in SPEED_FLOOR]
    goal = f"first crawl, registration → complete, ÷ the floor: ≤ {SPEED_FLOOR_RATIO:.0f}×"
    if first is None or any(row is None or row.seconds is None for row in floors):
        rows.append(Goal(goal, "not measured", "failed"))
    else:
        floor = sum(row.seconds for row in floors if row and row.seconds)
        measured = f"{first.wall / floor:.1f}× ({secs(first.wall)} s against {secs(floor)} s)"
        rows.append(Goal(goal, measured, verdict(first.wall / floor <= SPEED_FLOOR_RATIO)))
    crawls = [("first crawl", first), ("full re-crawl", loaded.crawl if loaded else None)]
    for label, crawl in crawls:
        goal = f"crawler peak RSS, {label}: < {SPEED_RSS_MB:.0f} MB"
        if crawl is None:
            rows.append(Goal(goal, "not measured", "failed"))
            continue
        rows.append(
            Goal(
                goal,
                f"{mb(crawl.peak_catalog)} MB",
                verdict(crawl.peak_catalog / MB < SPEED_RSS_MB),
            )
        )
    for found in run.relevance:
        goal = f"relevance suite `{found.suite}` on tantivy: MRR@10 ≥ {MIN_MRR} (the tests' gate)"
        measured = f"{found.mrr:.3f}, first for {found.first_share:.1%} of {found.queries}"
        rows.append(Goal(goal, measured, verdict(found.mrr >= MIN_MRR)))
    return rows
