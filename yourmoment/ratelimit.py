"""Politeness limits: a GCRA limiter shared through Redis (one atomic script) or kept in-process."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from yourmoment.budget import (
    DEFAULT_SHARE_EVERY,
    GRANT_LUA,
    MAX_POLL_SECONDS,
    BudgetSaturated,
    BudgetState,
    ClassStats,
    SiteRequest,
    current_site_request,
    stats_from_redis,
)
from yourmoment.services import host_port, unavailable

KEY_PREFIX = "yourmoment:rl:"


class RateLimiter(Protocol):
    """Paces requests per key. Implementations agree on GCRA, so they can be swapped freely."""

    async def acquire(
        self, key: str, rate_per_second: float, burst: int, request: SiteRequest | None = None
    ) -> float:
        """Wait until one request under `key` is allowed: at most `burst` at once, `rate_per_second` after.

        Waiting requests are served by class, then round robin (yourmoment/budget.py); `request` defaults
        to the label in force (`budget.site_request`). Returns the seconds waited.
        """
        ...

    async def class_stats(self, key: str) -> dict[int, ClassStats]:
        """Grants and waits per request class under `key` (since the limiter or Redis key began)."""
        ...

    async def reserve_interval(self, key: str, interval_seconds: float) -> float:
        """Reserve the next slot under `key`, slots `interval_seconds` apart; return the seconds to wait."""
        ...

    async def claim_interval(self, key: str, interval_seconds: float) -> float:
        """Record *now* under `key` if the last record is `interval_seconds` old (then return 0), else
        record nothing and return the seconds left. Called right before a send, it spaces actual sends."""
        ...


def _emission(rate_per_second: float, burst: int) -> float:
    if rate_per_second <= 0:
        raise ValueError("rate_per_second must be positive")
    if burst < 1:
        raise ValueError("burst must be at least 1")
    return 1.0 / rate_per_second


def gcra_reserve(tat: float | None, now: float, emission: float, burst: int) -> tuple[float, float]:
    """One GCRA step that always reserves: returns (new theoretical arrival time, seconds to wait).

    Reserving instead of refusing means concurrent callers queue up in successive slots instead of
    polling; the k-th request of a burst at t=0 is granted at max(0, (k - burst + 1) * emission).
    """
    start = now if tat is None or tat < now else tat
    new_tat = start + emission
    return new_tat, max(0.0, new_tat - burst * emission - now)


async def _await_turn(poll: Callable[[], Awaitable[tuple[bool, float]]], request: SiteRequest) -> float:
    """Poll the budget until it grants; return the seconds waited.

    A request with `max_wait` gives its turn up as soon as the turn is surely further away."""
    began = time.monotonic()
    while True:
        granted, seconds = await poll()
        if granted:
            return seconds
        waited = time.monotonic() - began
        if request.max_wait is not None and waited + seconds > request.max_wait:
            raise BudgetSaturated(waited, seconds)
        await asyncio.sleep(min(seconds, MAX_POLL_SECONDS))


class LocalRateLimiter:
    """In-process GCRA on the monotonic clock: paces every client of one worker process."""

    def __init__(
        self, share_every: int = DEFAULT_SHARE_EVERY, clock: Callable[[], float] = time.monotonic
    ) -> None:
        # A thread lock, not an asyncio lock: the critical section never awaits, and this way one
        # limiter is safe across event loops and threads (sync activities run in a thread pool).
        self._lock = threading.Lock()
        self._tat: dict[str, float] = {}
        self._sent: dict[str, float] = {}  # claim_interval: when the last send under a key was allowed
        self._budgets: dict[str, BudgetState] = {}  # acquire: the class queues per key
        self.share_every = share_every
        self._clock = clock

    def _reserve(self, key: str, emission: float, burst: int) -> float:
        with self._lock:
            now = time.monotonic()
            new_tat, wait = gcra_reserve(self._tat.get(key), now, emission, burst)
            self._tat[key] = new_tat
            if len(self._tat) > 1024:  # forget keys whose slots lie in the past: they carry no state
                self._tat = {k: v for k, v in self._tat.items() if v > now}
            return wait

    def poll(
        self, key: str, wid: str, request: SiteRequest, emission: float, burst: int
    ) -> tuple[bool, float]:
        """One poll of the key's budget (budget.BudgetState.poll) on the limiter's clock."""
        with self._lock:
            budget = self._budgets.get(key)
            if budget is None:
                budget = self._budgets[key] = BudgetState()
            return budget.poll(wid, request, self._clock(), emission, burst, self.share_every)

    def leave(self, key: str, wid: str) -> None:
        with self._lock:
            if (budget := self._budgets.get(key)) is not None:
                budget.leave(wid)

    async def acquire(
        self, key: str, rate_per_second: float, burst: int, request: SiteRequest | None = None
    ) -> float:
        emission = _emission(rate_per_second, burst)
        req, wid = request or current_site_request(), uuid.uuid4().hex

        async def poll() -> tuple[bool, float]:
            return self.poll(key, wid, req, emission, burst)

        try:
            return await _await_turn(poll, req)
        except BaseException:
            self.leave(key, wid)
            raise

    async def class_stats(self, key: str) -> dict[int, ClassStats]:
        with self._lock:
            budget = self._budgets.get(key)
            return dict(budget.stats) if budget else {}

    async def reserve_interval(self, key: str, interval_seconds: float) -> float:
        if interval_seconds <= 0:
            return 0.0
        return self._reserve(key, interval_seconds, 1)

    async def claim_interval(self, key: str, interval_seconds: float) -> float:
        if interval_seconds <= 0:
            return 0.0
        with self._lock:
            now = time.monotonic()
            last = self._sent.get(key)
            if last is not None and now < last + interval_seconds:
                return last + interval_seconds - now
            self._sent[key] = now
            return 0.0


# KEYS[1] = key; ARGV[1] = emission interval (µs), ARGV[2] = burst. Returns the wait in µs.
# The server's clock (TIME) is the only clock, so workers on several hosts agree on the schedule.
_GCRA_LUA = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local emission = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local new_tat = tat + emission
local wait = new_tat - burst * emission - now
if wait < 0 then wait = 0 end
redis.call('SET', KEYS[1], string.format('%d', new_tat))
redis.call('PEXPIRE', KEYS[1], math.ceil((new_tat - now) / 1000) + 1000)
return string.format('%d', wait)
"""


# KEYS[1] = key; ARGV[1] = interval (µs). Returns the µs left, or 0 after recording the server's now.
_CLAIM_LUA = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local interval = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local last = tonumber(redis.call('GET', KEYS[1]))
if last ~= nil and now < last + interval then return string.format('%d', last + interval - now) end
redis.call('SET', KEYS[1], string.format('%d', now), 'PX', math.ceil(interval / 1000) + 1000)
return '0'
"""


class RedisRateLimiter:
    """GCRA in Redis with one atomic Lua script: every worker on every host shares the same pace."""

    def __init__(self, redis: str | Any, share_every: int = DEFAULT_SHARE_EVERY) -> None:
        """`redis` is a URL (the limiter owns the connection) or a `redis.asyncio.Redis` client."""
        from redis.asyncio import Redis

        self._owned = isinstance(redis, str)
        self._redis: Redis = Redis.from_url(redis) if isinstance(redis, str) else redis
        self._script = self._redis.register_script(_GCRA_LUA)
        self._grant = self._redis.register_script(GRANT_LUA)
        self.share_every = share_every
        self._claim = self._redis.register_script(_CLAIM_LUA)
        self.address = redis_address(self._redis)

    async def _run(self, script: Any, key: str, *args: int) -> int:
        """One script call; a connection failure names Redis' host and port instead of being withheld."""
        from redis.exceptions import ConnectionError, TimeoutError

        try:
            return int(await script(keys=[KEY_PREFIX + key], args=list(args)))
        except (ConnectionError, TimeoutError) as exc:
            raise unavailable("Redis", self.address, exc, "REDIS_URL") from None

    async def _reserve(self, key: str, emission: float, burst: int) -> float:
        micros = max(1, round(emission * 1_000_000))
        return await self._run(self._script, key, micros, burst) / 1_000_000

    async def poll(
        self,
        key: str,
        wid: str,
        request: SiteRequest,
        emission: float,
        burst: int,
        now: float | None = None,
        op: str = "poll",
    ) -> tuple[bool, float]:
        """One call of the grant script (budget.GRANT_LUA); `now` (seconds) replaces Redis' clock in tests."""
        from redis.exceptions import ConnectionError, TimeoutError

        args: list[str | int] = [
            op,
            wid,
            int(request.cls),
            request.owner.replace("|", "/"),
            request.group.replace("|", "/"),
            max(1, round(emission * 1_000_000)),
            burst,
            self.share_every,
            "" if now is None else round(now * 1_000_000),
        ]
        try:
            granted, micros = await self._grant(keys=[KEY_PREFIX + key], args=args)
        except (ConnectionError, TimeoutError) as exc:
            raise unavailable("Redis", self.address, exc, "REDIS_URL") from None
        return bool(int(granted)), int(micros) / 1_000_000

    async def acquire(
        self, key: str, rate_per_second: float, burst: int, request: SiteRequest | None = None
    ) -> float:
        emission = _emission(rate_per_second, burst)
        req, wid = request or current_site_request(), uuid.uuid4().hex
        try:
            return await _await_turn(lambda: self.poll(key, wid, req, emission, burst), req)
        except BaseException:
            # Best effort: a waiter that never polls again is forgotten after budget.GRACE_SECONDS anyway.
            with contextlib.suppress(Exception):
                await self.poll(key, wid, req, emission, burst, op="leave")
            raise

    async def class_stats(self, key: str) -> dict[int, ClassStats]:
        raw = await self._redis.hgetall(KEY_PREFIX + key + ":stats")
        return stats_from_redis({_text(k): _text(v) for k, v in raw.items()})

    async def reserve_interval(self, key: str, interval_seconds: float) -> float:
        if interval_seconds <= 0:
            return 0.0
        return await self._reserve(key, interval_seconds, 1)

    async def claim_interval(self, key: str, interval_seconds: float) -> float:
        if interval_seconds <= 0:
            return 0.0
        micros = max(1, round(interval_seconds * 1_000_000))
        return await self._run(self._claim, key, micros) / 1_000_000

    async def close(self) -> None:
        if self._owned:
            await self._redis.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def redis_address(client: Any) -> str:
    """`host:port` (or the Unix socket) a `redis.asyncio.Redis` client connects to; never its password."""
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix socket {kwargs['path']}"
    return host_port(str(kwargs.get("host", "localhost")), int(kwargs.get("port", 6379)))


async def ping_redis(url: str) -> str:
    """`host:port: ping ok`, or a ServiceUnavailableError naming Redis' host and port (never the URL,
    which may carry a password)."""
    from redis.asyncio import Redis
    from redis.exceptions import ConnectionError, TimeoutError

    client = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
    except (ConnectionError, TimeoutError) as exc:
        raise unavailable("Redis", redis_address(client), exc, "REDIS_URL") from None
    finally:
        await client.aclose()
    return f"{redis_address(client)}: ping ok"


_local = LocalRateLimiter()


def make_rate_limiter(redis_url: str | None, share_every: int = DEFAULT_SHARE_EVERY) -> RateLimiter:
    """Redis-backed when a URL is given; otherwise the one in-process limiter every caller shares.

    Create the Redis limiter once per worker: its connection pool belongs to the running event loop.
    `share_every` (SITE_BUDGET_SHARE_EVERY) is the minimum share of the lower classes (yourmoment/budget.py).
    """
    if redis_url:
        return RedisRateLimiter(redis_url, share_every)
    _local.share_every = share_every
    return _local
