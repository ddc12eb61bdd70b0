"""A worker's myMoment clients: one per login, closed when unused so split deployments release them."""

from __future__ import annotations

import time

import pytest

from activities import deps as deps_module
from activities.deps import Dependencies
from yourmoment.crypto import generate_key
from yourmoment.settings import Settings
from yourmoment.store import accounts
from yourmoment.store.db import session_scope


def _deps_with_logins(db_url: str, names: list[str]) -> tuple[Dependencies, list[str]]:
    settings = Settings(
        _env_file=None,
        database_url=db_url,
        yourmoment_encryption_key=generate_key(),
        mymoment_base_url="http://127.0.0.1:9",
    )
    deps = Dependencies.from_settings(settings)
    with session_scope(db_url) as session:
        user = accounts.add_user(session, "lehrerin@example.ch")
        ids = [
            accounts.add_login(
                session,
                deps.encryptor,
                user,
                name,
                f"{name}-user",
                "secret",
                False,
                base_url=settings.mymoment_base_url,
            ).id
            for name in names
        ]
    return deps, ids


async def test_a_client_unused_for_the_idle_time_is_closed_on_the_next_use(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    deps, (idle_login, busy_login) = _deps_with_logins(db_url, ["idle", "busy"])
    idle_client = await deps.mymoment(idle_login)
    assert await deps.mymoment(idle_login) is idle_client  # one client per login, reused
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + deps_module.CLIENT_IDLE_SECONDS + 1)
    busy_client = await deps.mymoment(busy_login)
    assert idle_client._http.is_closed
    assert not busy_client._http.is_closed
    assert await deps.mymoment(idle_login) is not idle_client  # built again when needed
    await deps.close()


@pytest.mark.parametrize("unused_for", [0, deps_module.CLIENT_IDLE_SECONDS - 1])
async def test_a_recently_used_client_stays_open(
    db_url: str, monkeypatch: pytest.MonkeyPatch, unused_for: float
) -> None:
    deps, (login,) = _deps_with_logins(db_url, ["pupil"])
    client = await deps.mymoment(login)
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + unused_for)
    assert await deps.mymoment(login) is client
    assert not client._http.is_closed
    await deps.close()
