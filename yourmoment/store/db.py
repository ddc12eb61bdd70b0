"""Engine and session set-up for SQLite (WAL, busy timeout) and PostgreSQL, and schema migrations."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from sqlalchemy import URL, CursorResult, Engine, Result, create_engine, event, inspect, make_url, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.orm import Session, sessionmaker

from yourmoment.errors import ConfigurationError
from yourmoment.files import create_private
from yourmoment.services import host_port, unavailable

if TYPE_CHECKING:
    import sqlite3

    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The schema this code works on: the newest migration (tests/test_schema_head.py holds it to alembic's
# head). Declared, so checking a database needs no alembic: a worker saves its 11 MB.
SCHEMA_HEAD = "0012_article_versions"

P = ParamSpec("P")
T = TypeVar("T")


def normalize_url(url: str) -> str:
    """Accepts the usual `postgresql://` spelling and selects the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers and one writer work at once; the busy timeout waits for a lock instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for other databases and in-memory ones."""
    parsed = make_url(normalize_url(url))
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _create_private_file(path: Path) -> None:
    """A new database file is readable by its owner only (its WAL and SHM files follow its mode); SQLite
    itself would create it by the umask, usually world-readable."""
    with contextlib.suppress(OSError):  # a missing folder: SQLite names the problem when it opens the file
        create_private(path)


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """`hide_parameters`: an error's text never carries the values of its statement (pupils' texts,
    encrypted secrets); logs, the CLI and Temporal failures see the SQL only."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": 10, "check_same_thread": False}, hide_parameters=True
        )
        if (path := _sqlite_file(url)) is not None:
            event.listen(engine, "do_connect", lambda *_: _create_private_file(path))
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, hide_parameters=True)
        name_connection_failures(engine)
    return engine


def database_address(url: URL) -> str:
    """Where a PostgreSQL URL points: `host:port`, or the Unix socket's folder; never user or password."""
    host = url.host or str(url.query.get("host") or "") or None
    if host is None or host.startswith("/"):
        return f"unix socket {host or '(libpq default)'}"
    port = url.port or int(str(url.query.get("port") or 5432).split(",")[0])
    return host_port(host, port)


def name_connection_failures(engine: Engine) -> None:
    """A PostgreSQL server that cannot be reached, refuses the login or drops the connection becomes a
    ServiceUnavailableError naming its host and port (`PostgreSQL at db:5432 refused the connection`).
    libpq's own text is never shown: on a refused login it quotes the user name."""
    where = database_address(engine.url)

    @event.listens_for(engine, "handle_error")
    def _name(context: ExceptionContext) -> None:
        dbapi = engine.dialect.loaded_dbapi
        if not isinstance(context.original_exception, dbapi.OperationalError):
            return
        if context.connection is None or context.is_disconnect:  # connecting, or the link broke
            raise unavailable("PostgreSQL", where, context.original_exception, "DATABASE_URL") from None


@lru_cache(maxsize=8)
def _sessionmaker(url: str) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """One unit of work: commits on success, rolls back on error."""
    session = _sessionmaker(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def row_count(result: Result[Any]) -> int:
    """The rows an UPDATE, INSERT or DELETE changed. Session.execute declares a plain Result; for these
    statements it is a CursorResult, which counts them."""
    return cast("CursorResult[Any]", result).rowcount or 0


async def run_db(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Runs blocking database work in a thread so async activities never block the event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def _alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str) -> str:
    """Migrates the schema to the newest revision and returns it."""
    from alembic import command

    if (path := _sqlite_file(url)) is not None:
        _create_private_file(path)  # alembic's own engine (without our pragmas) would create it by the umask
    command.upgrade(_alembic_config(url), "head")
    return current_revision(url) or ""


def head_revision() -> str:
    """The newest migration as alembic reads it from the migrations folder."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head() or ""


def current_revision(url: str) -> str | None:
    """The database's migration (alembic's version table), None before the first upgrade."""
    with get_engine(url).connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def require_migrated(url: str) -> None:
    """Refuses to work on a database that `starter.py db upgrade` has not brought to the newest schema.
    A SQLite file that does not exist is named as such and not created (a relative path is relative to
    the folder the command runs in, the usual cause)."""
    missing = _missing_sqlite_file(url)
    if missing is not None:
        where = (
            f" (DATABASE_URL {normalize_url(url)} is read from the folder you run in)"
            if not Path(make_url(normalize_url(url)).database or "").is_absolute()
            else ""
        )
        raise ConfigurationError(
            f"the database file {missing} does not exist{where}; run where your .env is, "
            "or 'starter.py db upgrade' to create it"
        )
    current = current_revision(url)
    if current != SCHEMA_HEAD:
        raise ConfigurationError(
            f"the database is not migrated (at {current or 'no revision'}, need {SCHEMA_HEAD}); "
            "run 'starter.py db upgrade'"
        )


def _missing_sqlite_file(url: str) -> Path | None:
    path = _sqlite_file(url)
    if path is None:
        return None
    path = path.resolve()
    return None if path.exists() else path
