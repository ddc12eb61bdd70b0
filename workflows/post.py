"""PostCommentWorkflow: `starter.py post` sends one reviewed comment through the exactly-once path."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.common import run_activity
    from yourmoment.messages import (
        DEFAULT_QUEUE_PREFIX,
        PostInput,
        PostResultMsg,
        ReserveSlotInput,
        ReserveSlotResult,
    )


def workflow_id_for_post(item_id: str) -> str:
    return f"post-comment-{item_id}"


@workflow.defn
class PostCommentWorkflow:
    """The same activities as the article workflow's last stage: pace the login, then post once."""

    @workflow.run
    async def run(self, inp: PostInput, login_id: str, queue_prefix: str = DEFAULT_QUEUE_PREFIX) -> PostResultMsg:
        slot = await run_activity("reserve_post_slot", ReserveSlotInput(login_id=login_id), ReserveSlotResult,
                                  queue_prefix)  # fmt: skip
        if slot.wait_seconds > 0:
            await workflow.sleep(timedelta(seconds=slot.wait_seconds))
        return await run_activity("post_comment", inp, PostResultMsg, queue_prefix)
