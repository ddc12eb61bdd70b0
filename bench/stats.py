"""The benchmarks' statistics: percentiles, the pacing check against the GCRA envelope, request counts."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from imitation import mymoment
from imitation.mymoment import peak_in_window

__all__ = [
    "by_kind",
    "pacing_excess",
    "pacing_report",
    "peak_in_window",
    "percentile",
    "post_times",
    "summary",
]


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(values: Sequence[float], digits: int = 3) -> dict[str, float | int | None]:
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, digits)

    return {
        "n": len(values),
        "p50": r(percentile(values, 50)),
        "p95": r(percentile(values, 95)),
        "max": r(max(values) if values else None),
    }


def pacing_excess(times: Iterable[float], rate: float, burst: int) -> float:
    """How far the requests exceed the GCRA envelope: max over i ≤ j of (j−i+1) − burst − rate·(t_j − t_i).

    ≤ 0 means every interval held at most `burst` + `rate`·length requests, i.e. the global pacing held.
    O(n) with a running maximum of rate·t_i − i.
    """
    ordered = sorted(times)
    best = -math.inf
    running = -math.inf
    for j, t in enumerate(ordered):
        running = max(running, rate * t - j)
        best = max(best, (j + 1) + running - rate * t - burst)
    return 0.0 if best == -math.inf else round(best, 3)


def pacing_report(requests: list[dict[str, Any]], rate: float, burst: int) -> dict[str, Any]:
    times = [r["t"] for r in requests]
    excess = pacing_excess(times, rate, burst)
    return {
        "configured_rate_per_s": rate,
        "configured_burst": burst,
        "peak_requests_in_1s": peak_in_window(times, 1.0),
        "peak_rate_10s_window": round(peak_in_window(times, 10.0) / 10.0, 2),
        # Server-side arrival jitter may add a fraction of a request; a whole extra request is a breach.
        "gcra_excess_requests": excess,
        "pacing_held": excess < 1.0,
    }


def by_kind(requests: list[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(mymoment.REQUEST_KINDS, 0)
    for r in requests:
        counts[r["kind"]] += 1
    return counts


def post_times(requests: list[dict[str, Any]]) -> dict[tuple[int, str], float]:
    """(article id, login) -> wall time of the comment POST that stored it (answered with a redirect)."""
    found: dict[tuple[int, str], float] = {}
    for r in requests:
        if r["kind"] == "post" and r["status"] in (301, 302, 303) and r["login"]:
            article_id = int(r["path"].strip("/").split("/")[1])
            found.setdefault((article_id, r["login"]), r["wall"])
    return found
