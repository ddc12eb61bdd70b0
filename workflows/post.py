"""PostCommentWorkflow: `starter.py post` sends one reviewed comment through the exactly-once path."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.comments import CommentActivities
    from workflows.activity_config import POST_COMMENT, RESERVE_POST_SLOT, deployed
    from workflows.follow_up import start_follow_ups
    from yourmoment.messages import PostInput, PostResultMsg, ReserveSlotInput
    from yourmoment.statuses import PostOutcome


def workflow_id_for_post(item_id: str) -> str:
    return f"post-comment-{item_id}"


@workflow.defn
class PostCommentWorkflow:
    """The same activities as the article workflow's last stage: pace the login, then post once."""

    @workflow.run
    async def run(self, inp: PostInput, login_id: str = "", queue_prefix: str = "") -> PostResultMsg:
        # Release 1 started this workflow with three arguments (its runs must still replay), so the
        # signature keeps them. Started with the one model today, the SDK skips the type hints (their
        # count differs) and hands over a dict. The login now travels in `inp`; the queue prefix is
        # read off this workflow's task queue.
        inp = PostInput.model_validate(inp)
        del queue_prefix
        slot = await workflow.execute_activity_method(
            CommentActivities.reserve_post_slot,
            ReserveSlotInput(login_id=inp.login_id or login_id),
            **deployed(RESERVE_POST_SLOT),
        )
        if slot.wait_seconds > 0:
            await workflow.sleep(timedelta(seconds=slot.wait_seconds))
        result = await workflow.execute_activity_method(
            CommentActivities.post_comment, inp, **deployed(POST_COMMENT)
        )
        if result.outcome != PostOutcome.SKIPPED:
            await start_follow_ups(inp.item_id)
        return result
