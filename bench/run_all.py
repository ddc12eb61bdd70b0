"""Every benchmark with modest defaults (`make bench`): bench/results/*.json and one JSON summary on stdout.

`python -m bench.run_all [--only NAME ...] [--with-1000] [--database-url URL]`

Each benchmark runs as its own `python -m bench.<module>` process (the commands listed in RUNS), so a
figure in the summary is exactly what that command prints. Takes about 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import operator
import subprocess
import sys
import time
from collections.abc import Callable
from functools import reduce
from typing import Any

from bench.output import REPO, RESULTS_DIR, emit, log, machine


def throughput_args(articles: int, arrival_seconds: int) -> list[str]:
    """bench.throughput: 2 processes of 2 logins, a 500 ms LLM, `articles` arriving over `arrival_seconds`."""
    options = {
        "--processes": 2,
        "--logins": 2,
        "--articles": articles,
        "--llm-latency-ms": 500,
        "--arrival-seconds": arrival_seconds,
    }
    return [str(part) for option in options.items() for part in option]


# name -> (module, arguments)
RUNS: dict[str, tuple[str, list[str]]] = {
    "small_run": ("bench.small_run", []),
    "small_run_comment_interval_30": ("bench.small_run", ["--comment-interval", "30"]),
    "throughput": ("bench.throughput", throughput_args(articles=20, arrival_seconds=20)),
    "freshness": ("bench.throughput", throughput_args(articles=12, arrival_seconds=120)),
    "scale_100": ("bench.scale", ["--processes", "100", "--duration", "120"]),
    "footprint": ("bench.footprint", []),
    "temporal_cost": ("bench.temporal_cost", []),
}
OPTIONAL_RUNS: dict[str, tuple[str, list[str]]] = {
    "scale_1000": ("bench.scale", ["--processes", "1000", "--logins", "50", "--duration", "120"]),
}


def run_one(name: str, module: str, args: list[str], database_url: str | None) -> dict[str, Any]:
    out = RESULTS_DIR / f"{name}.json"
    command = [sys.executable, "-m", module, *args, "--json-out", str(out)]
    if database_url:
        command += ["--database-url", database_url]
    log(f"{name}: python -m {module} {' '.join(args)}")
    began = time.monotonic()
    proc = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, text=True)  # stderr passes through
    if proc.returncode != 0:
        return {"error": f"exit code {proc.returncode}", "command": f"python -m {module} {' '.join(args)}"}
    result: dict[str, Any] = json.loads(proc.stdout)
    result["wall_seconds"] = round(time.monotonic() - began, 1)
    return result


Figure = Callable[[dict[str, Any]], Any]


def at(*path: str) -> Figure:
    """The figure at `path` in a benchmark's result: at("worker", "rss_mb") reads r["worker"]["rss_mb"]."""
    return lambda result: reduce(operator.getitem, path, result)


def busiest_second(result: dict[str, Any]) -> int:
    """The small run's busiest 1 s window, of the cold and the warm run."""
    peaks: list[int] = [result[run]["pacing"]["peak_requests_in_1s"] for run in ("cold", "warm")]
    return max(peaks)


# benchmark -> the few figures of its result that bench/README.md's summary table quotes, by name
HEADLINES: dict[str, dict[str, Figure]] = {
    "small_run": {
        "cold_seconds_start_to_posted": at("cold", "seconds_start_to_all_posted"),
        "cold_requests": at("cold", "requests_total"),
        "cold_by_kind": at("cold", "requests_by_kind"),
        "cold_full_logins": at("cold", "full_logins"),
        "warm_seconds_start_to_posted": at("warm", "seconds_start_to_all_posted"),
        "warm_requests": at("warm", "requests_total"),
        "warm_full_logins": at("warm", "full_logins"),
        "warm_probes": at("warm", "requests_by_kind", "probe"),
        "steady_requests_per_comment": at("cold", "steady_requests_per_comment"),
        "peak_requests_in_1s": busiest_second,
        "pacing_held": at("targets_met", "pacing_held"),
        "targets_met": at("targets_met"),
    },
    "throughput": {
        "comments_per_minute": at("comments_per_minute"),
        "fraction_of_bound": at("fraction_of_bound"),
        "bound_per_minute": at("politeness_bound_per_minute", "bound"),
        "freshness_seconds": at("freshness_seconds"),
        "steady_requests_per_comment": at("steady_requests_per_comment"),
        "pacing_held": at("pacing", "pacing_held"),
    },
    "scale": {
        "processes": at("parameters", "processes"),
        "worker": at("worker"),
        "workflow_task_latency_seconds": at("workflow_task_latency_seconds"),
        "requests_per_idle_discovery": at("requests_per_idle_discovery"),
        "history": at("history"),
    },
    "footprint": {
        "startup_seconds_to_first_poll": at("startup_seconds_to_first_poll", "median"),
        "idle_worker_rss_mb": at("idle_worker_rss_mb"),
        "small_run": at("small_run"),
        "targets_met": at("targets_met"),
    },
    "temporal_cost": {
        "per_article": at("per_article"),
        "article_workflow_events": at("article_workflow", "events_mean"),
        "monitoring_events": at("monitoring_workflow", "events"),
    },
}


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """The benchmark's HEADLINES figures, or its error."""
    if "error" in result:
        return result
    return {name: figure(result) for name, figure in HEADLINES.get(result["benchmark"], {}).items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run_all",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--only", action="append", choices=[*RUNS, *OPTIONAL_RUNS], help="run only these")
    parser.add_argument("--with-1000", action="store_true", help="also scale with 1,000 processes (~10 min)")
    parser.add_argument("--database-url", help="a scratch PostgreSQL database for every benchmark")
    args = parser.parse_args(argv)
    runs = dict(RUNS)
    if args.with_1000:
        runs.update(OPTIONAL_RUNS)
    if args.only:
        runs = {name: spec for name, spec in {**RUNS, **OPTIONAL_RUNS}.items() if name in args.only}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    results = {
        name: run_one(name, module, extra, args.database_url) for name, (module, extra) in runs.items()
    }
    summary = {
        "benchmark": "run_all",
        "results_dir": str(RESULTS_DIR.relative_to(REPO)),
        "headlines": {name: headline(r) for name, r in results.items()},
        "machine": machine(),
    }
    failed = [name for name, r in results.items() if "error" in r]
    human = f"run_all: {len(results) - len(failed)} of {len(results)} benchmarks done" + (
        f"; failed: {', '.join(failed)}" if failed else ""
    )
    emit(summary, human, str(RESULTS_DIR / "summary.json"))
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
