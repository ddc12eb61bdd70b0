"""How workflows call activities: one named `workflow.ActivityConfig` per kind of call.

A workflow calls an activity by its method, with one of these configs:

    prep = await workflow.execute_activity_method(
        MonitoringActivities.prepare_article, ItemInput(item_id=...), **deployed(READ_MYMOMENT)
    )

The method gives the activity's name, input and result type; the config its task queue, timeouts,
retry policy and heartbeat timeout. A config names the queue without the deployment's prefix:
`deployed` puts the calling workflow's own prefix in front (yourmoment.messages.queue_prefix_of), so
no input carries it. tests/test_activity_calls.py checks that every call's config names the queue
whose worker registers the activity (activities/by_queue.py).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from yourmoment.messages import (
        QUEUE_COMMENTS,
        QUEUE_MAINTENANCE,
        QUEUE_MONITORING,
        QUEUE_SESSIONS,
        queue_prefix_of,
        task_queue,
    )

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
# A notification: three tries within seconds, then the process goes on without it (its last message
# holds up the workflow's close, after the process is recorded finished, by at most these tries).
_NOTIFY = _retry(2, 10, 3)
# Activities that heartbeat (activities/errors.py keep_alive): a dead worker's attempt is retried this soon.
_BEAT = timedelta(seconds=20)


def _config(
    queue: str, start_to_close: timedelta, retry: RetryPolicy, heartbeat: timedelta | None = None
) -> workflow.ActivityConfig:
    return workflow.ActivityConfig(
        task_queue=queue,
        start_to_close_timeout=start_to_close,
        retry_policy=retry,
        heartbeat_timeout=heartbeat,
    )


def deployed(config: workflow.ActivityConfig) -> workflow.ActivityConfig:
    """`config` with its task queue named as on the server: the calling workflow's prefix + queue."""
    queue = config.get("task_queue")
    assert queue is not None, "every config names its queue"
    return {**config, "task_queue": task_queue(_deployment_prefix(), queue)}


def _deployment_prefix() -> str:
    """The calling workflow's queue prefix. The SDK's Replayer runs histories on a made-up queue
    ("replay-…"); there no command leaves the worker, so any prefix does."""
    name = workflow.info().task_queue
    if name.startswith(REPLAYER_QUEUE_PREFIX) and workflow.unsafe.is_replaying():
        return ""
    return queue_prefix_of(name)


REPLAYER_QUEUE_PREFIX = "replay-"

# --- the monitoring queue: process bookkeeping (database) and reading myMoment ----------------------------
BOOKKEEPING = _config(QUEUE_MONITORING, timedelta(seconds=30), _DB)
FINISH_PROCESS = _config(QUEUE_MONITORING, timedelta(seconds=60), _DB)
# Longer than the notifier's own limit per attempt (yourmoment/notify.py SEND_TIMEOUT_S).
NOTIFY = _config(QUEUE_MONITORING, timedelta(seconds=30), _NOTIFY)
# A page read on the real site: with pacing and a slow site, allow two minutes.
READ_MYMOMENT = _config(QUEUE_MONITORING, timedelta(minutes=2), _MYMOMENT, _BEAT)

# A follow-up read after a comment: the lowest priority on the site. Tried again and again (10 s up to
# 10 min apart); the activity itself ends it as `skipped` once it is later than its interval.
FOLLOW_UP_READ = _config(QUEUE_MONITORING, timedelta(minutes=2), _retry(10, 600, 0), _BEAT)

# --- the sessions queue ---------------------------------------------------------------------------------
# A login on the real site takes 4–5 s; with pacing and a slow site, allow two minutes.
OPEN_SESSION = _config(QUEUE_SESSIONS, timedelta(minutes=2), _MYMOMENT, _BEAT)
CLOSE_SESSIONS = _config(QUEUE_SESSIONS, timedelta(seconds=30), _DB)

# --- the comments queue ---------------------------------------------------------------------------------
# Long: a generation may queue for a free slot of its provider (see yourmoment/llm/slots.py) while
# others are answered; heartbeats still notice a dead worker within 20 s. Also a reviewer's
# `comments regenerate` (workflows/regenerate.py).
GENERATE = _config(QUEUE_COMMENTS, timedelta(minutes=60), _LLM, _BEAT)
RESERVE_POST_SLOT = _config(QUEUE_COMMENTS, timedelta(seconds=30), _DB)
# Longer than the client's own request timeout, so a retry never races a still-running POST.
POST_COMMENT = _config(QUEUE_COMMENTS, timedelta(minutes=3), _MYMOMENT, _BEAT)

# --- the maintenance queue: scheduled tasks (yourmoment/schedules.py, workflows/maintenance.py) ------------
EXPIRE_SESSIONS = _config(QUEUE_MAINTENANCE, timedelta(seconds=60), _MAINTENANCE)
PURGE_SESSIONS = _config(QUEUE_MAINTENANCE, timedelta(minutes=5), _MAINTENANCE)
RETENTION_CLEANUP = _config(QUEUE_MAINTENANCE, timedelta(minutes=15), _MAINTENANCE, timedelta(seconds=30))
HEALTH_CHECK = _config(QUEUE_MAINTENANCE, timedelta(seconds=90), _MAINTENANCE)
RECONCILE_PROCESSES = _config(QUEUE_MAINTENANCE, timedelta(minutes=5), _MAINTENANCE, timedelta(seconds=30))
# Every tracked pupil's dashboard and changed articles, paced like every other read; heartbeats
# notice a dead worker, and the retried attempt resumes (each version is stored once).
STUDENT_BACKUP = _config(QUEUE_MAINTENANCE, timedelta(minutes=60), _MAINTENANCE, timedelta(seconds=30))
