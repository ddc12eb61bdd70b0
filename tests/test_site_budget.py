"""The site's budget: priority, minimum share and round robin, on both limiters (in-process and Redis).

The guarantees are checked on a simulated clock (the limiters take an injected one: a clock function
in-process, `now` for the Redis script), so they hold exactly and no assert depends on the machine's
speed. Waiters poll when the limiter's hint says, as `acquire` does; a hint that were not a lower bound
of the turn would waste slots, which `test_saturation_wastes_no_slot` would see.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from yourmoment.budget import (
    CLASSES,
    DEFAULT_SHARE_EVERY,
    BudgetSaturated,
    RequestClass,
    SiteRequest,
    current_site_request,
    site_request,
    starvation_bound_slots,
)
from yourmoment.ratelimit import KEY_PREFIX, LocalRateLimiter, RateLimiter, RedisRateLimiter

if TYPE_CHECKING:
    from redis.asyncio import Redis

RATE, BURST = 2.0, 5
EMISSION = 1 / RATE
T0 = 1000.0

Poll = Callable[[str, SiteRequest, float], Awaitable[tuple[bool, float]]]


@dataclass
class Arrival:
    at: float
    wid: str
    request: SiteRequest


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


async def simulate(
    poll: Poll, clock: Clock, arrivals: list[Arrival], until: float = 600.0
) -> list[tuple[float, str]]:
    """Every waiter polls on arrival and then when its hint says; returns the grants (time, waiter) in order."""
    due: dict[str, float] = {}
    requests: dict[str, SiteRequest] = {}
    pending = sorted(arrivals, key=lambda a: a.at)
    grants: list[tuple[float, str]] = []
    while pending or due:
        t = min([a.at for a in pending[:1]] + list(due.values()))
        assert t < T0 + until, "the simulation did not finish"
        while pending and pending[0].at <= t:
            a = pending.pop(0)
            due[a.wid], requests[a.wid] = a.at, a.request
        clock.now = t
        for wid in sorted((w for w, at in due.items() if at <= t), key=lambda w: (due[w], w)):
            granted, seconds = await poll(wid, requests[wid], t)
            if granted:
                grants.append((t, wid))
                del due[wid]
            else:
                assert seconds > 0
                due[wid] = t + seconds
    return grants


@pytest.fixture
async def redis_client() -> AsyncIterator[tuple[Redis, str]]:
    url = os.environ.get("YOURMOMENT_TEST_REDIS_URL")
    if not url:
        pytest.skip("Redis tests need YOURMOMENT_TEST_REDIS_URL")
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    namespace = f"test:{uuid.uuid4().hex}:"
    yield client, namespace
    keys = [key async for key in client.scan_iter(match=f"{KEY_PREFIX}{namespace}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture(params=["in-process", "redis"])
async def budget(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Poll, Clock]]:
    """A poll function on one host's budget, with its simulated clock, for each limiter."""
    clock = Clock()
    if request.param == "in-process":
        local = LocalRateLimiter(clock=clock)

        async def poll_local(wid: str, req: SiteRequest, now: float) -> tuple[bool, float]:
            return local.poll("host:sim", wid, req, EMISSION, BURST)

        yield poll_local, clock
        return
    url = os.environ.get("YOURMOMENT_TEST_REDIS_URL")
    if not url:
        pytest.skip("Redis tests need YOURMOMENT_TEST_REDIS_URL")
    limiter = RedisRateLimiter(url)
    key = f"test:{uuid.uuid4().hex}:host:sim"

    async def poll_redis(wid: str, req: SiteRequest, now: float) -> tuple[bool, float]:
        return await limiter.poll(key, wid, req, EMISSION, BURST, now=now)

    yield poll_redis, clock
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    keys = [k async for k in redis.scan_iter(match=f"{KEY_PREFIX}{key}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()
    await limiter.close()


def discovery(i: int, owner: str | None = None, group: str = "u") -> SiteRequest:
    return SiteRequest(RequestClass.DISCOVERY, owner or f"p{i}", group)


async def test_a_post_overtakes_a_queue_of_discovery(budget: tuple[Poll, Clock]) -> None:
    poll, clock = budget
    arrivals = [Arrival(T0, f"d{i:02d}", discovery(i)) for i in range(30)]
    arrivals.append(Arrival(T0 + 2.2, "post", SiteRequest(RequestClass.POST, "p99", "v")))
    grants = await simulate(poll, clock, arrivals)
    order = [wid for _, wid in grants]
    at = dict((wid, t) for t, wid in grants)
    # Lower-class grants after the POST arrived and before it: at most the one guaranteed turn.
    overtaken_by = [
        wid for t, wid in grants if t > T0 + 2.2 and wid != "post" and order.index(wid) < order.index("post")
    ]
    assert len(overtaken_by) <= 1
    assert at["post"] - (T0 + 2.2) <= 2 * EMISSION + 1e-6
    assert order.index("post") < 12, order  # 5 at once (the burst), then a slot every 0.5 s


async def test_saturation_wastes_no_slot_and_keeps_the_pace(budget: tuple[Poll, Clock]) -> None:
    poll, clock = budget
    arrivals = [
        Arrival(
            T0 + (i % 7) * 0.3, f"w{i:02d}", SiteRequest(RequestClass(i % CLASSES), f"p{i % 9}", f"u{i % 3}")
        )
        for i in range(60)
    ]
    grants = await simulate(poll, clock, arrivals)
    times = [t for t, _ in grants]
    assert len(grants) == 60
    # The burst at once, then exactly one grant per slot: no slot is lost to a late poll.
    assert times[-1] - T0 <= (60 - BURST) * EMISSION + 1e-6
    for i, start in enumerate(times):
        inside = sum(1 for t in times[i:] if t < start + 1.0)
        assert inside <= BURST + RATE, f"{inside} grants within 1 s of {start}"


async def test_a_lower_class_is_not_starved(budget: tuple[Poll, Clock]) -> None:
    """Article reads keep the site saturated; discovery and follow-up reads still get their turns."""
    poll, clock = budget
    arrivals = [
        Arrival(T0 + i * 0.25, f"r{i:03d}", SiteRequest(RequestClass.PREPARE, f"p{i}", "u"))
        for i in range(160)
    ]
    arrivals += [Arrival(T0 + 1, f"d{i}", discovery(i)) for i in range(3)]
    arrivals += [
        Arrival(T0 + 1, f"f{i}", SiteRequest(RequestClass.FOLLOW_UP, f"q{i}", "u")) for i in range(3)
    ]
    grants = await simulate(poll, clock, arrivals)
    order = [wid for _, wid in grants]
    bound = starvation_bound_slots(DEFAULT_SHARE_EVERY)
    assert bound == 16
    for lower in ("d", "f"):
        positions = [i for i, wid in enumerate(order) if wid.startswith(lower)]
        arrived = sum(1 for t, _ in grants if t < T0 + 1) - 1  # the last grant before they came
        gaps = [b - a for a, b in zip([arrived, *positions], positions, strict=False)]
        assert len(positions) == 3
        assert max(gaps) <= bound, (lower, positions)
    # And the reads, once they queue, lose at most one slot in every `share_every` to the lower classes.
    queued = [wid for t, wid in grants if t > T0 + 1]
    for i in range(len(queued) - DEFAULT_SHARE_EVERY):
        assert sum(1 for wid in queued[i : i + DEFAULT_SHARE_EVERY] if wid[0] in "df") <= 1


async def test_round_robin_within_a_class(budget: tuple[Poll, Clock]) -> None:
    """One user's 30 processes do not hold back another user's 3: the users alternate."""
    poll, clock = budget
    arrivals = [Arrival(T0, f"a{i:02d}", discovery(i, f"a-p{i}", "big")) for i in range(30)]
    arrivals += [Arrival(T0 + 0.1, f"b{i}", discovery(i, f"b-p{i}", "small")) for i in range(3)]
    grants = await simulate(poll, clock, arrivals)
    order = [wid for _, wid in grants]
    last_small = max(order.index(f"b{i}") for i in range(3))
    assert last_small <= BURST + 2 * 3, order  # the burst went before they came; then every other grant


async def test_round_robin_between_one_owners_requests_and_others(budget: tuple[Poll, Clock]) -> None:
    poll, clock = budget
    arrivals = [Arrival(T0, f"x{i:02d}", discovery(0, "hog", "u1")) for i in range(10)]
    arrivals += [Arrival(T0 + 0.1, "y", discovery(0, "quiet", "u2"))]
    grants = await simulate(poll, clock, arrivals)
    assert [wid for _, wid in grants].index("y") <= BURST + 1


async def test_labels_nest_and_default_to_session() -> None:
    assert current_site_request().cls == RequestClass.SESSION
    with site_request(RequestClass.DISCOVERY, "p1", "u1"):
        with site_request(RequestClass.POST) as inner:
            assert inner == SiteRequest(RequestClass.POST, "p1", "u1")
        assert current_site_request().cls == RequestClass.DISCOVERY
    assert current_site_request() == SiteRequest()


async def acquire_in_order(limiters: list[RateLimiter], key: str) -> list[str]:
    """Real time, real sleeps: 12 discovery requests queue; a POST comes after the first grant."""
    order: list[str] = []
    first = asyncio.Event()

    async def one(i: int, limiter: RateLimiter, req: SiteRequest, name: str) -> None:
        await limiter.acquire(key, 10.0, 1, req)
        order.append(name)
        first.set()

    tasks = [
        asyncio.create_task(one(i, limiters[i % len(limiters)], discovery(i), f"d{i}")) for i in range(12)
    ]
    await first.wait()
    await one(0, limiters[-1], SiteRequest(RequestClass.POST, "p", "u"), "post")
    await asyncio.gather(*tasks)
    return order


async def test_a_post_overtakes_discovery_in_real_time_in_process() -> None:
    order = await acquire_in_order([LocalRateLimiter()], "host:rt")
    assert order.index("post") <= 3, order


@pytest.mark.redis
async def test_a_post_overtakes_discovery_in_real_time_on_two_redis_workers(
    redis_client: tuple[Redis, str],
) -> None:
    client, namespace = redis_client
    from redis.asyncio import Redis

    other = Redis(connection_pool=client.connection_pool)
    order = await acquire_in_order([RedisRateLimiter(client), RedisRateLimiter(other)], f"{namespace}host:rt")
    assert order.index("post") <= 3, order
    stats = await RedisRateLimiter(client).class_stats(f"{namespace}host:rt")
    assert stats[RequestClass.DISCOVERY].count == 12
    assert stats[RequestClass.POST].count == 1


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    limiter = LocalRateLimiter()
    await limiter.acquire("host:c", 1.0, 1)
    waiter = asyncio.create_task(limiter.acquire("host:c", 1.0, 1, discovery(1)))
    await asyncio.sleep(0.05)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limiter._budgets["host:c"].waiters == {}


@pytest.mark.parametrize("kind", ["in-process", "redis"])
async def test_a_discovery_gives_its_turn_up_rather_than_queue(kind: str) -> None:
    """With max_wait, a request whose turn is surely further away leaves at once (BudgetSaturated)."""
    url = os.environ.get("YOURMOMENT_TEST_REDIS_URL")
    if kind == "redis" and not url:
        pytest.skip("Redis tests need YOURMOMENT_TEST_REDIS_URL")
    limiter: LocalRateLimiter | RedisRateLimiter = (
        LocalRateLimiter() if kind == "in-process" else RedisRateLimiter(url or "")
    )
    key = f"test:{uuid.uuid4().hex}:host:give-up"
    await limiter.acquire(key, 1.0, 1)
    queued = [asyncio.create_task(limiter.acquire(key, 1.0, 1, discovery(i))) for i in range(10)]
    await asyncio.sleep(0.2)  # they have queued (their first poll)
    hurried = SiteRequest(RequestClass.DISCOVERY, "late", "u", max_wait=2.0)
    with pytest.raises(BudgetSaturated) as saturated:
        await limiter.acquire(key, 1.0, 1, hurried)
    assert saturated.value.expected >= 2.0
    stats = await limiter.class_stats(key)
    assert (
        stats[RequestClass.SESSION].count == 1 and RequestClass.DISCOVERY not in stats
    )  # it was granted nothing
    for task in queued:
        task.cancel()
    await asyncio.gather(*queued, return_exceptions=True)
    if isinstance(limiter, RedisRateLimiter):
        await limiter.close()


@pytest.mark.redis
async def test_two_redis_workers_together_keep_rate_and_burst_in_every_second() -> None:
    """Two limiters (two workers' connections) poll one host's budget in turn: every 1 s window holds at
    most rate + burst grants, and the saturated budget loses no slot."""
    url = os.environ.get("YOURMOMENT_TEST_REDIS_URL")
    if not url:
        pytest.skip("Redis tests need YOURMOMENT_TEST_REDIS_URL")
    workers = [RedisRateLimiter(url), RedisRateLimiter(url)]
    key = f"test:{uuid.uuid4().hex}:host:two"
    turn = [0]

    async def poll(wid: str, req: SiteRequest, now: float) -> tuple[bool, float]:
        turn[0] += 1
        return await workers[turn[0] % 2].poll(key, wid, req, EMISSION, BURST, now=now)

    arrivals = [
        Arrival(
            T0 + (i % 5) * 0.7, f"w{i:02d}", SiteRequest(RequestClass(i % CLASSES), f"p{i % 7}", f"u{i % 2}")
        )
        for i in range(50)
    ]
    grants = await simulate(poll, Clock(), arrivals)
    times = [t for t, _ in grants]
    assert len(times) == 50
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + 1.0) <= RATE + BURST
    assert times[-1] - T0 <= (50 - BURST) * EMISSION + 1e-6
    for worker in workers:
        await worker.close()
