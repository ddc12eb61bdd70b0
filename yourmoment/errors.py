"""Typed errors: each says whether trying again can help, which decides Temporal's retry policy."""

from __future__ import annotations

import sqlite3

# What an exception's own text may quote: the row being written, a page, a cookie jar, a prompt.
WITHHELD = "its message is withheld because it may quote pupils' texts or secrets"


class YourMomentError(Exception):
    """Base of all domain errors. The message is safe to log: it never holds secrets or pupils' texts."""


class PermanentError(YourMomentError):
    """Trying again cannot help (bad credentials, invalid configuration, an unparseable page)."""


class TransientError(YourMomentError):
    """Trying again later can help (timeouts, 5xx, 429). `retry_after` is the server's hint in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DatabaseError(TransientError):
    """The database failed: locked, unreachable, a constraint or trigger. Transient, because a lock passes
    and a server comes back. The message never quotes the driver, whose text can hold the row's values."""


class ServiceUnavailableError(TransientError):
    """A service we depend on (Redis, PostgreSQL, an LLM, the myMoment site) cannot be reached or refused
    us. Names the service, its host and port and why, from fixed words (yourmoment/services.py): never a
    URL's user-info or query, never the driver's text. Transient: a server comes back."""

    def __init__(self, service: str, where: str, reason: str, note: str | None = None) -> None:
        super().__init__(f"{service} at {where} {reason}" + (f" ({note})" if note else ""))
        self.service, self.where, self.reason = service, where, reason


class NotifierError(TransientError):
    """A notification service (NOTIFY_URLS) did not take a message. Names the services by their scheme
    only: a notification URL holds its service's token."""


class UnexpectedError(YourMomentError):
    """Any other exception, reduced to its type: `type_name` names it, the message says nothing more."""

    def __init__(self, type_name: str, where: str) -> None:
        super().__init__(f"unexpected {type_name} in {where}; {WITHHELD}")
        self.type_name = type_name


class ConfigurationError(PermanentError):
    """A missing or invalid setting or domain configuration."""


class ValidationError(PermanentError):
    """User input that breaks a rule; one message per problem in `problems`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class NotFoundError(PermanentError):
    """A row or remote object that does not exist."""


class ForbiddenError(PermanentError):
    """myMoment answered 403: this login may not see the page (a dashboard without access)."""


class BadCredentialsError(PermanentError):
    """myMoment rejected the login's username or password."""


class PageParseError(PermanentError):
    """A myMoment page does not have the structure we know."""


class SessionExpiredError(TransientError):
    """The myMoment session ended; one re-login answers it."""


class AmbiguousPostError(TransientError):
    """A comment POST whose outcome is unknown (timeout, dropped connection): read the page before retrying."""


class LLMPermanentError(PermanentError):
    """The LLM provider refused for good (401, bad model, invalid request)."""


class LLMTransientError(TransientError):
    """The LLM provider failed for now (429, 5xx, timeout, malformed answer)."""


class LLMUnavailableError(ServiceUnavailableError, LLMTransientError):
    """The LLM provider's server cannot be reached: retried like any transient LLM failure."""


class CommentValidationError(PermanentError):
    """A generated comment failed validation even after regenerating; `problems` (messages) and `checks`
    (their codes) say why."""

    def __init__(
        self, message: str, problems: list[str] | None = None, checks: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.problems = problems or []
        self.checks = checks or []


class TemporalUnavailableError(YourMomentError):
    """The Temporal server cannot be reached (address, namespace, TLS or API key)."""


def type_name(exc: BaseException) -> str:
    """`KeyError` for builtins, else module and class, so a foreign `ValidationError` is never taken for ours."""
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def is_database_error(exc: BaseException) -> bool:
    """SQLAlchemy's errors and the drivers' own (sqlite3, psycopg) when they escape unwrapped."""
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, SQLAlchemyError | sqlite3.Error):
        return True
    return type(exc).__module__.split(".")[0] == "psycopg"


def database_error(exc: BaseException, where: str) -> DatabaseError:
    """Names the error class and the SQLSTATE (both fixed vocabularies), never the driver's text."""
    orig = getattr(exc, "orig", None) or exc
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
    kind = type(orig).__name__ + (f" {sqlstate}" if isinstance(sqlstate, str) else "")
    return DatabaseError(f"database error ({kind}) in {where}; {WITHHELD}")


def reduce_error(exc: BaseException, where: str) -> YourMomentError:
    """Any exception as one whose message is safe to record anywhere (history, logs, the CLI).

    Our typed errors stay as they are (their messages are written to be safe); database errors become
    one transient DatabaseError; everything else becomes an UnexpectedError naming only its type.
    """
    if isinstance(exc, YourMomentError):
        return exc
    if is_database_error(exc):
        return database_error(exc, where)
    return UnexpectedError(type_name(exc), where)
