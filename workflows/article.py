"""ArticleCommentWorkflow: one work item from fetched article to posted comment, exactly once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.comments import CommentActivities
    from activities.monitoring import MonitoringActivities
    from workflows.activity_config import (
        BOOKKEEPING,
        GENERATE,
        POST_COMMENT,
        READ_MYMOMENT,
        RESERVE_POST_SLOT,
        deployed,
    )
    from workflows.common import failure_message, is_cancellation
    from workflows.follow_up import start_follow_ups
    from yourmoment.messages import (
        ArticleWorkflowInput,
        ArticleWorkflowResult,
        GenerateInput,
        ItemInput,
        MarkItemInput,
        PostInput,
        PromptChoice,
        ReserveSlotInput,
    )
    from yourmoment.statuses import NOT_YET_GENERATED, UNFINISHED_STATUSES, CommentStatus, PostOutcome

S = CommentStatus


def pick_prompt(prompts: list[PromptChoice], roll: float) -> str:
    """Weighted choice: `roll` in [0, 1) comes from workflow.random(), so replays choose the same.
    No prompt left: "" (generation then fails with a clear, permanent error)."""
    if not prompts:
        return ""
    total = sum(p.weight for p in prompts)
    point = roll * total
    for prompt in prompts:
        point -= prompt.weight
        if point < 0:
            return prompt.template_id
    return prompts[-1].template_id


@workflow.defn
class ArticleCommentWorkflow:
    def __init__(self) -> None:
        self._stage = "starting"

    @workflow.query
    def stage(self) -> str:
        return self._stage

    @workflow.run
    async def run(self, inp: ArticleWorkflowInput) -> ArticleWorkflowResult:
        try:
            return await self._work(inp)
        except asyncio.CancelledError:
            await self._skip_unfinished(inp)
            raise
        except ActivityError as err:
            if is_cancellation(err):
                await self._skip_unfinished(inp)
                raise asyncio.CancelledError() from err
            reason = failure_message(err)
            await self._mark(inp, S.FAILED, reason, only_from=UNFINISHED_STATUSES)
            return ArticleWorkflowResult(item_id=inp.item_id, status=S.FAILED, error=reason)

    async def _work(self, inp: ArticleWorkflowInput) -> ArticleWorkflowResult:
        self._stage = "preparing"
        prep = await workflow.execute_activity_method(
            MonitoringActivities.prepare_article, ItemInput(item_id=inp.item_id), **deployed(READ_MYMOMENT)
        )
        if prep.status in (S.SKIPPED, S.FAILED, S.POSTED):
            return ArticleWorkflowResult(item_id=inp.item_id, status=prep.status, error=prep.reason)
        if prep.status == S.PREPARED:
            self._stage = "generating"
            await workflow.execute_activity_method(
                CommentActivities.generate_comment,
                GenerateInput(item_id=inp.item_id, template_id=self._template(inp)),
                **deployed(GENERATE),
            )
        if inp.generate_only:
            return ArticleWorkflowResult(item_id=inp.item_id, status=S.GENERATED)
        if inp.pace_comments:
            self._stage = "waiting for the login's comment slot"
            slot = await workflow.execute_activity_method(
                CommentActivities.reserve_post_slot,
                ReserveSlotInput(login_id=inp.login_id),
                **deployed(RESERVE_POST_SLOT),
            )
            if slot.wait_seconds > 0:
                await workflow.sleep(timedelta(seconds=slot.wait_seconds))
        self._stage = "posting"
        post = workflow.start_activity_method(
            CommentActivities.post_comment,
            PostInput(item_id=inp.item_id, hide=inp.hide, login_id=inp.login_id, held_by_stop=True),
            **deployed(POST_COMMENT),
        )
        try:
            result = await asyncio.shield(post)
        except asyncio.CancelledError:
            # A post in flight is never cut in half: a stop waits for it and records its outcome.
            result = await post
        if result.outcome == PostOutcome.HELD:  # the process was stopped: the comment waits for `post`
            return ArticleWorkflowResult(item_id=inp.item_id, status=S.GENERATED, error=result.reason)
        status = S.SKIPPED if result.outcome == PostOutcome.SKIPPED else S.POSTED
        if status == S.POSTED:
            await start_follow_ups(inp.item_id)
        return ArticleWorkflowResult(item_id=inp.item_id, status=status, error=result.reason)

    @staticmethod
    def _template(inp: ArticleWorkflowInput) -> str:
        """The parent's choice; children of release 1 chose from the weighted list themselves."""
        return inp.template_id or inp.prompt_slot or pick_prompt(inp.prompts, workflow.random().random())

    async def _skip_unfinished(self, inp: ArticleWorkflowInput) -> None:
        """Stopping: work not yet generated is skipped; a generated comment waits for the next run."""
        reason = "process stopped before the comment was finished"
        await self._mark(inp, S.SKIPPED, reason, only_from=NOT_YET_GENERATED)

    async def _mark(
        self, inp: ArticleWorkflowInput, status: S, reason: str, only_from: tuple[CommentStatus, ...]
    ) -> None:
        mark = MarkItemInput(item_id=inp.item_id, status=status, reason=reason, only_from=list(only_from))
        await workflow.execute_activity_method(MonitoringActivities.mark_item, mark, **deployed(BOOKKEEPING))
