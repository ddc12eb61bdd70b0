"""Which workflow classes a worker runs on each task queue (the activities' side: activities/by_queue.py)."""

from __future__ import annotations

from yourmoment.messages import QUEUE_MAINTENANCE, QUEUE_MONITORING
from yourmoment.sandbox_code import share_workflow_code


def workflows_for_queue(queue: str) -> list[type]:
    """The workflow classes of `queue`; the comments and sessions queues carry activities only.

    The workflow modules are imported here, after `share_workflow_code`, so that each compiles once
    per worker (yourmoment/sandbox_code.py)."""
    share_workflow_code()
    from workflows.article import ArticleCommentWorkflow
    from workflows.follow_up import FollowUpWorkflow
    from workflows.maintenance import MaintenanceWorkflow
    from workflows.monitoring import MonitoringProcessWorkflow
    from workflows.post import PostCommentWorkflow
    from workflows.regenerate import RegenerateCommentWorkflow

    by_queue: dict[str, list[type]] = {  # one key per yourmoment.messages.WORKFLOW_QUEUES
        QUEUE_MONITORING: [
            MonitoringProcessWorkflow,
            ArticleCommentWorkflow,
            PostCommentWorkflow,
            RegenerateCommentWorkflow,
            FollowUpWorkflow,
        ],
        QUEUE_MAINTENANCE: [MaintenanceWorkflow],
    }
    return by_queue.get(queue, [])
