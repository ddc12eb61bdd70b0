"""The benchmarks' output: JSON results on stdout (and in a file), progress lines and the machine on stderr."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import psutil

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


def run_benchmark(
    module: str,
    doc: str | None,
    argv: list[str] | None,
    add_options: Callable[[argparse.ArgumentParser], None],
    measure: Callable[[argparse.Namespace], Coroutine[Any, Any, dict[str, Any]]],
    human: Callable[[dict[str, Any]], str],
) -> None:
    """`python -m MODULE`: its options (`add_options`, then the common ones), `measure(args)` run, and the
    result emitted with its `human` line."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {module}", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_options(parser)
    add_common_args(parser)
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args))
    emit(result, human(result), args.json_out)
