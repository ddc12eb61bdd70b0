"""Servers' waiting hints over HTTP: how long a 429 or 503 asks us to wait before trying again."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime


def retry_after_seconds(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds from `retry-after-ms` (OpenAI-style) or `Retry-After` (seconds or an HTTP date).

    None without a usable hint. Never negative: a date in the past means "try again now". `now` is a
    Unix time for tests; header names match in any case, also in a plain dict.
    """
    if headers is None:
        return None
    millis = _seconds(_header(headers, "retry-after-ms"))
    if millis is not None:
        return millis / 1000
    value = _header(headers, "retry-after")
    if value is None:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # HTTP dates are GMT; a "-0000" zone parses as naive
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = next((v for key, v in headers.items() if key.lower() == name), None)
    return value


def _seconds(value: str | None) -> float | None:
    """A plain number, clamped at zero; None for anything else (NaN and infinity included)."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return max(number, 0.0) if math.isfinite(number) else None
