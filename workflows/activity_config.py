"""The typed contract between workflows and activities: one stub per activity, with its options.

Workflows call `await stubs.prepare_article(ItemInput(...))` and get a `PrepareResult` back: the stub
names the activity, its task queue, timeouts and retry policy, and the result type, so workflows never
import the modules that do I/O (activities/ registers the implementations under the same names, and
tests/test_contract.py checks that both sides agree). The task queue's prefix is read off the queue
the calling workflow runs on (see yourmoment.messages.queue_prefix_of), so no input carries it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from yourmoment.messages import (
        QUEUE_COMMENTS,
        QUEUE_MAINTENANCE,
        QUEUE_MONITORING,
        QUEUE_SESSIONS,
        CloseSessionsInput,
        DiscoverInput,
        DiscoverResult,
        EndRegenerationInput,
        FinishProcessInput,
        FinishProcessResult,
        GenerateInput,
        GenerateResult,
        ItemInput,
        LoadProcessInput,
        MaintenanceInput,
        MaintenanceResult,
        MarkItemInput,
        Message,
        OpenSessionInput,
        OpenSessionResult,
        PostInput,
        PostResultMsg,
        PrepareResult,
        ProcessConfig,
        RecordProcessInput,
        RegenerateInput,
        RegenerateResult,
        ReserveSlotInput,
        ReserveSlotResult,
        ResumeItemsInput,
        ResumeItemsResult,
        queue_prefix_of,
        task_queue,
    )

InputT = TypeVar("InputT", bound=Message)
ResultT = TypeVar("ResultT")

# Errors that no retry can fix (see yourmoment/errors.py); activities raise them as non-retryable too.
PERMANENT = [
    "PermanentError",
    "ConfigurationError",
    "ValidationError",
    "NotFoundError",
    "BadCredentialsError",
    "PageParseError",
    "LLMPermanentError",
    "CommentValidationError",
]


def _retry(first_seconds: int, longest_seconds: int, attempts: int) -> RetryPolicy:
    """Exponential backoff (×2) between tries; permanent errors are never retried."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=first_seconds),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=longest_seconds),
        maximum_attempts=attempts,
        non_retryable_error_types=PERMANENT,
    )


_DB = _retry(1, 30, 10)
# myMoment: a few patient tries (5xx, timeouts, expired sessions); Retry-After overrides the interval.
_MYMOMENT = _retry(2, 60, 5)
_LLM = _retry(2, 60, 6)
# Scheduled maintenance: a few tries, then the next scheduled run tries again anyway.
_MAINTENANCE = _retry(2, 30, 3)
# Activities that heartbeat (activities/errors.py keep_alive): a dead worker's attempt is retried this soon.
_BEAT = timedelta(seconds=20)


@dataclass(frozen=True)
class ActivityStub(Generic[InputT, ResultT]):
    """One activity as workflows see it: call it for its result, or `start` it for a handle."""

    name: str
    input_type: type[InputT]
    result_type: type[ResultT]
    queue: str
    start_to_close: timedelta
    retry: RetryPolicy
    heartbeat: timedelta | None = None

    def start(self, inp: InputT) -> workflow.ActivityHandle[ResultT]:
        return workflow.start_activity(
            self.name,
            inp,
            result_type=self.result_type,
            task_queue=task_queue(_deployment_prefix(), self.queue),
            start_to_close_timeout=self.start_to_close,
            retry_policy=self.retry,
            heartbeat_timeout=self.heartbeat,
        )

    async def __call__(self, inp: InputT) -> ResultT:
        return await self.start(inp)


def _deployment_prefix() -> str:
    """The calling workflow's queue prefix. The SDK's Replayer runs histories on a made-up queue
    ("replay-…"); there no command leaves the worker, so any prefix does."""
    name = workflow.info().task_queue
    if name.startswith(REPLAYER_QUEUE_PREFIX) and workflow.unsafe.is_replaying():
        return ""
    return queue_prefix_of(name)


REPLAYER_QUEUE_PREFIX = "replay-"


def _stub(
    name: str,
    types: tuple[type[InputT], type[ResultT]],
    queue: str,
    start_to_close: timedelta,
    retry: RetryPolicy,
    heartbeat: timedelta | None = None,
) -> ActivityStub[InputT, ResultT]:
    return ActivityStub(name, types[0], types[1], queue, start_to_close, retry, heartbeat)


# --- process bookkeeping (database) -------------------------------------------------------------------
load_process_config = _stub(
    "load_process_config", (LoadProcessInput, ProcessConfig), QUEUE_MONITORING, timedelta(seconds=30), _DB
)
record_process = _stub(
    "record_process", (RecordProcessInput, type(None)), QUEUE_MONITORING, timedelta(seconds=30), _DB
)
finish_process = _stub(
    "finish_process", (FinishProcessInput, FinishProcessResult), QUEUE_MONITORING, timedelta(seconds=60), _DB
)
resume_items = _stub(
    "resume_items", (ResumeItemsInput, ResumeItemsResult), QUEUE_MONITORING, timedelta(seconds=30), _DB
)
mark_item = _stub("mark_item", (MarkItemInput, bool), QUEUE_MONITORING, timedelta(seconds=30), _DB)

# --- myMoment sessions and reading --------------------------------------------------------------------
# A login on the real site takes 4–5 s; with pacing and a slow site, allow two minutes.
open_session = _stub(
    "open_session",
    (OpenSessionInput, OpenSessionResult),
    QUEUE_SESSIONS,
    timedelta(minutes=2),
    _MYMOMENT,
    _BEAT,
)
close_sessions = _stub(
    "close_sessions", (CloseSessionsInput, type(None)), QUEUE_SESSIONS, timedelta(seconds=30), _DB
)
discover_articles = _stub(
    "discover_articles",
    (DiscoverInput, DiscoverResult),
    QUEUE_MONITORING,
    timedelta(minutes=2),
    _MYMOMENT,
    _BEAT,
)
prepare_article = _stub(
    "prepare_article", (ItemInput, PrepareResult), QUEUE_MONITORING, timedelta(minutes=2), _MYMOMENT, _BEAT
)

# --- comments -----------------------------------------------------------------------------------------
# Long: a generation may queue for a free slot of its provider (see yourmoment/llm/slots.py) while
# others are answered; heartbeats still notice a dead worker within 20 s.
generate_comment = _stub(
    "generate_comment", (GenerateInput, GenerateResult), QUEUE_COMMENTS, timedelta(minutes=60), _LLM, _BEAT
)
reserve_post_slot = _stub(
    "reserve_post_slot", (ReserveSlotInput, ReserveSlotResult), QUEUE_COMMENTS, timedelta(seconds=30), _DB
)
# Longer than the client's own request timeout, so a retry never races a still-running POST.
post_comment = _stub(
    "post_comment", (PostInput, PostResultMsg), QUEUE_COMMENTS, timedelta(minutes=3), _MYMOMENT, _BEAT
)

# A reviewer's `comments regenerate` (workflows/regenerate.py): a generation like the one above, and the
# way back to the previous text when it fails.
regenerate_comment = _stub(
    "regenerate_comment",
    (RegenerateInput, RegenerateResult),
    QUEUE_COMMENTS,
    timedelta(minutes=60),
    _LLM,
    _BEAT,
)
end_regeneration = _stub(
    "end_regeneration", (EndRegenerationInput, bool), QUEUE_MONITORING, timedelta(seconds=30), _DB
)

# --- scheduled maintenance (yourmoment/schedules.py, workflows/maintenance.py) --------------------------


def _task(
    name: str, start_to_close: timedelta, heartbeat: timedelta | None = None
) -> ActivityStub[MaintenanceInput, MaintenanceResult]:
    """A maintenance task: its activity takes the task's input and returns its counts."""
    types = (MaintenanceInput, MaintenanceResult)
    return _stub(name, types, QUEUE_MAINTENANCE, start_to_close, _MAINTENANCE, heartbeat)


expire_sessions = _task("expire_sessions", timedelta(seconds=60))
purge_sessions = _task("purge_sessions", timedelta(minutes=5))
retention_cleanup = _task("retention_cleanup", timedelta(minutes=15), timedelta(seconds=30))
health_check = _task("health_check", timedelta(seconds=90))
reconcile_processes = _task("reconcile_processes", timedelta(minutes=5), timedelta(seconds=30))

ALL_STUBS: dict[str, ActivityStub[Any, Any]] = {
    stub.name: stub
    for stub in (
        load_process_config,
        record_process,
        finish_process,
        resume_items,
        mark_item,
        open_session,
        close_sessions,
        discover_articles,
        prepare_article,
        generate_comment,
        reserve_post_slot,
        post_comment,
        regenerate_comment,
        end_regeneration,
        expire_sessions,
        purge_sessions,
        retention_cleanup,
        health_check,
        reconcile_processes,
    )
}
# A maintenance task is the name of its activity (yourmoment.messages.MaintenanceTask).
MAINTENANCE_STUBS = {
    stub.name: stub
    for stub in (expire_sessions, purge_sessions, retention_cleanup, health_check, reconcile_processes)
}
