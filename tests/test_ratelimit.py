"""GCRA pacing: the local limiter and two Redis limiters (as two workers) keep the same policy."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

import pytest

from yourmoment.ratelimit import (
    KEY_PREFIX,
    LocalRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    gcra_reserve,
    make_rate_limiter,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

# asyncio.sleep may wake a hair early or late; this is far below the 50 ms slot width tested.
JITTER = 0.005


async def timed_acquisitions(
    limiters: Sequence[RateLimiter], key: str, n: int, rate: float, burst: int
) -> list[float]:
    """Start n acquisitions at once (round-robin over the limiters); return grant times from t0."""
    t0 = time.monotonic()
    grants: list[float] = []

    async def one(limiter: RateLimiter) -> None:
        await limiter.acquire(key, rate, burst)
        grants.append(time.monotonic() - t0)

    await asyncio.gather(*(one(limiters[i % len(limiters)]) for i in range(n)))
    return sorted(grants)


def assert_policy(grants: list[float], rate: float, burst: int) -> None:
    """The k-th grant is no earlier than (k-b+1)/r, and no window holds more than b + W·r grants."""
    for k, at in enumerate(grants):
        assert at >= (k - burst + 1) / rate - JITTER, f"grant {k} at {at:.3f}s is too early"
    for window in (0.1, 0.25, 0.5):
        for i, start in enumerate(grants):
            inside = sum(1 for at in grants[i:] if at < start + window)
            assert inside <= burst + window * rate, f"{inside} grants within {window}s of {start:.3f}s"


def test_gcra_step_reserves_successive_slots() -> None:
    tat, wait = None, 0.0
    waits = []
    for _ in range(5):
        tat, wait = gcra_reserve(tat, 100.0, emission=0.5, burst=2)
        waits.append(wait)
    assert waits == [0.0, 0.0, 0.5, 1.0, 1.5]


async def test_local_limiter_paces_rate_and_burst() -> None:
    rate, burst, n = 20.0, 3, 12
    grants = await timed_acquisitions([LocalRateLimiter()], "host:example", n, rate, burst)
    assert_policy(grants, rate, burst)
    assert grants[burst - 1] < 0.03, "the burst must be granted at once"
    # Not over-throttled either: the last grant comes close to its slot.
    assert grants[-1] < (n - burst) / rate + 0.2


async def test_local_limiter_keys_are_independent() -> None:
    limiter = LocalRateLimiter()
    for _ in range(3):
        await limiter.acquire("host:a", 1.0, 3)
    t0 = time.monotonic()
    await limiter.acquire("host:b", 1.0, 3)
    assert time.monotonic() - t0 < 0.05


async def test_local_reserve_interval_gives_successive_slots() -> None:
    limiter = LocalRateLimiter()
    waits = sorted(await asyncio.gather(*(limiter.reserve_interval("login:1", 30.0) for _ in range(3))))
    assert waits[0] == 0.0
    assert waits[1] == pytest.approx(30.0, abs=0.05)
    assert waits[2] == pytest.approx(60.0, abs=0.05)
    assert await limiter.reserve_interval("login:2", 30.0) == 0.0
    assert await limiter.reserve_interval("login:3", 0.0) == 0.0


async def test_invalid_policy_is_refused() -> None:
    limiter = LocalRateLimiter()
    with pytest.raises(ValueError):
        await limiter.acquire("host:x", 0.0, 5)
    with pytest.raises(ValueError):
        await limiter.acquire("host:x", 2.0, 0)


def test_make_rate_limiter_without_redis_shares_one_local_limiter() -> None:
    first, second = make_rate_limiter(None), make_rate_limiter("")
    assert isinstance(first, LocalRateLimiter)
    assert first is second


# --- Redis ---------------------------------------------------------------------------------------


@pytest.fixture
async def redis_clients() -> AsyncIterator[tuple[Redis, Redis, str]]:
    """Two independent Redis clients on the test database and a key namespace owned by this test only."""
    url = os.environ.get("YOURMOMENT_TEST_REDIS_URL")
    if not url:
        pytest.skip("Redis tests need YOURMOMENT_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/15)")
    from redis.asyncio import Redis

    first, second = Redis.from_url(url), Redis.from_url(url)
    namespace = f"test:{uuid.uuid4().hex}:"
    yield first, second, namespace
    keys = [key async for key in first.scan_iter(match=f"{KEY_PREFIX}{namespace}*")]
    if keys:
        await first.delete(*keys)
    await first.aclose()
    await second.aclose()


@pytest.mark.redis
async def test_two_redis_limiters_together_keep_the_pace(redis_clients: tuple[Redis, Redis, str]) -> None:
    first, second, namespace = redis_clients
    workers = [RedisRateLimiter(first), RedisRateLimiter(second)]
    rate, burst, n = 20.0, 3, 12
    grants = await timed_acquisitions(workers, f"{namespace}host:example", n, rate, burst)
    assert_policy(grants, rate, burst)
    assert grants[-1] < (n - burst) / rate + 0.3


@pytest.mark.redis
async def test_redis_reserve_interval_gives_successive_slots(
    redis_clients: tuple[Redis, Redis, str],
) -> None:
    first, second, namespace = redis_clients
    workers = [RedisRateLimiter(first), RedisRateLimiter(second)]
    key = f"{namespace}login:7"
    waits = sorted(await asyncio.gather(*(workers[i % 2].reserve_interval(key, 30.0) for i in range(3))))
    assert waits[0] == 0.0
    assert waits[1] == pytest.approx(30.0, abs=0.1)
    assert waits[2] == pytest.approx(60.0, abs=0.1)
    # The key expires once the slot after the last one has come (90 s here) plus a second of margin.
    ttl_ms = await first.pttl(KEY_PREFIX + key)
    assert 89_000 < ttl_ms <= 91_100


async def test_claim_interval_spaces_sends_from_the_moment_they_are_allowed(
    redis_clients: tuple[Redis, Redis, str],
) -> None:
    """The comment gate: the second of two workers is told the time left, and records nothing meanwhile."""
    first, second, namespace = redis_clients
    for limiters in ([LocalRateLimiter()] * 2, [RedisRateLimiter(first), RedisRateLimiter(second)]):
        key = f"{namespace}gate:{uuid.uuid4().hex}"
        # Bounds follow the clock, not a guess at how fast the calls are (a loaded machine is slow).
        claimed = time.monotonic()
        assert await limiters[0].claim_interval(key, 0.3) == 0.0
        granted = time.monotonic()  # the claim was recorded between `claimed` and now
        left = await limiters[1].claim_interval(key, 0.3)
        assert 0.3 - (time.monotonic() - claimed) - 0.005 <= left <= 0.3
        await asyncio.sleep(0.1)
        again = await limiters[1].claim_interval(key, 0.3)
        # A refusal moved nothing: the time left keeps counting down from the first claim.
        assert 0.3 - (time.monotonic() - claimed) - 0.005 <= again <= left - 0.095
        await asyncio.sleep(max(0.3 - (time.monotonic() - granted), 0) + 0.01)
        reclaimed = time.monotonic()
        assert await limiters[1].claim_interval(key, 0.3) == 0.0
        assert await limiters[0].claim_interval(key, 0.3) >= 0.3 - (time.monotonic() - reclaimed) - 0.005
