"""Health checks shared by `starter.py health`, the scheduled health check and the worker's start-up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.client import Client

from yourmoment.crypto import Encryptor
from yourmoment.messages import ALL_QUEUES, WORKFLOW_QUEUES
from yourmoment.ratelimit import ping_redis
from yourmoment.services import address, probe
from yourmoment.settings import Settings
from yourmoment.temporal_checks import ensure_search_attributes, poller_count, stuck_workflows

CHECK_TIMEOUT = 10.0


class HealthCheck(BaseModel):
    name: str
    ok: bool
    detail: str


class HealthReport(BaseModel):
    ok: bool
    checked_at: datetime
    checks: list[HealthCheck]

    def failed(self) -> list[HealthCheck]:
        return [c for c in self.checks if not c.ok]


async def check_health(
    settings: Settings, client: Client | None, *, temporal_error: str | None = None
) -> HealthReport:
    """Every check runs even when an earlier one fails; Temporal checks need `client`."""
    checks: list[HealthCheck] = []
    if client is None:
        checks.append(HealthCheck(name="temporal", ok=False, detail=temporal_error or "not connected"))
    else:
        checks.append(await _run("temporal", lambda: _temporal(client)))
        if checks[-1].ok:
            for queue in ALL_QUEUES:
                checks.append(await _run(f"pollers:{queue}", partial(_pollers, client, settings, queue)))
            if settings.temporal_search_attributes:
                checks.append(
                    await _run("search_attributes", lambda: ensure_search_attributes(client, register=False))
                )
            checks.append(await _run("workflows", lambda: _workflows(client, settings)))
    database = await _run("database", lambda: asyncio.to_thread(_database, settings.database_url))
    checks.append(database)
    if settings.redis_url:
        checks.append(await _run("redis", lambda: ping_redis(settings.redis_url or "")))
    checks.extend(await service_checks(settings, database.ok))
    checks.append(
        await _run("encryption_key", lambda: asyncio.to_thread(_encryption_key, settings, database.ok))
    )
    if client is not None and checks[0].ok:
        checks.append(await _run("schedules", lambda: _schedules(client, settings)))
    checks.append(await _run("notifier", lambda: asyncio.to_thread(_notifier, settings, database.ok)))
    return HealthReport(ok=all(c.ok for c in checks), checked_at=datetime.now(UTC), checks=checks)


async def _run(name: str, check: Callable[[], Awaitable[str]]) -> HealthCheck:
    """A check returns its detail when healthy and raises with a readable message when not."""
    try:
        detail = await asyncio.wait_for(check(), CHECK_TIMEOUT)
    except TimeoutError:
        return HealthCheck(name=name, ok=False, detail=f"no answer within {CHECK_TIMEOUT:.0f} s")
    except Exception as exc:
        return HealthCheck(name=name, ok=False, detail=_message(exc))
    return HealthCheck(name=name, ok=True, detail=detail)


def _message(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error
    text = str(orig or exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:500]  # a refusal line with its way out fits


# --- Temporal ----------------------------------------------------------------------------------------


async def _temporal(client: Client) -> str:
    if not await client.service_client.check_health():
        raise RuntimeError("the frontend reports not serving")
    return f"{client.service_client.config.target_host}, namespace {client.namespace}"


def expected_pollers(queue: str) -> tuple[bool, bool]:
    """(workflow pollers needed, activity pollers needed): every queue carries activities, and the
    WORKFLOW_QUEUES workflows too (comments and sessions carry activities only)."""
    return queue in WORKFLOW_QUEUES, True


async def _pollers(client: Client, settings: Settings, queue: str) -> str:
    name = settings.task_queue(queue)
    wants_workflows, wants_activities = expected_pollers(queue)
    parts, missing = [], []
    for kind, wanted, tq_type in (
        ("workflow", wants_workflows, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
        ("activity", wants_activities, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
    ):
        if not wanted:
            continue
        count = await poller_count(client, name, tq_type)
        parts.append(f"{count} {kind} poller{'s' if count != 1 else ''}")
        if count == 0:
            missing.append(kind)
    if missing:
        raise RuntimeError(
            f"{name}: no {' and no '.join(missing)} poller; start 'python worker.py --task-queues {queue}'"
        )
    return f"{name}: {', '.join(parts)}"


async def _workflows(client: Client, settings: Settings) -> str:
    """Running workflows on our task queues whose workflow task keeps failing: they make no progress."""
    stuck = await stuck_workflows(client, settings)
    if stuck:
        first_id, first_reason = next(iter(stuck.items()))
        more = f" (and {len(stuck) - 1} more)" if len(stuck) > 1 else ""
        raise RuntimeError(f"stuck: {first_id}: {first_reason}{more}")
    return "no workflow task failing"


async def _schedules(client: Client, settings: Settings) -> str:
    from yourmoment.schedules import list_schedules

    rows = await list_schedules(client, settings)
    missing = [r.id for r in rows if not r.present]
    if missing:
        raise RuntimeError(f"missing {', '.join(missing)}; run 'starter.py schedules apply'")
    paused = [r.id for r in rows if r.paused]
    return f"{len(rows)} present" + (f" ({', '.join(paused)} paused)" if paused else "")


# --- database, Redis, key ----------------------------------------------------------------------------


def _database(url: str) -> str:
    from yourmoment.store.db import current_revision, require_migrated

    require_migrated(url)
    return f"reachable, migrated (revision {current_revision(url)})"


# --- the myMoment site and the LLMs in use -------------------------------------------------------------


async def service_checks(settings: Settings, database_ok: bool) -> list[HealthCheck]:
    """Is anything listening at the myMoment site and at each LLM endpoint a running process uses?

    A TCP connection only: no request, so no credentials and nothing the site counts. The worker runs
    them at start as well (yourmoment/worker_main.py) and names what is unreachable.
    """
    probes = [("mymoment", lambda: probe("myMoment", settings.mymoment_base_url, "MYMOMENT_BASE_URL"))]
    if database_ok:
        endpoints = await asyncio.to_thread(llm_endpoints_in_use, settings.database_url)
        for url, names in endpoints.items():
            note = f"provider {', '.join(sorted(names))}"
            probes.append((f"llm:{address(url)}", partial(probe, "LLM", url, note)))
    return list(await asyncio.gather(*(_run(name, check) for name, check in probes)))


def llm_endpoints_in_use(url: str) -> dict[str, set[str]]:
    """Base URL → provider names, for the providers of processes that run (or are starting, stopping)."""
    from yourmoment.llm.client import DEFAULT_BASE_URLS
    from yourmoment.store.db import session_scope
    from yourmoment.store.models import LLMProvider, MonitoringProcess
    from yourmoment.store.processes import ACTIVE_STATUSES

    query = (
        select(LLMProvider)
        .join(MonitoringProcess, MonitoringProcess.llm_provider_id == LLMProvider.id)
        .where(MonitoringProcess.status.in_(list(ACTIVE_STATUSES)))
        .distinct()
    )
    endpoints: dict[str, set[str]] = {}
    with session_scope(url) as session:
        for provider in session.scalars(query):
            base = provider.base_url or DEFAULT_BASE_URLS.get(provider.provider)
            if base:
                endpoints.setdefault(base, set()).add(provider.name)
    return endpoints


def _notifier(settings: Settings, database_ok: bool) -> str:
    """NOTIFY_URLS: configured and usable, and whether the newest message arrived (docs/notifications.md)."""
    from yourmoment.notify import Notifier
    from yourmoment.store import notifications
    from yourmoment.store.db import session_scope

    notifier = Notifier.from_settings(settings)
    if not notifier.configured:
        return "none configured (NOTIFY_URLS): nobody is notified"
    notifier.check()
    if not database_ok:
        return f"{notifier.describe()}; deliveries not checked (database unavailable)"
    with session_scope(settings.database_url) as session:
        seen = notifications.outcomes(session)
    if seen.failing and seen.last_failed_at is not None:
        raise RuntimeError(
            f"{notifier.describe()}; the last message was not delivered "
            f"({seen.last_failed_at:%Y-%m-%d %H:%M} UTC): {seen.last_error}"
        )
    if seen.last_delivered_at is None:
        return f"{notifier.describe()}; nothing sent yet"
    return f"{notifier.describe()}; last delivered {seen.last_delivered_at:%Y-%m-%d %H:%M} UTC"


def _encryption_key(settings: Settings, database_ok: bool) -> str:
    enc = Encryptor(settings.yourmoment_encryption_key)  # raises for a missing or malformed key
    probe = "yourmoment-health-probe"
    if enc.decrypt(enc.encrypt(probe)) != probe:
        raise RuntimeError("encrypt/decrypt round trip gave a different text")
    if not database_ok:
        return "round trip ok; stored secrets not checked (database unavailable)"
    token = _one_stored_secret(settings.database_url)
    if token is None:
        return "round trip ok; no stored secret yet"
    enc.decrypt(token)  # ConfigurationError: written with another key
    return "round trip ok; a stored secret decrypts"


def _one_stored_secret(url: str) -> str | None:
    from yourmoment.store.db import session_scope
    from yourmoment.store.models import LLMProvider, MyMomentLogin

    try:
        with session_scope(url) as session:
            token = session.scalar(
                select(MyMomentLogin.password_enc).order_by(MyMomentLogin.is_active.desc()).limit(1)
            )
            if token is None:
                token = session.scalar(
                    select(LLMProvider.api_key_enc).where(LLMProvider.api_key_enc.is_not(None)).limit(1)
                )
            return token
    except SQLAlchemyError:
        return None
