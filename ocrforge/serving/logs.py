"""Structured logs: one JSON object per line on stderr, which log collectors parse without rules."""

from __future__ import annotations

import datetime
import json
import logging
import sys
import traceback
from typing import IO, Optional

LOGGER_NAME = "ocrforge.serving"

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is a field.
# color_message: uvicorn's ANSI-coloured copy of msg, noise in a JSON log.
_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime", "taskName", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["error"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "info", stream: Optional[IO[str]] = None) -> logging.Handler:
    """Send ocrforge's and uvicorn's loggers to one JSON handler; returns the handler.

    Called by ``ocrforge serve`` (a process entry point), never on import, so embedding the app
    elsewhere leaves the host's logging alone.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in (LOGGER_NAME, "uvicorn", "uvicorn.error", "grpc"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    # Our middleware writes one access record per request with more fields than uvicorn's.
    logging.getLogger("uvicorn.access").disabled = True
    return handler


def get_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)
