"""The benchmarks' output: JSON results on stdout (and in a file), progress lines and the machine on stderr."""

from __future__ import annotations

import json
import os
import sys
import time
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
