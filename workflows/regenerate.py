"""RegenerateCommentWorkflow: `starter.py comments regenerate` asks the model again for one comment."""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.comments import CommentActivities
    from activities.monitoring import MonitoringActivities
    from workflows.activity_config import BOOKKEEPING, GENERATE, deployed
    from workflows.common import failure_message, is_cancellation
    from yourmoment.messages import EndRegenerationInput, RegenerateInput, RegenerateResult


def workflow_id_for_regenerate(item_id: str) -> str:
    """One id per work item: Temporal refuses a second regeneration of an item while one runs."""
    return f"regenerate-comment-{item_id}"


@workflow.defn
class RegenerateCommentWorkflow:
    """The item waits in `regenerating` (nothing posts or edits it); whatever happens it ends
    `generated`: with the new text, or with the previous one and the reason in its history."""

    @workflow.run
    async def run(self, inp: RegenerateInput) -> RegenerateResult:
        try:
            return await workflow.execute_activity_method(
                CommentActivities.regenerate_comment, inp, **deployed(GENERATE)
            )
        except asyncio.CancelledError:
            await self._end(inp, "cancelled")
            raise
        except ActivityError as err:
            if is_cancellation(err):
                await self._end(inp, "cancelled")
                raise asyncio.CancelledError() from err
            reason = failure_message(err)
            await self._end(inp, reason)
            return RegenerateResult(item_id=inp.item_id, regenerated=False, reason=reason)

    @staticmethod
    async def _end(inp: RegenerateInput, reason: str) -> None:
        await workflow.execute_activity_method(
            MonitoringActivities.end_regeneration,
            EndRegenerationInput(item_id=inp.item_id, reason=reason, actor=inp.actor),
            **deployed(BOOKKEEPING),
        )
