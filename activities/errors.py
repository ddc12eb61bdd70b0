"""Activity decorators: every exception becomes a value-free Temporal failure with the right retry; heartbeats."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import ParamSpec, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from yourmoment.errors import PermanentError, TransientError, UnexpectedError, reduce_error

P = ParamSpec("P")
T = TypeVar("T")


def to_application_error(exc: Exception, where: str = "an activity") -> ApplicationError:
    """The one way an exception leaves an activity: a message without values, the right retry.

    Typed errors keep their (safe) message; permanent ones stop retries at once, transient ones carry
    the server's Retry-After hint. Database errors become a transient DatabaseError and anything else
    an UnexpectedError that names only its type (retried, as before). The stack trace keeps the
    original frames (file, line, code — no values) so an operator can still find where it happened.
    """
    safe = reduce_error(exc, where)
    delay = None
    if isinstance(safe, TransientError) and safe.retry_after:
        delay = timedelta(seconds=safe.retry_after)
    error = ApplicationError(
        str(safe),
        type=safe.type_name if isinstance(safe, UnexpectedError) else type(safe).__name__,
        non_retryable=isinstance(safe, PermanentError),
        next_retry_delay=delay,
    )
    return error.with_traceback(exc.__traceback__)


def translate_errors(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Every exception but Temporal's cancellation is translated; `from None` drops the original, whose
    text (SQL parameters, a page, a prompt) would otherwise travel as the failure's cause and be logged."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except CancelledError:
            raise
        except Exception as exc:
            raise to_application_error(exc, f"activity {fn.__name__}") from None

    return wrapper


HEARTBEAT_EVERY_SECONDS = 5.0


def keep_alive(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Heartbeats while the activity runs, so a crashed worker's attempt is retried within the
    heartbeat timeout instead of the whole start-to-close timeout."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        async def beat() -> None:
            while True:
                activity.heartbeat()
                await asyncio.sleep(HEARTBEAT_EVERY_SECONDS)

        beater = asyncio.create_task(beat())
        try:
            return await fn(*args, **kwargs)
        finally:
            beater.cancel()

    return wrapper
