"""Helpers shared by the workflows: running an activity by name with its options, on the right queue."""

from __future__ import annotations

from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, ChildWorkflowError

from workflows.options import OPTIONS

T = TypeVar("T")


def queue_name(queue: str, prefix: str) -> str:
    return f"{prefix}{queue}"


def start_activity(name: str, arg: Any, result_type: type[T], prefix: str) -> workflow.ActivityHandle[T]:
    """Activities are called by name, so workflows never import the modules that do I/O."""
    opts = OPTIONS[name]
    return workflow.start_activity(
        name,
        arg,
        result_type=result_type,
        task_queue=queue_name(opts.queue, prefix),
        start_to_close_timeout=opts.start_to_close,
        retry_policy=opts.retry,
        heartbeat_timeout=opts.heartbeat,
    )


async def run_activity(name: str, arg: Any, result_type: type[T], prefix: str) -> T:
    return await start_activity(name, arg, result_type, prefix)


def failure_message(err: BaseException) -> str:
    """The innermost readable message of an activity or child failure (never a payload)."""
    while isinstance(err, ActivityError | ChildWorkflowError) and err.cause is not None:
        err = err.cause
    if isinstance(err, ApplicationError):
        return err.message
    return str(err) or type(err).__name__


def is_cancellation(err: BaseException) -> bool:
    """An activity or child that failed only because this workflow was cancelled."""
    return isinstance(err, ActivityError | ChildWorkflowError) and isinstance(err.cause, CancelledError)
