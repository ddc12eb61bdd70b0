"""Turns the domain's typed errors into Temporal failures with the right retry behaviour."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import ParamSpec, TypeVar

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
