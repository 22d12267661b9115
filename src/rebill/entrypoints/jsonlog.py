"""Structured logs: one JSON object a line on stderr (time, level, logger, message, and every
`extra` field given: the request id, route, status, job...), for the server and the worker."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# The attributes every LogRecord has; anything else on a record came from `extra`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                document[key] = value
        if record.exc_info:
            document["error"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str, separators=(",", ":"))


ACCESS_LOG_ENV = "REBILL_ACCESS_LOG"


def configure(level: int = logging.INFO) -> None:
    """JSON lines on stderr for the `rebill` loggers (once per process). The server's line per
    request (`rebill.api.access`) only with REBILL_ACCESS_LOG=1: it costs every request."""
    import os

    access = os.environ.get(ACCESS_LOG_ENV) in ("1", "true", "yes")
    logging.getLogger("rebill.api.access").setLevel(logging.INFO if access else logging.WARNING)
    logger = logging.getLogger("rebill")
    if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
