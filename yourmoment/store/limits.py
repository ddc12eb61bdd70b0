"""Checks at the domain boundary: text fits its column, whole numbers fit theirs, numbers are finite.

Lengths and integer ranges come from the SQLAlchemy column definitions, so a check can never disagree
with what the database accepts (SQLite would store an over-long name; PostgreSQL would refuse it).
Each check appends one readable problem to `problems`; the caller raises one ValidationError.
"""

from __future__ import annotations

import math
import re
from typing import Any

from sqlalchemy import BigInteger, SmallInteger

from yourmoment.logs import redact_url
from yourmoment.settings import has_user_info, is_http_url, plain_number

# PostgreSQL's INTEGER; SQLite stores more, but a value must fit both databases.
INT_RANGES = {SmallInteger: 2**15 - 1, BigInteger: 2**63 - 1}
INT32_MAX = 2**31 - 1


def _column_type(attribute: Any) -> Any:
    return attribute.property.columns[0].type


def max_length(attribute: Any) -> int | None:
    """The declared length of a String column (None for Text)."""
    return getattr(_column_type(attribute), "length", None)


def int_max(attribute: Any) -> int:
    column_type = _column_type(attribute)
    return next((high for kind, high in INT_RANGES.items() if isinstance(column_type, kind)), INT32_MAX)


def check_text(problems: list[str], label: str, value: str | None, attribute: Any = None) -> None:
    """No NUL (PostgreSQL refuses it in text) and no more characters than the column holds."""
    if value is None:
        return
    if "\x00" in value:
        problems.append(f"{label} must not contain NUL characters")
    limit = max_length(attribute) if attribute is not None else None
    if limit is not None and len(value) > limit:
        problems.append(f"{label} must be at most {limit} characters, not {len(value)}")


CUT_MARK = "…"


def fit_text(value: str, attribute: Any) -> str:
    """A value read from elsewhere (a myMoment page) as its column holds it, alike on both databases:
    without NUL (PostgreSQL refuses it) and cut to the column's length, the cut marked with "…"
    (PostgreSQL would refuse a longer value; SQLite would store it whole)."""
    value = value.replace("\x00", "")
    limit = max_length(attribute)
    if limit is not None and len(value) > limit:
        value = value[: limit - len(CUT_MARK)] + CUT_MARK
    return value


def check_int(
    problems: list[str], label: str, value: int | None, attribute: Any, low: int = 1, high: int | None = None
) -> None:
    """A whole number from `low` to `high`, and never beyond what the column stores."""
    top = min(high, int_max(attribute)) if high is not None else int_max(attribute)
    if value is not None and not low <= value <= top:
        problems.append(f"{label} must be a whole number between {low} and {top}, not {value}")


def check_number(
    problems: list[str], label: str, value: float | None, low: float, high: float, low_inclusive: bool = True
) -> None:
    """A finite number in range: inf and nan are not numbers a user means (JSON cannot even carry them)."""
    if value is None:
        return
    above = value >= low if low_inclusive else value > low
    if not (math.isfinite(value) and above and value <= high):
        low_text, high_text = plain_number(low), plain_number(high)
        bounds = (
            f"between {low_text} and {high_text}"
            if low_inclusive
            else f"greater than {low_text} and at most {high_text}"
        )
        problems.append(f"{label} must be a number {bounds}, not {plain_number(value)}")


def check_http_url(problems: list[str], label: str, value: str | None, attribute: Any) -> None:
    """An http(s) URL that fits its column and holds no credentials: no user-info, no query string
    (a key belongs in the encrypted key column; in a URL it would be stored, shown and logged)."""
    if value is None:
        return
    if not is_http_url(value):
        problems.append(f"{label} must be an http:// or https:// URL with a host, not {redact_url(value)!r}")
    elif has_user_info(value) or re.search(r"[?#]", value):
        problems.append(
            f"{label} must not hold a user name, password or query string (they would be stored and "
            "logged); give the API key with --api-key-stdin"
        )
    else:
        check_text(problems, label, value, attribute)
