"""What the workflows share besides the activity stubs: reading an activity's or child's failure."""

from __future__ import annotations

from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, ChildWorkflowError


def failure_message(err: BaseException) -> str:
    """The innermost readable message of an activity or child failure (never a payload)."""
    while isinstance(err, ActivityError | ChildWorkflowError) and err.cause is not None:
        err = err.cause
    if isinstance(err, ApplicationError):
        return err.message
    return str(err) or type(err).__name__


def is_cancellation(err: BaseException) -> bool:
    """An activity or child that failed only because it, or this workflow, was cancelled."""
    return isinstance(err, ActivityError | ChildWorkflowError) and isinstance(err.cause, CancelledError)


def is_permanent(err: BaseException) -> bool:
    """An activity failure that no retry can fix (its error type is non-retryable)."""
    cause = err.cause if isinstance(err, ActivityError) else err
    return isinstance(cause, ApplicationError) and cause.non_retryable


def is_rejected_login(err: BaseException) -> bool:
    """An activity failure because myMoment rejected a login's username or password."""
    cause = err.cause if isinstance(err, ActivityError) else err
    return isinstance(cause, ApplicationError) and cause.type == "BadCredentialsError"
