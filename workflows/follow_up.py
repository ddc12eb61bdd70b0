"""FollowUpWorkflow: a posted comment's article read again FOLLOW_UP_AFTER (1h, 1d, 7d) on durable timers."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.monitoring import MonitoringActivities
    from workflows.activity_config import BOOKKEEPING, FOLLOW_UP_READ, deployed
    from yourmoment.messages import FollowUpInput, FollowUpReadInput, FollowUpResult, ItemInput

# New behaviour of the article and post workflows: histories recorded before it replay without it.
FOLLOW_UP_PATCH = "follow-up-reads"


def workflow_id_for_follow_up(item_id: str) -> str:
    return f"follow-up-{item_id}"


@workflow.defn
class FollowUpWorkflow:
    """Started by the workflow that posted the comment and left running when it ends (ABANDON): sleeps
    until each interval after the posting time is over, then reads the article once (docs/versions.md)."""

    @workflow.run
    async def run(self, inp: FollowUpInput) -> FollowUpResult:
        plan = await workflow.execute_activity_method(
            MonitoringActivities.plan_follow_ups, ItemInput(item_id=inp.item_id), **deployed(BOOKKEEPING)
        )
        result = FollowUpResult(item_id=inp.item_id)
        for step in plan.steps:
            wait = (step.due_at - workflow.now()).total_seconds()
            workflow.set_current_details(
                f"next read: {step.label} after the comment, at {step.due_at:%Y-%m-%d %H:%M} UTC"
            )
            if wait > 0:
                await workflow.sleep(timedelta(seconds=wait))
            outcome = await workflow.execute_activity_method(
                MonitoringActivities.follow_up_read,
                FollowUpReadInput(item_id=inp.item_id, step=step),
                **deployed(FOLLOW_UP_READ),
            )
            result.outcomes.append(outcome)
        workflow.set_current_details(
            ", ".join(f"{o.label}: {o.outcome}" for o in result.outcomes) or "nothing to read"
        )
        return result


async def start_follow_ups(item_id: str) -> None:
    """From the workflow that posted: the follow-up reads as a child that outlives it and its
    cancellation (a posted comment is never followed twice: the child's id is the item's)."""
    if not workflow.patched(FOLLOW_UP_PATCH):
        return
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await workflow.start_child_workflow(
            FollowUpWorkflow.run,
            FollowUpInput(item_id=item_id),
            id=workflow_id_for_follow_up(item_id),
            task_queue=workflow.info().task_queue,
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            # A stop cancels the article workflow; its follow-ups go on (no cancellation is sent).
            cancellation_type=workflow.ChildWorkflowCancellationType.ABANDON,
        )
