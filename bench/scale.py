"""Scale: many idle monitoring processes on one worker: memory, CPU, task latency, history, requests.

`python -m bench.scale --processes 100 [--logins 10] [--interval 10] [--duration 120] [--fresh-articles K]`

The processes share --logins logins (round robin) on one class tab whose articles are recorded as a
baseline (comment_on_existing off), so every discovery is idle. After every process has run its first
discovery, the worker is observed for --duration seconds; then the monitoring histories are read.
With --fresh-articles K, K new articles appear on the tab during the observed window (evenly spread)
while the processes' discovery saturates the site's budget; each is measured from its creation to its
first comment on the page (`fresh_to_comment_s`). The requests of each class per minute are counted at
the imitation, the waits of each class are read from the limiter (with --redis-url), and the spread of
discovery waits between processes from the histories.
Extrapolation to the production default (60 s interval, backoff doubling to 600 s):
  events per process-hour = start-up events + runs in the first hour × events per idle run (first hour)
                          = 6 runs × events per idle run (every later hour, at the 600 s cap).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from bench.harness import BenchHarness, Politeness, tree_rss_mb
from bench.history import HistoryFigures, fetch, listing_gaps, per_discovery_run
from bench.output import Option, log, run_benchmark
from bench.stats import pacing_report, percentile, summary
from workflows.monitoring import discovery_wait
from yourmoment.messages import workflow_id_for_process
from yourmoment_dev.harness import wait_until

CLASS_ID = 82
PRODUCTION_INTERVAL = 60
FIRST_ROUND_TIMEOUT_S = 1800.0  # for every process to run its first discovery (757–990 s at 1,000 saturating)
OPTIONS = (
    Option("--processes", int, 100, "idle processes (default 100; try 1000)"),
    Option("--logins", int, 10, "logins shared by the processes (default 10)"),
    Option("--interval", int, 10, "discovery interval seconds (default 10)"),
    Option("--duration", float, 120.0, "seconds observed after the first round"),
    Option("--fresh-articles", int, 0, "new articles created during the window, each timed to its comment"),
    Option(
        "--discover-now",
        int,
        0,
        "before the window, K rounds of a discover-now to every process: runs as long as K more discoveries make them",
    ),
    Option(
        "--starts-per-second",
        float,
        0.0,
        "spread the starts as `start --all` does (processes_client.start_many); 0: 25 at a time, unpaced",
    ),
)
FRESH_FIRST = 1000  # numbering of the fresh articles, apart from the baseline's
FRESH_TIMEOUT_S = 300.0  # after the last creation, for its comment
# The imitation's request kinds by the class of the site's budget (yourmoment/budget.py) they fall in.
KIND_CLASS = {
    "post": "post",
    "redirect": "post",
    "article": "prepare",
    "login": "session",
    "probe": "session",
    "list": "discovery",
    "other": "other",
}


def discovery_runs_per_hour(interval: int = PRODUCTION_INTERVAL, hours: int = 2) -> list[int]:
    """Idle discovery runs in each of the first `hours` hours (the workflow's own backoff function)."""
    runs = [0] * hours
    t, streak = 0.0, 0
    while t < hours * 3600:
        runs[int(t // 3600)] += 1
        streak += 1  # every run finds nothing
        t += discovery_wait(interval, streak)
    return runs


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


async def start_all(
    h: BenchHarness, process_ids: list[str], per_second: float, concurrency: int = 25
) -> float:
    began = time.monotonic()
    if per_second > 0:
        from yourmoment import processes_client

        async def mark(process_id: str, run_id: str) -> None:
            h.mark_running(process_id)

        assert h.client is not None
        result = await processes_client.start_many(
            h.client, h.settings, [(pid, pid) for pid in process_ids], per_second=per_second, on_started=mark
        )
        if result.failed:
            raise RuntimeError(f"{len(result.failed)} starts failed: {next(iter(result.failed.values()))}")
        return time.monotonic() - began
    gate = asyncio.Semaphore(concurrency)

    async def one(pid: str) -> None:
        async with gate:
            await h.start_direct(pid)

    await asyncio.gather(*(one(pid) for pid in process_ids))
    return time.monotonic() - began


def listed_at_least(lists: Callable[[], int], target: int) -> bool:
    return lists() >= target


async def discovery_rounds(
    h: BenchHarness, process_ids: list[str], rounds: int, lists: Callable[[], int]
) -> None:
    """`rounds` times: a discover-now to every process, then wait until each has listed once more (the
    history of a process that has run that many discoveries more, without waiting for its backoff)."""
    from yourmoment import processes_client

    assert h.client is not None
    handles = [processes_client.monitoring_handle(h.client, pid) for pid in process_ids]
    for n in range(rounds):
        target = lists() + len(process_ids)
        for chunk in range(0, len(handles), 50):
            await asyncio.gather(
                *(processes_client.send(x, "discover_now") for x in handles[chunk : chunk + 50])
            )
        await wait_until(partial(listed_at_least, lists, target), FIRST_ROUND_TIMEOUT_S, "a round", every=0.5)
        log(f"discover-now round {n + 1} of {rounds} done")


async def fresh_articles_to_comments(h: BenchHarness, k: int, duration: float) -> list[float | None]:
    """Create k articles evenly over `duration`; seconds from each creation to its first comment (None: none
    came within FRESH_TIMEOUT_S of the last creation)."""
    created: dict[int, float] = {}
    done: dict[int, float] = {}
    began = time.monotonic()
    while True:
        now = time.monotonic()
        if len(created) < k and now >= began + len(created) * duration / k:
            [article_id] = h.add_articles(1, CLASS_ID, first=FRESH_FIRST + len(created))
            created[article_id] = now
        for article_id, at in created.items():
            if article_id not in done and h.mm_state.comments_for(article_id):
                done[article_id] = now - at
        if len(created) == k and (
            len(done) == k or now > max(began + duration, max(created.values()) + FRESH_TIMEOUT_S)
        ):
            break
        await asyncio.sleep(0.25)
    if len(done) == k:  # the window lasts its full duration whatever the comments' pace
        await asyncio.sleep(max(0.0, began + duration - time.monotonic()))
    return [done.get(article_id) for article_id in created]


async def class_waits(h: BenchHarness) -> dict[str, Any] | None:
    """Waits per request class, from the shared limiter's counters (only with --redis-url)."""
    if not h.settings.redis_url:
        return None
    from yourmoment.mymoment.account import site_identity
    from yourmoment.ratelimit import RedisRateLimiter

    limiter = RedisRateLimiter(h.settings.redis_url)
    try:
        if not hasattr(limiter, "class_stats"):  # the limiter before the site's budget had classes
            return None
        from yourmoment.budget import RequestClass

        stats = await limiter.class_stats(f"host:{site_identity(h.settings.mymoment_base_url)}")
        return {RequestClass(c).label: s.as_dict() for c, s in sorted(stats.items())}
    finally:
        await limiter.close()


def flush_limits(redis_url: str | None) -> None:
    """A run starts from an empty budget (no counters or queues of an earlier run)."""
    if not redis_url:
        return
    import redis

    from yourmoment.ratelimit import KEY_PREFIX

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{KEY_PREFIX}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


async def scale(
    h: BenchHarness,
    processes: int,
    logins: int,
    interval: int,
    duration: float,
    fresh_articles: int = 0,
    starts_per_second: float = 0.0,
    discover_now: int = 0,
) -> dict[str, Any]:
    flush_limits(h.settings.redis_url)
    names = [f"pupil-{i}" for i in range(min(logins, processes))]
    h.add_logins(names, CLASS_ID)
    for n in range(5):
        h.add_articles(1, CLASS_ID, first=n)
    spec = {
        "discovery_interval_seconds": interval,
        "max_duration_minutes": 600,
        "comment_on_existing": False,
    }
    process_ids = [
        h.create_process(logins=[names[i % len(names)]], tab=str(CLASS_ID), **spec) for i in range(processes)
    ]
    worker = h.start_worker()
    await asyncio.sleep(3)
    idle_rss, idle_cpu, idle_map = worker.rss_mb(), worker.cpu_seconds(), worker.memory_map()
    log(f"worker idle: {idle_rss:.0f} MB; starting {processes} processes")
    began = time.monotonic()
    start_s = await start_all(h, process_ids, starts_per_second)
    starts_ended = time.time()

    def lists() -> int:
        return sum(1 for r in h.mm_state.stats()["requests"] if r["kind"] == "list")

    await wait_until(lambda: lists() >= processes, FIRST_ROUND_TIMEOUT_S, "every first discovery", every=1.0)
    first_round_s = time.monotonic() - began
    await discovery_rounds(h, process_ids, discover_now, lists)
    log(f"all {processes} processes discovered once; observing for {duration:.0f} s")
    cpu0, wall0, window_began = worker.cpu_seconds(), time.monotonic(), time.time()
    fresh: list[float | None] = []
    if fresh_articles:
        fresh = await fresh_articles_to_comments(h, fresh_articles, duration)
    else:
        await asyncio.sleep(duration)
    cpu_window, window, window_ended = worker.cpu_seconds() - cpu0, time.monotonic() - wall0, time.time()
    rss, uss, peak = worker.rss_mb(), worker.uss_mb(), worker.peak_rss_mb()
    mapped = worker.memory_map()
    assert h.server is not None and h.client is not None  # a harness from Harness.started
    server_rss = tree_rss_mb(h.server.pid)
    # The worker drains and stops first, so requests and completed discoveries are counted alike.
    waits = await class_waits(h)
    h.stop_worker(worker)
    stats = h.mm_state.stats()
    histories = await fetch(
        h.client, [workflow_id_for_process(pid) for pid in process_ids], listed_since=window_began
    )
    observed = {
        "processes": processes,
        "logins": len(names),
        "interval": interval,
        "duration": duration,
        "window": window,
        "start_s": start_s,
        "first_round_s": first_round_s,
        "idle_rss": idle_rss,
        "idle_cpu": idle_cpu,
        "rss": rss,
        "uss": uss,
        "peak": peak,
        "memory_map": mapped,
        "idle_memory_map": idle_map,
        "cpu_window": cpu_window,
        "server_rss": server_rss,
        "window_began": window_began,
        "window_ended": window_ended,
        "fresh_articles": fresh_articles,
        "starts_per_second": starts_per_second,
        "discover_now": discover_now,
        "starts_ended": starts_ended,
        "fresh": fresh,
        "waits": waits,
        "redis": bool(h.settings.redis_url),
    }
    return report(observed, histories, stats, h.politeness)


def report(
    v: dict[str, Any], histories: list[HistoryFigures], stats: dict[str, Any], p: Politeness
) -> dict[str, Any]:
    processes, interval = v["processes"], v["interval"]
    runs = sum(len(f.discovery_event_ids) for f in histories)
    completed = sum(len(f.discovery_durations) for f in histories)
    kinds = stats["by_kind"]
    per_run = [x for x in (per_discovery_run(f) for f in histories) if x is not None]
    events_per_run = mean([e for e, _ in per_run])
    bytes_per_run = mean([b for _, b in per_run])
    startup = mean([float(f.discovery_event_ids[0] - 1) for f in histories if f.discovery_event_ids])
    hourly = discovery_runs_per_hour()
    wft = [x for f in histories for x in f.workflow_task_latencies]
    wft_idle = [
        x
        for f in histories
        for x, t in zip(f.workflow_task_latencies, f.workflow_task_scheduled, strict=True)
        if t >= v["window_began"]
    ]
    durations = [x for f in histories for x in f.discovery_durations]
    in_window = sum(
        1 for f in histories for t in f.discovery_completed if v["window_began"] <= t <= v["window_ended"]
    )
    cpu_per_run = v["cpu_window"] / in_window if in_window else None

    wft_start = [
        x
        for f in histories
        for x, t in zip(f.workflow_task_latencies, f.workflow_task_scheduled, strict=True)
        if t < v["starts_ended"]
    ]
    wft_first_round = [
        x
        for f in histories
        for x, t in zip(f.workflow_task_latencies, f.workflow_task_scheduled, strict=True)
        if v["starts_ended"] <= t < v["window_began"]
    ]
    fresh = [x for x in v["fresh"] if x is not None]
    minutes = v["window"] / 60
    in_window_requests = [r for r in stats["requests"] if v["window_began"] <= r["wall"] <= v["window_ended"]]
    by_class: dict[str, int] = {}
    for r in in_window_requests:
        by_class[KIND_CLASS.get(r["kind"], "other")] = by_class.get(KIND_CLASS.get(r["kind"], "other"), 0) + 1
    # Each process's mean discovery wait (scheduled → completed) after its first run; their spread.
    per_process = [
        sum(d for d, t in pairs) / len(pairs)
        for f in histories
        if (pairs := [(d, t) for d, t in zip(f.discovery_durations, f.discovery_completed, strict=True)][1:])
    ]
    spread_median = percentile(per_process, 50)
    # Each process's mean time from a listing in the window back to its previous listing (before the
    # window too): every process that listed in the window counts, those that gave turns up included.
    between = [
        sum(gaps) / len(gaps)
        for f in histories
        if (gaps := listing_gaps(f.discovery_listed, v["window_began"], v["window_ended"]))
    ]
    between_median = percentile(between, 50)

    def p95_ms(values: list[float]) -> float | None:
        p = percentile(values, 95)
        return None if p is None else round(p * 1000, 1)

    def per_hour(n_runs: int, plus: float = 0.0) -> float | None:
        return None if events_per_run is None else round(plus + n_runs * events_per_run, 1)

    return {
        "benchmark": "scale",
        "command": f"python -m bench.scale --processes {processes} --logins {v['logins']} --interval {interval} "
        f"--duration {v['duration']:g}"
        + (f" --fresh-articles {v['fresh_articles']}" if v["fresh_articles"] else "")
        + (f" --starts-per-second {v['starts_per_second']:g}" if v["starts_per_second"] else "")
        + (f" --discover-now {v['discover_now']}" if v["discover_now"] else "")
        + (" --redis-url …" if v["redis"] else ""),
        "fresh_to_comment_s": {
            "n": len(v["fresh"]),
            "commented": len(fresh),
            "p50": None if not fresh else round(percentile(fresh, 50) or 0, 1),
            "p95": None if not fresh else round(percentile(fresh, 95) or 0, 1),
            "max": None if not fresh else round(max(fresh), 1),
        },
        "worker_rss_mb": round(v["rss"], 1),
        # start: tasks scheduled while the processes were being started; first_round: after that, until
        # every process had discovered once; idle: the observed window.
        "wft_latency_p95_ms": {
            "start": p95_ms(wft_start),
            "first_round": p95_ms(wft_first_round),
            "idle": p95_ms(wft_idle),
        },
        "requests_by_class": {
            "counts": dict(sorted(by_class.items())),
            "per_minute": {c: round(n / minutes, 1) for c, n in sorted(by_class.items())} if minutes else {},
        },
        "waits_by_class": v["waits"],
        "discovery_listing_interval_spread_s": {
            "processes": len(between),
            "median_of_process_means": None if between_median is None else round(between_median, 1),
            "p95_of_process_means": None if not between else round(percentile(between, 95) or 0, 1),
            "max_of_process_means": round(max(between), 1) if between else None,
            "max_over_median": round(max(between) / between_median, 2)
            if between and between_median
            else None,
        },
        "discovery_wait_spread_s": {
            "processes": len(per_process),
            "median_of_process_means": None if spread_median is None else round(spread_median, 2),
            "max_of_process_means": round(max(per_process), 2) if per_process else None,
            "min_of_process_means": round(min(per_process), 2) if per_process else None,
            "max_over_median": round(max(per_process) / spread_median, 2)
            if per_process and spread_median
            else None,
        },
        "parameters": {
            "processes": processes,
            "logins": v["logins"],
            "discovery_interval_seconds": interval,
            "observed_seconds": round(v["window"], 1),
            **p.as_dict(),
        },
        "seconds_to_start_all_workflows": round(v["start_s"], 2),
        "seconds_until_every_first_discovery": round(v["first_round_s"], 1),
        "worker": {
            "rss_mb_before_processes": round(v["idle_rss"], 1),
            "rss_mb_with_processes": round(v["rss"], 1),
            "uss_mb_with_processes": round(v["uss"], 1),
            "peak_rss_mb": round(v["peak"], 1),
            "rss_kb_per_process": round((v["rss"] - v["idle_rss"]) * 1024 / processes, 1),
            # Where the memory lies (bench/harness.py memory_map), before the processes and with them.
            "memory_map_mb_before_processes": v["idle_memory_map"],
            "memory_map_mb_with_processes": v["memory_map"],
            "memory_map_kb_per_process": {
                kind: round((mb - v["idle_memory_map"][kind]) * 1024 / processes, 1)
                for kind, mb in v["memory_map"].items()
            },
            "cpu_seconds_in_window": round(v["cpu_window"], 2),
            "cpu_percent_in_window": round(100 * v["cpu_window"] / v["window"], 1),
            "discovery_runs_in_window": in_window,
            "cpu_ms_per_discovery_run": None if cpu_per_run is None else round(cpu_per_run * 1000, 1),
        },
        "temporal_dev_server_rss_mb": round(v["server_rss"], 1),
        "workflow_task_latency_seconds": summary(wft, 4),
        "workflow_task_latency_seconds_idle_window": summary(wft_idle, 4),
        "discovery_activity_seconds_scheduled_to_completed": summary(durations, 2),
        "discovery_runs": runs,
        "discovery_runs_completed": completed,
        "requests_by_kind": kinds,
        "requests_per_idle_discovery": round(kinds["list"] / completed, 3) if completed else None,
        "non_login_requests_per_discovery": round((stats["total"] - kinds["login"]) / completed, 3)
        if completed
        else None,
        "pacing": pacing_report(stats["requests"], p.rate, p.burst),
        "history": {
            "events_per_idle_discovery_run": None if events_per_run is None else round(events_per_run, 2),
            "history_bytes_per_idle_discovery_run": None if bytes_per_run is None else round(bytes_per_run),
            "startup_events_before_first_discovery": None if startup is None else round(startup, 1),
            "production_runs_per_hour": {"first_hour": hourly[0], "later_hours": hourly[1]},
            "events_per_process_hour_first_hour": per_hour(hourly[0], startup or 0.0),
            "events_per_process_hour_later": per_hour(hourly[1]),
            "formula": "first hour: start-up events + runs(0..3600 s) × events per idle run; later: 6 × events "
            "per idle run (interval 60 s · 2^(streak−1), capped at 600 s)",
        },
        "targets_met": {
            "requests_per_idle_discovery_eq_1": completed > 0 and kinds["list"] == completed,
            "worker_rss_lt_250_mb": v["rss"] < 250,
        },
    }


if __name__ == "__main__":
    run_benchmark("bench.scale", __doc__, OPTIONS, scale)
