"""bench/history.py: the listings of a process's earlier runs count in a window that spans them."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.history import DISCOVERY_ACTIVITY, fetch, listing_gaps


@activity.defn(name=DISCOVERY_ACTIVITY)
async def discover(saturated: bool) -> dict[str, bool]:
    return {"budget_saturated": saturated}


@workflow.defn(sandboxed=False)
class TwoRunsWorkflow:
    """Lists twice and gives its turn up once per run; the first run continues as new."""

    @workflow.run
    async def run(self, first: bool) -> None:
        for saturated in (False, True, False):
            await workflow.execute_activity(discover, saturated, start_to_close_timeout=timedelta(seconds=10))
        if first:
            workflow.continue_as_new(False)


async def test_fetch_follows_the_runs_back_for_the_listings_of_a_window(ts_env: WorkflowEnvironment) -> None:
    queue, workflow_id = f"bench-history-{uuid.uuid4()}", f"two-runs-{uuid.uuid4()}"
    before = time.time() - 60  # the server's clock and ours may differ by a little
    async with Worker(ts_env.client, task_queue=queue, workflows=[TwoRunsWorkflow], activities=[discover]):
        await ts_env.client.execute_workflow(TwoRunsWorkflow.run, True, id=workflow_id, task_queue=queue)
    [newest] = await fetch(ts_env.client, [workflow_id])
    [both] = await fetch(ts_env.client, [workflow_id], listed_since=before)
    assert len(newest.discovery_listed) == 2  # the newest run alone; the saturated turn does not list
    assert len(both.discovery_listed) == 4 and both.discovery_listed == sorted(both.discovery_listed)
    assert both.events == newest.events  # every other figure is the newest run's
    [since_now] = await fetch(ts_env.client, [workflow_id], listed_since=time.time() + 60)
    assert len(since_now.discovery_listed) == 2  # the newest run listed before then: no need to go back


def test_listing_gaps_reach_back_before_the_window_and_skip_the_first_listing() -> None:
    # Listings at 0, 600 and 1,250 s; the window begins at 500 s: the 600 s listing reaches back to 0.
    assert listing_gaps([1250.0, 0.0, 600.0], since=500.0, until=2000.0) == [600.0, 650.0]
    assert listing_gaps([700.0], since=500.0, until=2000.0) == []  # no listing before it: no gap
    assert listing_gaps([0.0, 100.0], since=500.0, until=2000.0) == []  # none in the window
    assert listing_gaps([0.0, 600.0, 2100.0], since=500.0, until=2000.0) == [600.0]  # one after it
