"""Logging set-up: text or JSON lines; records carry ids and counts, never secrets or pupils' texts.

Also the one redaction of URLs (`redact_url`, `redact_urls`): user-info, query and fragment can hold
a password or key, and every handler of ours removes them from whatever a library logs; the
notification URLs (secrets through and through) are withheld whole (`add_secrets`).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from types import TracebackType

from temporalio.exceptions import TemporalError

from yourmoment.errors import WITHHELD, YourMomentError, type_name
from yourmoment.settings import Settings

# What sys.exc_info() returns and logging hands formatException (all None outside an except block).
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]
# Exceptions whose text is ours or the network's: typed domain errors (safe by contract), Temporal's
# (activity failures are reduced before they leave the activity) and OS errors (errno and address).
SAFE_MESSAGES: tuple[type[BaseException], ...] = (YourMomentError, TemporalError, OSError)


REDACTED = "***"
# A URL in free text: a scheme, "://", then everything up to white space or a quote.
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")


def redact_url(url: str) -> str:
    """The URL without what may be a secret: user-info, query string and fragment become `***`.

    `http://user:pw@host:8080/v1?key=k` → `http://***@host:8080/v1?***`. A Temporal address
    (HOST:PORT, no scheme) loses its user-info alike. Host, port and path stay: they say where.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    end = next((i for i, char in enumerate(rest) if char in "/?#"), len(rest))
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        authority = f"{REDACTED}@{authority.rpartition('@')[2]}"
    path = tail[: next((i for i, char in enumerate(tail) if char in "?#"), len(tail))]
    after = tail[len(path) :]
    if after.startswith("?"):
        path += f"?{REDACTED}"
    if "#" in after:
        path += f"#{REDACTED}"
    return f"{scheme}{separator}{authority}{path}"


def redact_urls(text: str) -> str:
    """`text` with every URL in it redacted (see redact_url), and every registered secret (add_secrets)."""
    for secret in _SECRETS:
        text = text.replace(secret, REDACTED)
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group()), text)


# Texts that are secrets wherever they appear, longest first (add_secrets).
_SECRETS: list[str] = []
_SHORTEST_SECRET_PART = 6


def add_secrets(texts: list[str]) -> None:
    """Registers texts no log line may show (the notification URLs)."""
    _SECRETS[:] = sorted({*_SECRETS, *(t for t in texts if t)}, key=len, reverse=True)


def notify_url_secrets(url: str) -> list[str]:
    """What of a notification URL is a secret: apprise puts tokens anywhere (`tgram://BOT/CHAT`,
    `discord://ID/TOKEN`, `mailto://USER:PASSWORD@host`) and logs the service's own URL built from
    them, so the URL after its scheme, and each of its parts of 6 characters or more but host names
    (`hooks.slack.com`, `127.0.0.1`: they say where, as in any URL), are withheld."""
    rest = url.partition("://")[2].rstrip("/")
    parts = [
        part
        for part in re.split(r"[/:@?&=#]+", rest)
        if len(part) >= _SHORTEST_SECRET_PART and not _HOST_NAME.fullmatch(part)
    ]
    return [url, rest, *parts]


_HOST_NAME = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


class RedactUrls(logging.Filter):
    """Every record our handlers pass on carries its URLs redacted: httpx, the openai SDK's transport
    and others log whole request URLs, and a setting's URL can hold a password or key. The record is
    changed in place, so handlers after ours see it redacted too."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "://" in message or any(secret in message for secret in _SECRETS):
            record.msg, record.args = redact_urls(message), None
        return True


def format_exception_safely(exc_info: ExcInfo) -> str:
    """A traceback in Python's usual shape, but any other exception shows its type only: a library's
    message can quote a SQL statement's values, a page, a prompt or a cookie (the SDK logs every
    failed activity and workflow task with its traceback). URLs in the safe messages are redacted."""
    chain: list[tuple[BaseException, str]] = []  # newest first, with the phrase linking it to the older one
    exc: BaseException | None = exc_info[1]
    while exc is not None and all(exc is not seen for seen, _ in chain):
        if exc.__cause__ is not None:
            chain.append((exc, _CAUSE))
            exc = exc.__cause__
        elif exc.__context__ is not None and not exc.__suppress_context__:
            chain.append((exc, _CONTEXT))
            exc = exc.__context__
        else:
            chain.append((exc, ""))
            exc = None
    blocks = []
    for exc, link in reversed(chain):
        if link:
            blocks.append(link)
        frames = "".join(traceback.format_tb(exc.__traceback__))
        message = redact_urls(str(exc)) if isinstance(exc, SAFE_MESSAGES) else WITHHELD
        head = "Traceback (most recent call last):\n" if frames else ""
        blocks.append(f"{head}{frames}{type_name(exc)}" + (f": {message}" if message else ""))
    return "\n".join(blocks)


_CAUSE = "\nThe above exception was the direct cause of the following exception:\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n"


class SafeFormatter(logging.Formatter):
    """The text format; exception tracebacks through format_exception_safely."""

    def formatException(self, ei: ExcInfo) -> str:
        return format_exception_safely(ei)


class JsonFormatter(SafeFormatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # Temporal's activity and workflow loggers attach their context (workflow id, run id,
        # activity type, attempt, task queue) as these extras.
        for key in ("temporal_activity", "temporal_workflow"):
            value = getattr(record, key, None)
            if isinstance(value, dict):
                data.update({k: v for k, v in value.items() if isinstance(v, str | int | float)})
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def safe_handler(formatter: logging.Formatter) -> logging.Handler:
    """A handler to stderr that redacts URLs (RedactUrls) and formats tracebacks safely (`formatter`)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(RedactUrls())
    return handler


def configure_logging(settings: Settings) -> None:
    formatter = (
        JsonFormatter()
        if settings.log_format == "json"
        else SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [safe_handler(formatter)]
    root.setLevel(settings.log_level.upper())
    for url in settings.notification_urls:
        add_secrets(notify_url_secrets(url))
    # The HTTP clients log every request at INFO (httpx2 is the openai SDK's transport): quiet, so the
    # log holds ids and counts; what they log at WARNING, or at a level an operator sets, is redacted.
    for noisy in ("httpx", "httpx2", "httpcore", "openai", "apprise", "urllib3", "requests_oauthlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
