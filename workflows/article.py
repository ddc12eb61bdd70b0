"""ArticleCommentWorkflow: one work item from fetched article to posted comment, exactly once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.common import failure_message, is_cancellation, run_activity, start_activity
    from yourmoment.messages import (
        ArticleWorkflowInput,
        ArticleWorkflowResult,
        GenerateInput,
        GenerateResult,
        ItemInput,
        MarkItemInput,
        PostInput,
        PostResultMsg,
        PrepareResult,
        PromptChoice,
        ReserveSlotInput,
        ReserveSlotResult,
    )


def pick_prompt(prompts: list[PromptChoice], roll: float) -> str:
    """Weighted choice: `roll` in [0, 1) comes from workflow.random(), so replays choose the same."""
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
            await self._mark(inp, "failed", reason, only_from=["discovered", "prepared", "generated", "posting"])
            return ArticleWorkflowResult(item_id=inp.item_id, status="failed", error=reason)

    async def _work(self, inp: ArticleWorkflowInput) -> ArticleWorkflowResult:
        p = inp.queue_prefix
        self._stage = "preparing"
        prep = await run_activity("prepare_article", ItemInput(item_id=inp.item_id), PrepareResult, p)
        if prep.status in ("skipped", "failed", "posted"):
            return ArticleWorkflowResult(item_id=inp.item_id, status=prep.status, error=prep.reason)
        if prep.status == "prepared":
            self._stage = "generating"
            template_id = inp.prompt_slot or pick_prompt(inp.prompts, workflow.random().random())
            gen_input = GenerateInput(item_id=inp.item_id, template_id=template_id)
            await run_activity("generate_comment", gen_input, GenerateResult, p)
        if inp.generate_only:
            return ArticleWorkflowResult(item_id=inp.item_id, status="generated")
        if inp.pace_comments:
            self._stage = "waiting for the login's comment slot"
            slot = await run_activity("reserve_post_slot", ReserveSlotInput(login_id=inp.login_id),
                                      ReserveSlotResult, p)  # fmt: skip
            if slot.wait_seconds > 0:
                await workflow.sleep(timedelta(seconds=slot.wait_seconds))
        self._stage = "posting"
        post = start_activity("post_comment", PostInput(item_id=inp.item_id, hide=inp.hide), PostResultMsg, p)
        try:
            result = await asyncio.shield(post)
        except asyncio.CancelledError:
            # A post in flight is never cut in half: a stop waits for it and records its outcome.
            result = await post
        status = "skipped" if result.outcome == "skipped" else "posted"
        return ArticleWorkflowResult(item_id=inp.item_id, status=status, error=result.reason)

    async def _skip_unfinished(self, inp: ArticleWorkflowInput) -> None:
        """Stopping: work not yet generated is skipped; a generated comment waits for the next run."""
        await self._mark(inp, "skipped", "process stopped before the comment was finished",
                         only_from=["discovered", "prepared"])  # fmt: skip

    async def _mark(self, inp: ArticleWorkflowInput, status: str, reason: str, only_from: list[str]) -> None:
        mark = MarkItemInput(item_id=inp.item_id, status=status, reason=reason, only_from=only_from)  # type: ignore[arg-type]
        await run_activity("mark_item", mark, bool, inp.queue_prefix)
