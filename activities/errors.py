"""Activity decorators: typed errors become Temporal failures with the right retry; heartbeats."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import ParamSpec, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from yourmoment.errors import PermanentError, TransientError

P = ParamSpec("P")
T = TypeVar("T")


def to_application_error(exc: Exception) -> ApplicationError:
    """Permanent errors stop retries at once; transient ones carry the server's Retry-After hint."""
    delay = None
    if isinstance(exc, TransientError) and exc.retry_after:
        delay = timedelta(seconds=exc.retry_after)
    return ApplicationError(
        str(exc),
        type=type(exc).__name__,
        non_retryable=isinstance(exc, PermanentError),
        next_retry_delay=delay,
    )


def translate_errors(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except (PermanentError, TransientError) as exc:
            raise to_application_error(exc) from None

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
