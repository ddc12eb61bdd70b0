"""Logging set-up: text or JSON lines; records carry ids and counts, never secrets or pupils' texts."""

from __future__ import annotations

import json
import logging
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


def format_exception_safely(exc_info: ExcInfo) -> str:
    """A traceback in Python's usual shape, but any other exception shows its type only: a library's
    message can quote a SQL statement's values, a page, a prompt or a cookie (the SDK logs every
    failed activity and workflow task with its traceback)."""
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
        message = str(exc) if isinstance(exc, SAFE_MESSAGES) else WITHHELD
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


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # httpx logs full URLs at INFO; keep it quiet so nothing but ids reaches the log.
    for noisy in ("httpx", "httpcore", "openai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
