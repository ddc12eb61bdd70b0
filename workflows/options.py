"""Per-activity task queue, timeouts and retry policy, chosen for each activity's failure kinds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio.common import RetryPolicy

from yourmoment.messages import QUEUE_COMMENTS, QUEUE_MAINTENANCE, QUEUE_MONITORING, QUEUE_SESSIONS

# Errors that no retry can fix (see yourmoment/errors.py); activities raise them as non-retryable too.
PERMANENT = [
    "PermanentError", "ConfigurationError", "ValidationError", "NotFoundError", "BadCredentialsError",
    "PageParseError", "LLMPermanentError", "CommentValidationError",
]  # fmt: skip

_DB = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30),
                  maximum_attempts=10, non_retryable_error_types=PERMANENT)  # fmt: skip
# myMoment: a few patient tries (5xx, timeouts, expired sessions); Retry-After overrides the interval.
_MYMOMENT = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                        maximum_interval=timedelta(seconds=60), maximum_attempts=5,
                        non_retryable_error_types=PERMANENT)  # fmt: skip
_LLM = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                   maximum_interval=timedelta(seconds=60), maximum_attempts=6,
                   non_retryable_error_types=PERMANENT)  # fmt: skip
# Scheduled maintenance: a few tries, then the next scheduled run tries again anyway.
_MAINTENANCE = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(seconds=30),
                           maximum_attempts=3, non_retryable_error_types=PERMANENT)  # fmt: skip


@dataclass(frozen=True)
class ActivityOptions:
    queue: str
    start_to_close: timedelta
    retry: RetryPolicy
    # Set for activities decorated with @keep_alive: a dead worker's attempt is retried this soon.
    heartbeat: timedelta | None = None


OPTIONS: dict[str, ActivityOptions] = {
    "load_process_config": ActivityOptions(QUEUE_MONITORING, timedelta(seconds=30), _DB),
    "record_process": ActivityOptions(QUEUE_MONITORING, timedelta(seconds=30), _DB),
    "finish_process": ActivityOptions(QUEUE_MONITORING, timedelta(seconds=60), _DB),
    "resume_items": ActivityOptions(QUEUE_MONITORING, timedelta(seconds=30), _DB),
    "mark_item": ActivityOptions(QUEUE_MONITORING, timedelta(seconds=30), _DB),
    # A login on the real site takes 4–5 s; with pacing and a slow site, allow two minutes.
    "open_session": ActivityOptions(QUEUE_SESSIONS, timedelta(minutes=2), _MYMOMENT, timedelta(seconds=20)),
    "close_sessions": ActivityOptions(QUEUE_SESSIONS, timedelta(seconds=30), _DB),
    "discover_articles": ActivityOptions(QUEUE_MONITORING, timedelta(minutes=2), _MYMOMENT, timedelta(seconds=20)),
    "prepare_article": ActivityOptions(QUEUE_MONITORING, timedelta(minutes=2), _MYMOMENT, timedelta(seconds=20)),
    # Long: a generation may queue for a free slot of its provider (see yourmoment/llm/slots.py) while
    # others are answered; heartbeats still notice a dead worker within 20 s.
    "generate_comment": ActivityOptions(QUEUE_COMMENTS, timedelta(minutes=60), _LLM, timedelta(seconds=20)),
    "reserve_post_slot": ActivityOptions(QUEUE_COMMENTS, timedelta(seconds=30), _DB),
    # Longer than the client's own request timeout, so a retry never races a still-running POST.
    "post_comment": ActivityOptions(QUEUE_COMMENTS, timedelta(minutes=3), _MYMOMENT, timedelta(seconds=20)),
    # Scheduled maintenance (yourmoment/schedules.py, workflows/maintenance.py).
    "expire_sessions": ActivityOptions(QUEUE_MAINTENANCE, timedelta(seconds=60), _MAINTENANCE),
    "purge_sessions": ActivityOptions(QUEUE_MAINTENANCE, timedelta(minutes=5), _MAINTENANCE),
    "retention_cleanup": ActivityOptions(QUEUE_MAINTENANCE, timedelta(minutes=15), _MAINTENANCE, timedelta(seconds=30)),
    "health_check": ActivityOptions(QUEUE_MAINTENANCE, timedelta(seconds=90), _MAINTENANCE),
    "reconcile_processes": ActivityOptions(QUEUE_MAINTENANCE, timedelta(minutes=5), _MAINTENANCE, timedelta(seconds=30)),
}
