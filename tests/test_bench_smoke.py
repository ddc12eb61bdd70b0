"""Smoke test of the benchmarks: the small run as users start it, its JSON fields and its targets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.stats import pacing_excess, peak_in_window, percentile

REPO = Path(__file__).resolve().parents[1]


def test_pacing_excess_tells_a_paced_stream_from_a_burst_beyond_the_limit() -> None:
    paced = [0.0] * 5 + [0.5 * k for k in range(1, 11)]  # burst 5, then 2 per second
    assert pacing_excess(paced, rate=2.0, burst=5) <= 0
    too_fast = [0.25 * k for k in range(20)]  # 4 per second for 5 s
    assert pacing_excess(too_fast, rate=2.0, burst=5) >= 4
    assert peak_in_window(paced, 1.0) == 6 and percentile([1, 2, 3, 4], 50) == 2.5


@pytest.mark.slow
def test_small_run_prints_json_and_meets_the_targets(tmp_path: Path) -> None:
    out = tmp_path / "small.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.small_run", "--articles", "2", "--json-out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)  # stdout is pure JSON
    assert json.loads(out.read_text()) == result
    assert "small run:" in proc.stderr.splitlines()[-1]
    rate, burst = result["parameters"]["scraping_rate_limit"], result["parameters"]["scraping_burst_limit"]
    assert (rate, burst) == (2.0, 5)  # politeness on
    cold, warm = result["cold"], result["warm"]
    for run in (cold, warm):
        assert run["posted"] == 2 and set(run["requests_by_kind"]) >= {
            "login",
            "probe",
            "list",
            "article",
            "post",
            "redirect",
        }
        assert run["seconds_start_to_all_posted"] > 0
        assert run["steady_requests_per_comment"] <= 3
        assert run["pacing"]["peak_requests_in_1s"] <= rate + burst
        assert run["pacing"]["pacing_held"]
    assert cold["full_logins"] == 1  # no stored session yet: exactly one login
    assert warm["full_logins"] == 0 and warm["requests_by_kind"]["login"] == 0  # the stored session served
    assert warm["requests_by_kind"]["probe"] == 0  # and was never probed
    assert (
        result["targets_met"]["warm_run_no_login"]
        and result["targets_met"]["steady_requests_per_comment_le_3"]
    )


@pytest.mark.slow
def test_scale_with_fresh_articles_reports_its_summary_fields(tmp_path: Path) -> None:
    """A tiny saturated run: every fresh article is commented, and the JSON carries the summary's fields."""
    # 8 processes every 5 s ask for 1.6 lists a second of a budget of 1: saturated.
    args = "--processes 8 --logins 2 --interval 5 --duration 10 --fresh-articles 2 --starts-per-second 20"
    args += " --discover-now 1"  # and one round of discover-now before the window
    proc = subprocess.run(
        [sys.executable, "-m", "bench.scale", *args.split(), "--rate", "1", "--burst", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    fresh = result["fresh_to_comment_s"]
    assert (fresh["n"], fresh["commented"]) == (2, 2)
    assert 0 < fresh["p50"] <= fresh["p95"] <= fresh["max"]
    assert result["worker_rss_mb"] > 0
    assert set(result["wft_latency_p95_ms"]) == {"start", "first_round", "idle"}
    per_class = result["requests_by_class"]["counts"]
    assert per_class["discovery"] > 0 and per_class["post"] >= 2  # the POSTs and their redirects
    assert result["pacing"]["pacing_held"]
    assert "fresh article → comment" in proc.stderr.splitlines()[-1]
    assert "discover-now round 1 of 1 done" in proc.stderr and "--discover-now 1" in result["command"]
