"""The services we connect to, named safely: service, host and port, and why a connection failed.

A URL's user-info, path and query may hold a password or a token, so a message names only the host and
port. Why a connection failed is chosen from fixed phrases by the exception's type (and, for drivers
that give nothing else, by fixed phrases in their text): nothing a driver wrote is quoted.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

from yourmoment.errors import ServiceUnavailableError

DEFAULT_PORTS = {
    "http": 80,
    "https": 443,
    "redis": 6379,
    "rediss": 6379,
    "postgresql": 5432,
    "postgres": 5432,
    "postgresql+psycopg": 5432,
}
PROBE_SECONDS = 3.0

# libpq reports in words only; these fixed phrases say which failure it was (the rest is not shown).
_LIBPQ_REASONS = (
    ("connection refused", "refused the connection"),
    ("could not translate host name", "has a host name that does not resolve"),
    ("name or service not known", "has a host name that does not resolve"),
    ("timeout expired", "did not answer in time"),
    ("password authentication failed", "refused the user or password"),
    ("no pg_hba.conf entry", "refused this client in pg_hba.conf"),
    ('role "', "refused the user or password"),
    ('database "', "has no such database"),
    ("starting up", "is starting up"),
    ("shutting down", "is shutting down"),
    ("too many clients", "has no free connection slot"),
    ("ssl", "failed the TLS handshake"),
    ("server closed the connection", "dropped the connection"),
    ("terminating connection", "dropped the connection"),
)


def address(url: str) -> str:
    """`host:port` of a URL (IPv6 in brackets, the scheme's default port filled in); never user-info,
    path or query. A Unix socket is named by its path."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "an invalid address"
    if parts.scheme == "unix":
        return f"unix socket {parts.path}"
    return host_port(parts.hostname or "localhost", port or DEFAULT_PORTS.get(parts.scheme))


def host_port(host: str, port: int | None) -> str:
    """`host:port` as in a URL: an IPv6 host in brackets (`[::1]:6379`)."""
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port else shown


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and every cause or context behind it, once each."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def failure_reason(exc: BaseException) -> str:
    """Why a connection failed, as a verb phrase ("refused the connection"), from fixed words only."""
    for link in _chain(exc):
        if isinstance(link, ConnectionRefusedError):
            return "refused the connection"
        if isinstance(link, socket.gaierror):
            return "has a host name that does not resolve"
        if isinstance(link, TimeoutError):
            return "did not answer in time"
        if isinstance(link, ssl.SSLError):
            return "failed the TLS handshake"
        if isinstance(link, ConnectionResetError | BrokenPipeError):
            return "dropped the connection"
        if isinstance(link, OSError) and link.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return "is on a network this machine cannot reach"
        name = type(link).__name__.lower()
        if "timeout" in name:  # httpx/httpcore/redis timeouts carry no OSError
            return "did not answer in time"
        if "authentication" in name:  # redis' AuthenticationError
            return "refused the user or password"
    text = str(exc).lower()
    for phrase, reason in _LIBPQ_REASONS:
        if phrase in text:
            return reason
    return f"could not be reached: {type(exc).__name__}"


def unavailable(
    service: str,
    where: str,
    exc: BaseException,
    note: str | None = None,
    kind: type[ServiceUnavailableError] = ServiceUnavailableError,
) -> ServiceUnavailableError:
    """The one error for a service that cannot be reached: `Redis at 127.0.0.1:1 refused the connection`;
    `note` (a setting's name, a request's method and path) is added in brackets."""
    return kind(service, where, failure_reason(exc), note)


async def probe(service: str, url: str, note: str | None = None) -> str:
    """Opens (and closes) a TCP connection to the URL's host and port: is anything listening there?

    No request is sent, so the check costs the site nothing and needs no credentials. A Unix socket
    URL is not probed. Raises ServiceUnavailableError when nothing answers.
    """
    where = address(url)
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme, 80)
    except ValueError:  # a row stored before URLs were checked as strictly as today
        raise ServiceUnavailableError(service, "an invalid address", "cannot be reached", note) from None
    if parts.scheme == "unix" or not parts.hostname:
        return f"{where} (not probed)"
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, port), PROBE_SECONDS)
    except (OSError, TimeoutError) as exc:
        raise unavailable(service, where, exc, note) from None
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return f"{where} reachable"
