"""Logging set-up: text or JSON lines; records carry ids and counts, never secrets or pupils' texts."""

from __future__ import annotations

import json
import logging
import sys

from yourmoment.settings import Settings


class JsonFormatter(logging.Formatter):
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
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # httpx logs full URLs at INFO; keep it quiet so nothing but ids reaches the log.
    for noisy in ("httpx", "httpcore", "openai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
