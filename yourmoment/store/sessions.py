"""Stored myMoment sessions: one encrypted cookie jar per login, shared by every worker, 24 h rolling."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from yourmoment.crypto import Encryptor
from yourmoment.mymoment.types import SavedSession
from yourmoment.store.db import row_count, run_db, session_scope
from yourmoment.store.models import MyMomentSession, utcnow

SESSION_LIFETIME = timedelta(hours=24)

P = ParamSpec("P")
T = TypeVar("T")


def load_session(session: Session, enc: Encryptor, login_id: str) -> SavedSession | None:
    row = session.scalar(select(MyMomentSession).where(MyMomentSession.login_id == login_id))
    if row is None or not row.is_active or row.expires_at <= utcnow():
        return None
    return SavedSession.model_validate_json(enc.decrypt(row.session_enc))


def save_session(session: Session, enc: Encryptor, login_id: str, saved: SavedSession) -> None:
    now = utcnow()
    row = session.scalar(select(MyMomentSession).where(MyMomentSession.login_id == login_id))
    if row is None:
        row = MyMomentSession(login_id=login_id)
        session.add(row)
    row.session_enc = enc.encrypt(saved.model_dump_json())
    row.saved_at = now
    row.expires_at = now + SESSION_LIFETIME
    row.is_active = True


def delete_session(session: Session, login_id: str) -> None:
    session.execute(delete(MyMomentSession).where(MyMomentSession.login_id == login_id))


def deactivate_expired(session: Session) -> int:
    """Marks sessions past their 24 h as inactive (the every-5-minutes schedule)."""
    result = session.execute(
        update(MyMomentSession)
        .where(MyMomentSession.is_active, MyMomentSession.expires_at <= utcnow())
        .values(is_active=False)
    )
    return row_count(result)


def purge_old(session: Session, older_than: timedelta = timedelta(days=30)) -> int:
    """Deletes inactive session records not saved for `older_than` (the daily schedule)."""
    result = session.execute(
        delete(MyMomentSession).where(
            MyMomentSession.is_active.is_(False), MyMomentSession.saved_at <= utcnow() - older_than
        )
    )
    return row_count(result)


class DbSessionStore:
    """The client's SessionStore backed by the database, so every worker shares one session per login."""

    def __init__(self, database_url: str, enc: Encryptor) -> None:
        self._url = database_url
        self._enc = enc

    async def load(self, login_id: str) -> SavedSession | None:
        return await run_db(self._tx, load_session, login_id)

    async def save(self, login_id: str, saved: SavedSession) -> None:
        await run_db(self._tx, save_session, login_id, saved)

    async def invalidate(self, login_id: str) -> None:
        await run_db(self._tx_plain, delete_session, login_id)

    def _tx(
        self, fn: Callable[Concatenate[Session, Encryptor, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        with session_scope(self._url) as session:
            return fn(session, self._enc, *args, **kwargs)

    def _tx_plain(self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        with session_scope(self._url) as session:
            return fn(session, *args, **kwargs)
