"""Footprint: worker start-up time to first poll, memory of a worker serving every task queue, CPU of a small run.

`python -m bench.footprint [--starts 3] [--json-out FILE]`

Start-up is measured twice per start: until the worker prints "worker ready" (its pollers are running),
and until the Temporal server lists the worker as a poller of its monitoring task queue. Each start uses
its own task-queue prefix, so an earlier worker's poller record cannot answer for it.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from bench.harness import BenchHarness, MeasuredWorker
from bench.output import CELERY_REFERENCE, Option, log, run_benchmark
from bench.small_run import CLASS_ID, LOGIN, RUN_TIMEOUT_S, measure_run
from yourmoment.messages import QUEUE_MONITORING
from yourmoment_dev.harness import wait_until

SETTLE_SECONDS = 5.0
OPTIONS = (Option("--starts", int, 3, "worker starts to measure (median reported)"),)


async def has_poller(h: BenchHarness, task_queue: str) -> bool:
    request = DescribeTaskQueueRequest(
        namespace="default",
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    assert h.client is not None  # a harness from Harness.started
    response = await h.client.workflow_service.describe_task_queue(request)
    return bool(response.pollers)


async def one_start(h: BenchHarness) -> dict[str, float]:
    """A worker with a fresh queue prefix: seconds to 'worker ready', to the server's first poll; RSS."""
    prefix = f"fp{uuid.uuid4().hex[:6]}-"
    env = {**h.child_env(), "TEMPORAL_TASK_QUEUE_PREFIX": prefix}
    worker = MeasuredWorker(env, cwd=h.workdir)
    began = time.monotonic()
    poll_seen: float | None = None

    async def watch() -> None:
        nonlocal poll_seen
        await wait_until(
            lambda: has_poller(h, f"{prefix}{QUEUE_MONITORING}"), 30, "the first poll", every=0.02
        )
        poll_seen = time.monotonic() - began

    watcher = asyncio.create_task(watch())
    ready = await asyncio.to_thread(worker.start)
    await asyncio.wait_for(watcher, 30)
    await asyncio.sleep(SETTLE_SECONDS)
    figures = {
        "ready_s": ready,
        "first_poll_s": poll_seen or 0.0,
        "rss_mb": worker.rss_mb(),
        "uss_mb": worker.uss_mb(),
    }
    worker.terminate()
    return figures


async def footprint(h: BenchHarness, starts: int) -> dict[str, Any]:
    samples = [await one_start(h) for _ in range(starts)]
    log(f"{starts} starts measured; now the small run (cold) for CPU seconds")
    h.add_logins([LOGIN], CLASS_ID)
    ids = h.add_articles(3, CLASS_ID)
    process_id = h.create_process(logins=[LOGIN], tab=str(CLASS_ID))
    worker = h.start_worker()
    cpu_at_start = worker.cpu_seconds()
    run = await measure_run(h, worker, process_id, ids, via_cli=True, timeout=RUN_TIMEOUT_S)

    def med(key: str) -> float:
        return round(statistics.median(s[key] for s in samples), 2)

    return {
        "benchmark": "footprint",
        "command": f"python -m bench.footprint --starts {starts}",
        "parameters": {"starts": starts, "task_queues": "all", **h.politeness.as_dict()},
        "startup_seconds_to_ready": {
            "median": med("ready_s"),
            "all": [round(s["ready_s"], 2) for s in samples],
        },
        "startup_seconds_to_first_poll": {
            "median": med("first_poll_s"),
            "all": [round(s["first_poll_s"], 2) for s in samples],
        },
        "idle_worker_rss_mb": med("rss_mb"),
        "idle_worker_uss_mb": med("uss_mb"),
        "small_run": {
            "worker_cpu_seconds_for_start_up": round(cpu_at_start, 2),
            "worker_cpu_seconds_start_to_all_posted": run["worker_cpu_seconds_to_all_posted"],
            "worker_cpu_seconds_incl_stop": run["worker_cpu_seconds_incl_stop"],
            "worker_peak_rss_mb": run["worker_peak_rss_mb"],
            "seconds_start_to_all_posted": run["seconds_start_to_all_posted"],
        },
        "targets_met": {
            "worker_rss_lt_250_mb": max(s["rss_mb"] for s in samples) < 250
            and run["worker_peak_rss_mb"] < 250,
            "startup_le_2_s": med("first_poll_s") <= 2.0,
        },
        "celery_reference": CELERY_REFERENCE,
    }


if __name__ == "__main__":
    run_benchmark("bench.footprint", __doc__, OPTIONS, footprint)
