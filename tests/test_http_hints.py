"""retry_after_seconds: the one reader of servers' Retry-After hints (LLM providers and myMoment)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from yourmoment.http_hints import retry_after_seconds

NOW = datetime(2026, 5, 4, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": " 2.5 "}, 2.5),
        ({"Retry-After": "-3"}, 0.0),  # never negative
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After-Ms": "250", "Retry-After": "9"}, 0.25),  # the finer hint wins
        ({"retry-after-ms": "soon", "Retry-After": "9"}, 9.0),  # a broken ms hint falls back
    ],
)
def test_seconds_and_milliseconds(headers: dict[str, str], expected: float) -> None:
    assert retry_after_seconds(headers, now=NOW) == expected


def test_http_dates_in_the_future_and_past() -> None:
    assert retry_after_seconds({"Retry-After": "Mon, 04 May 2026 12:00:30 GMT"}, now=NOW) == 30.0
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=NOW) == 0.0
    # A "-0000" zone parses as a naive datetime; HTTP dates are GMT all the same.
    assert retry_after_seconds({"Retry-After": "Mon, 04 May 2026 12:01:00 -0000"}, now=NOW) == 60.0


def test_the_clock_defaults_to_now() -> None:
    soon = format_datetime(datetime.fromtimestamp(datetime.now(UTC).timestamp() + 120, UTC), usegmt=True)
    assert 100 < (retry_after_seconds({"Retry-After": soon}) or 0) <= 120


@pytest.mark.parametrize("value", ["", "soon", "nan", "inf", "Mon, 99 Foo 2026", "12 seconds"])
def test_garbage_is_no_hint(value: str) -> None:
    assert retry_after_seconds({"Retry-After": value}, now=NOW) is None


@pytest.mark.parametrize("headers", [None, {}, {"Content-Type": "text/html"}])
def test_missing_is_no_hint(headers: dict[str, str] | None) -> None:
    assert retry_after_seconds(headers, now=NOW) is None


def test_httpx_headers_as_the_clients_pass_them() -> None:
    response = httpx.Response(429, headers=[("RETRY-AFTER", "4")])
    assert retry_after_seconds(response.headers) == 4.0
