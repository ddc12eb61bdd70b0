"""What activities share inside one worker process: settings, the key, the limiter, clients per login."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MethodType
from typing import TYPE_CHECKING, Any, ClassVar, Concatenate, ParamSpec, TypeVar

from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.common import MetricMeter

from yourmoment.crypto import Encryptor
from yourmoment.llm.client import Acquire, LLMClient, ProviderConfig
from yourmoment.llm.slots import ConcurrencyLimiter, ProviderSlot
from yourmoment.metrics import Metrics
from yourmoment.mymoment.client import MyMomentClient, counting_requests
from yourmoment.notify import Notifier
from yourmoment.ratelimit import RateLimiter, make_rate_limiter
from yourmoment.settings import Settings
from yourmoment.store import accounts, processes
from yourmoment.store.db import run_db, session_scope
from yourmoment.store.models import LLMProvider
from yourmoment.store.sessions import DbSessionStore

if TYPE_CHECKING:
    from temporalio.client import Client

# Longer than any myMoment activity may run (3 minutes), so a client in use is never closed under it.
CLIENT_IDLE_SECONDS = 15 * 60

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class RequestTally:
    """The myMoment requests one activity made for one process, added to the process's row once."""

    process_id: str
    counter: list[int]
    stored: bool = False

    def store(self, session: Session) -> None:
        """In the activity's own transaction, once its requests are done."""
        processes.add_mymoment_requests(session, self.process_id, self.counter[0])
        self.stored = True


@dataclass
class Dependencies:
    """Built once per worker and injected into every activity class (no globals, easy to test)."""

    settings: Settings
    encryptor: Encryptor
    limiter: RateLimiter
    metrics: Metrics = field(default_factory=Metrics)
    notifier: Notifier = field(default_factory=lambda: Notifier([]))
    llm_slots: ConcurrencyLimiter = field(default_factory=ConcurrencyLimiter)
    _clients: dict[str, MyMomentClient] = field(default_factory=dict)
    _last_used: dict[str, float] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def from_settings(cls, settings: Settings, meter: MetricMeter | None = None) -> Dependencies:
        notifier = Notifier.from_settings(settings)
        if notifier.configured:
            notifier.check()  # a URL apprise cannot use stops the worker at start, not at the first message
        return cls(
            settings=settings,
            encryptor=Encryptor(settings.yourmoment_encryption_key),
            limiter=make_rate_limiter(settings.redis_url, settings.site_budget_share_every),
            metrics=Metrics(meter),
            notifier=notifier,
        )

    def db(self) -> AbstractContextManager[Session]:
        return session_scope(self.settings.database_url)

    def in_session(self, work: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`work(session, *args, **kwargs)` in a transaction of its own; blocking, so call it through run_db."""
        with self.db() as session:
            return work(session, *args, **kwargs)

    async def mymoment(self, login_id: str) -> MyMomentClient:
        """One client per login and worker: its cookies and tokens are reused by every activity.

        `close_sessions` runs on one worker of the sessions queue; in a split deployment the other
        workers' clients of an ended process are closed here instead, once unused for CLIENT_IDLE_SECONDS
        (the stored session stays: a later run restores it without logging in)."""
        await self._close_idle_clients()
        async with self._lock:
            self._last_used[login_id] = time.monotonic()
            client = self._clients.get(login_id)
            if client is None:
                creds = await run_db(self.in_session, accounts.credentials, self.encryptor, login_id)
                s = self.settings
                client = MyMomentClient(
                    s.mymoment_base_url,
                    login_id=login_id,
                    username=creds.username,
                    password=creds.password,
                    login_name=creds.name,
                    user_id=creds.user_id,
                    session_store=DbSessionStore(s.database_url, self.encryptor),
                    limiter=self.limiter,
                    rate_per_second=s.scraping_rate_limit,
                    burst=s.scraping_burst_limit,
                    timeout=s.mymoment_timeout,
                    user_agent=s.user_agent,
                    observer=self.metrics.mymoment_request,
                    comment_interval=s.comment_rate_limit_seconds,
                )
                self._clients[login_id] = client
            return client

    @asynccontextmanager
    async def tally_requests(self, process_id: str) -> AsyncIterator[RequestTally]:
        """Counts the myMoment requests made inside the block for the process (`report`).

        The activity stores the tally in the transaction it opens anyway (`tally.store(session)`);
        when the block ends without that (it raised, or returned early), the requests it made are
        stored in a transaction of their own: a failed request was still made.
        """
        with counting_requests() as counter:
            tally = RequestTally(process_id, counter)
            try:
                yield tally
            finally:
                if not tally.stored and counter[0]:
                    await run_db(self.in_session, tally.store)

    async def drop_client(self, login_id: str) -> None:
        async with self._lock:
            client = self._clients.pop(login_id, None)
            self._last_used.pop(login_id, None)
        if client is not None:
            await client.close()

    async def _close_idle_clients(self) -> None:
        cutoff = time.monotonic() - CLIENT_IDLE_SECONDS
        for login_id in [login for login, used in self._last_used.items() if used < cutoff]:
            await self.drop_client(login_id)

    def llm(self, provider: LLMProvider, acquire: Acquire | None = None) -> LLMClient:
        """A client for one generation; it holds one of the provider's slots from its first request
        until it is closed (requests in flight per worker, see yourmoment/llm/slots.py)."""
        config = ProviderConfig.from_row(provider, accounts.provider_api_key(self.encryptor, provider))
        slot = ProviderSlot(self.llm_slots, f"llm:{provider.id}", config.concurrency, self._slot_wait())
        return LLMClient(config, timeout=self.settings.llm_timeout, acquire=acquire, slot=slot)

    def _slot_wait(self) -> float | None:
        """How long a generation may wait for a slot: what the activity's start-to-close timeout leaves
        after the requests themselves (three tries of LLM_TIMEOUT each), so the wait ends with a clear
        message instead of a timeout. Outside an activity: no bound."""
        if not activity.in_activity():
            return None
        info = activity.info()
        if info.start_to_close_timeout is None:
            return None
        left = (info.started_time + info.start_to_close_timeout - datetime.now(UTC)).total_seconds()
        return max(left - 3 * self.settings.llm_timeout - 30, left / 2, 1.0)

    async def close(self) -> None:
        for login_id in list(self._clients):
            await self.drop_client(login_id)


class ActivityGroup:
    """Base of the activity classes, one class per task queue (activities/by_queue.py): an instance holds
    the worker's dependencies and its Temporal client (for activities that ask the server about workflows).

    A class lists its activities in ACTIVITIES; a worker of its queue registers them bound to one instance.
    """

    ACTIVITIES: ClassVar[tuple[Callable[..., Awaitable[Any]], ...]] = ()

    def __init__(self, deps: Dependencies, client: Client | None = None) -> None:
        self.deps = deps
        self.client = client

    def activities(self) -> list[Callable[..., Awaitable[Any]]]:
        return [MethodType(fn, self) for fn in self.ACTIVITIES]
