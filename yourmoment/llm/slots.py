"""Requests in flight per LLM provider, per worker process: excess generations queue instead of flooding."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field

from yourmoment.errors import LLMTransientError

log = logging.getLogger(__name__)


@dataclass
class _Queue:
    limit: int = 1
    in_flight: int = 0
    waiters: deque[asyncio.Future[None]] = field(default_factory=deque)


class ConcurrencyLimiter:
    """Per key, at most `limit` holders; the others wait first come, first served.

    The limit comes with every `acquire`, so a provider changed with `provider set` applies to the
    next generation without restarting the worker. In-process on purpose: a slot held in Redis by a
    worker that was killed would stay taken until a lease ran out, and a local model server usually
    has one worker in front of it. Several workers in front of one server each allow `limit`.
    """

    def __init__(self) -> None:
        self._queues: dict[str, _Queue] = {}

    def in_flight(self, key: str) -> int:
        queue = self._queues.get(key)
        return queue.in_flight if queue else 0

    def waiting(self, key: str) -> int:
        queue = self._queues.get(key)
        return sum(not f.done() for f in queue.waiters) if queue else 0

    async def acquire(self, key: str, limit: int, max_wait: float | None = None) -> float:
        """Take a slot under `key`; returns the seconds waited. Raises TimeoutError after `max_wait`."""
        queue = self._queues.setdefault(key, _Queue())
        queue.limit = max(limit, 1)
        self._wake(queue)  # a raised limit lets waiters in at once
        if queue.in_flight < queue.limit and not queue.waiters:
            queue.in_flight += 1
            return 0.0
        started = time.monotonic()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.waiters.append(waiter)
        try:
            async with asyncio.timeout(max_wait):
                await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release(key)  # granted in the same instant we gave up: hand it on
            elif waiter in queue.waiters:
                queue.waiters.remove(waiter)
            raise
        return time.monotonic() - started

    def release(self, key: str) -> None:
        queue = self._queues.get(key)
        if queue is None or queue.in_flight == 0:
            return
        queue.in_flight -= 1
        self._wake(queue)
        if queue.in_flight == 0 and not queue.waiters:
            del self._queues[key]

    @staticmethod
    def _wake(queue: _Queue) -> None:
        while queue.waiters and queue.in_flight < queue.limit:
            waiter = queue.waiters.popleft()
            if not waiter.done():
                queue.in_flight += 1
                waiter.set_result(None)


class ProviderSlot:
    """One generation's claim on its provider: taken before the first request, kept until `release`.

    Kept across the regenerations of one comment, so a started comment is finished before the next
    one begins, instead of queueing again behind every other item.
    """

    def __init__(
        self, limiter: ConcurrencyLimiter, key: str, limit: int, max_wait: float | None = None
    ) -> None:
        self.limiter, self.key, self.limit, self.max_wait = limiter, key, limit, max_wait
        self.held = False

    async def hold(self, label: str) -> None:
        """Take the slot unless held; a wait is logged with counts only (`label` names the provider)."""
        if self.held:
            return
        in_flight, waiting = self.limiter.in_flight(self.key), self.limiter.waiting(self.key)
        if in_flight >= self.limit or waiting:
            log.info(
                "LLM request waits for a free slot provider=%s in_flight=%d limit=%d queued_ahead=%d",
                label,
                in_flight,
                self.limit,
                waiting,
            )
        try:
            waited = await self.limiter.acquire(self.key, self.limit, self.max_wait)
        except TimeoutError:
            raise LLMTransientError(
                f"{label}: no free request slot within {self.max_wait:.0f} s (at most {self.limit} "
                f"requests in flight per worker, {self.limiter.waiting(self.key)} more waiting); the "
                "worker tries again later. Run fewer processes at once, or raise the provider's "
                "--max-concurrency if the server has more slots."
            ) from None
        self.held = True
        if waited > 0:
            log.info("LLM slot free after %.1f s provider=%s limit=%d", waited, label, self.limit)

    def others_in_flight(self) -> int:
        """Requests to this provider from this worker besides this one."""
        return max(self.limiter.in_flight(self.key) - (1 if self.held else 0), 0)

    def release(self) -> None:
        if self.held:
            self.held = False
            self.limiter.release(self.key)
