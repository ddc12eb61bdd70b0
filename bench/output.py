"""The benchmarks' command line and output: options, a run in the harness, JSON results on stdout (and in a
file), the summary line, progress lines and the machine on stderr."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.harness import BenchHarness, Politeness

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
# Celery reference figures (issue 5), printed beside ours for comparison.
CELERY_REFERENCE = {
    "requests_per_comment": 6,
    "requests_for_three_comments": "25-27",
    "peak_rps_against_2_rps_policy": 3.9,
    "worker_rss_mb": 1500,
    "worker_startup_s": 10,
}

# The one line each benchmark prints on stderr: a str.format template filled from its result.
SUMMARY_LINES = {
    "backup": (
        "backup: {parameters[pupils]} pupils: {requests_per_pupil_per_hour[unchanged]} requests per pupil and "
        "hour unchanged, {requests_per_pupil_per_hour[one_article_changed_per_pupil]} with one article changed; "
        "first run {first_run[requests]} requests in {first_run[seconds]} s"
    ),
    "small_run": (
        "small run: cold {cold[seconds_start_to_all_posted]} s, {cold[requests_total]} requests, "
        "{cold[full_logins]} login(s), {cold[steady_requests_per_comment]} req/comment steady, "
        "peak {cold[pacing][peak_requests_in_1s]}/s; warm {warm[seconds_start_to_all_posted]} s, "
        "{warm[requests_total]} requests, {warm[full_logins]} login(s), probes {warm[requests_by_kind][probe]}"
    ),
    "throughput": (
        "throughput: {comments_posted} comments, {comments_per_minute}/min = {fraction_of_bound:.0%} of the "
        "politeness bound {politeness_bound_per_minute[bound]}/min; freshness p50 {freshness_seconds[p50]} s, "
        "p95 {freshness_seconds[p95]} s, max {freshness_seconds[max]} s"
    ),
    "scale": (
        "scale: {parameters[processes]} idle processes: worker {worker[rss_mb_with_processes]} MB "
        "({worker[rss_kb_per_process]} KB/process), CPU {worker[cpu_percent_in_window]} %, WFT latency p95 "
        "{workflow_task_latency_seconds[p95]} s, {history[events_per_idle_discovery_run]} events per idle run, "
        "{requests_per_idle_discovery} requests per idle discovery; fresh article → comment "
        "{fresh_to_comment_s[p50]} / {fresh_to_comment_s[p95]} / {fresh_to_comment_s[max]} s (p50/p95/max)"
    ),
    "footprint": (
        "footprint: start-up {startup_seconds_to_first_poll[median]} s to first poll, idle worker "
        "{idle_worker_rss_mb} MB RSS, small run {small_run[worker_cpu_seconds_incl_stop]} CPU s "
        "(peak {small_run[worker_peak_rss_mb]} MB)"
    ),
    "temporal_cost": (
        "temporal cost: {per_article[events]} events and {per_article[payload_bytes]} payload bytes per article "
        "(article workflow {article_workflow[events_mean]} events / {article_workflow[payload_bytes_mean]:.0f} B; "
        "monitor {monitoring_workflow[events]} events / {monitoring_workflow[payload_bytes]} B for "
        "{parameters[articles]} articles)"
    ),
}


def emit(result: dict[str, Any], human: str, json_out: str | None) -> None:
    """JSON on stdout (and in `json_out`), one human line on stderr."""
    text = json.dumps(result, indent=2, default=str)
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(text + "\n")
    print(text)
    print(human, file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": sys.version.split()[0],
        # Other work on the machine skews CPU and latency figures: the load is recorded with them.
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=float, default=2.0, help="SCRAPING_RATE_LIMIT (default 2)")
    parser.add_argument("--burst", type=int, default=5, help="SCRAPING_BURST_LIMIT (default 5)")
    parser.add_argument(
        "--database-url", help="a scratch PostgreSQL database instead of a temporary SQLite file"
    )
    parser.add_argument("--json-out", help="also write the JSON here")
    parser.add_argument("--redis-url", help="pace through Redis (the shared limiter) instead of in-process")
    parser.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the worker processes (A/B runs, e.g. WORKER_MAX_CACHED_WORKFLOWS=300); repeatable",
    )


@dataclass(frozen=True)
class Option:
    """One of a benchmark's own options; its value reaches the benchmark as the keyword argument `dest`."""

    flag: str
    type: Callable[[str], Any]
    default: Any
    help: str | None = None

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


def run_benchmark(
    module: str,
    doc: str | None,
    options: Sequence[Option],
    measure: Callable[..., Awaitable[dict[str, Any]]],
    argv: list[str] | None = None,
) -> None:
    """`python -m MODULE`: its `options`, then the common ones; `measure(harness, **option values)` run in a
    BenchHarness started as the options say, and its result emitted with the machine it ran on and its
    line in SUMMARY_LINES."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {module}", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for option in options:
        parser.add_argument(option.flag, type=option.type, default=option.default, help=option.help)
    add_common_args(parser)
    args = parser.parse_args(argv)
    values = {option.dest: getattr(args, option.dest) for option in options}
    # Two options configure the harness, not the benchmark; a benchmark without them runs with neither
    # a pause between a login's comments nor LLM latency.
    politeness = Politeness(args.rate, args.burst, values.pop("comment_interval", 0.0))
    llm_latency_ms = values.pop("llm_latency_ms", 0)

    async def measure_in_harness() -> dict[str, Any]:
        async with BenchHarness.running(
            politeness, args.database_url, llm_latency_ms, redis_url=args.redis_url
        ) as harness:
            harness.extra_env.update(dict(item.split("=", 1) for item in args.worker_env))
            result = await measure(harness, **values)
            if args.worker_env:
                result["worker_env"] = args.worker_env
            result["machine"] = machine()
            return result

    result = asyncio.run(measure_in_harness())
    emit(result, SUMMARY_LINES[result["benchmark"]].format_map(result), args.json_out)
