"""Small run: one login, one class tab with 3 articles, instant LLM; a cold run, then a warm one.

`python -m bench.small_run [--articles 3] [--comment-interval 0] [--json-out FILE]`
"""

from __future__ import annotations

import time
from typing import Any

from bench.harness import BenchHarness, MeasuredWorker, Politeness
from bench.output import CELERY_REFERENCE, Option, log, run_benchmark
from bench.stats import by_kind, pacing_report
from yourmoment_dev.harness import wait_until

CLASS_ID = 82
LOGIN = "pupil-1"
RUN_TIMEOUT_S = 180.0  # for a small run's comments to be posted
OPTIONS = (
    Option("--articles", int, 3),
    Option(
        "--comment-interval",
        float,
        0.0,
        "COMMENT_RATE_LIMIT_SECONDS (default 0: measures the pipeline; production 30)",
    ),
    Option("--llm-latency-ms", int, 0),
)


def request_figures(requests: list[dict[str, Any]], posted: int, logins: int) -> dict[str, Any]:
    kinds = by_kind(requests)
    steady = kinds["article"] + kinds["post"] + kinds["redirect"]
    return {
        "requests_total": len(requests),
        "requests_by_kind": kinds,
        "full_logins": logins,
        "steady_requests_per_comment": round(steady / posted, 2) if posted else None,
        "total_requests_per_comment": round(len(requests) / posted, 2) if posted else None,
    }


async def measure_run(
    h: BenchHarness,
    worker: MeasuredWorker,
    process_id: str,
    article_ids: list[int],
    via_cli: bool,
    timeout: float,
) -> dict[str, Any]:
    """Start the process, wait until every article carries the login's comment, stop it; the figures."""
    h.mm_state.reset_stats()
    cpu_before = worker.cpu_seconds()
    began = time.time()
    if via_cli:
        await h.start_via_cli(process_id)
    else:
        await h.start_direct(process_id)

    def all_posted() -> bool:
        return all(h.mm_state.comments_for(a) for a in article_ids)

    done = await wait_until(all_posted, timeout, f"{len(article_ids)} comments")
    cpu_at_posted = worker.cpu_seconds()
    description = await h.handle(process_id).describe()
    await h.stop_process(process_id)
    stats = h.mm_state.stats()  # after the stop: everything this run sent, nothing else runs meanwhile
    counts = h.counts(process_id)
    workflow_started = description.start_time.timestamp() if description.start_time else began
    figures = {
        "seconds_start_to_all_posted": round(done - began, 2),
        "seconds_workflow_start_to_all_posted": round(done - workflow_started, 2),
        "posted": counts["posted"],
        "item_counts": counts,
        **request_figures(stats["requests"], counts["posted"], sum(stats["logins"].values())),
        "pacing": pacing_report(stats["requests"], h.politeness.rate, h.politeness.burst),
        "worker_cpu_seconds_to_all_posted": round(cpu_at_posted - cpu_before, 2),
        "worker_cpu_seconds_incl_stop": round(worker.cpu_seconds() - cpu_before, 2),
        "worker_rss_mb_after": round(worker.rss_mb(), 1),
        "worker_peak_rss_mb": round(worker.peak_rss_mb(), 1),
    }
    return figures


def targets(cold: dict[str, Any], warm: dict[str, Any], p: Politeness) -> dict[str, Any]:
    return {
        "steady_requests_per_comment_le_3": all(r["steady_requests_per_comment"] <= 3 for r in (cold, warm)),
        "warm_run_no_login": warm["full_logins"] == 0 and warm["requests_by_kind"]["login"] == 0,
        "warm_run_no_probe": warm["requests_by_kind"]["probe"] == 0,
        "pacing_held": cold["pacing"]["pacing_held"] and warm["pacing"]["pacing_held"],
        "peak_1s_le_rate_plus_burst": max(r["pacing"]["peak_requests_in_1s"] for r in (cold, warm))
        <= p.rate + p.burst,
        "peak_1s_le_rate": max(r["pacing"]["peak_requests_in_1s"] for r in (cold, warm)) <= p.rate,
    }


async def small_run(h: BenchHarness, articles: int) -> dict[str, Any]:
    """Cold run (no stored session) on a fresh worker, then a warm run: new process, new worker, same login."""
    p = h.politeness
    h.add_logins([LOGIN], CLASS_ID)
    runs: dict[str, dict[str, Any]] = {}
    for phase in ("cold", "warm"):
        # The warm run's articles are new; the cold run's stay on the tab (already commented: set aside).
        ids = h.add_articles(articles, CLASS_ID, first=len(runs) * articles)
        process_id = h.create_process(logins=[LOGIN], tab=str(CLASS_ID))
        worker = h.start_worker()
        log(f"{phase} run: worker ready in {worker.startup_s:.2f} s; starting process")
        figures = await measure_run(h, worker, process_id, ids, via_cli=True, timeout=RUN_TIMEOUT_S)
        figures["worker_startup_s"] = round(worker.startup_s, 2)
        runs[phase] = figures
        h.stop_worker(worker)
    return {
        "benchmark": "small_run",
        "command": "python -m bench.small_run",
        "parameters": {
            "articles": articles,
            "logins": 1,
            "llm_latency_ms": h.llm_latency_ms,
            "discovery_interval_seconds": 60,
            **p.as_dict(),
            "database": h.database_kind,
        },
        "cold": runs["cold"],
        "warm": runs["warm"],
        "targets_met": targets(runs["cold"], runs["warm"], p),
        "celery_reference": CELERY_REFERENCE,
    }


if __name__ == "__main__":
    run_benchmark("bench.small_run", __doc__, OPTIONS, small_run)
