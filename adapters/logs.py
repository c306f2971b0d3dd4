"""Structured logs: one JSON object per line on standard error, through stdlib logging.

No log line carries a credential: uvicorn writes each request's path with its query string (the
access log, and "WebSocket /rpc?..." lines), where a JSON-RPC client may put its API key
(`?api_key=`); `RedactCredentials` replaces the value before any handler sees the record.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

import orjson

from session_engine.adapters.credentials import API_KEY_PARAMETER

REDACTED = "[redacted]"
UVICORN_LOGGERS = ("uvicorn.access", "uvicorn.error")
"""Where uvicorn writes request paths (HTTP access lines; websocket accepted / refused lines)."""
_PARAMETER = re.compile(r"([?&])([^=&\s\"#]*)=([^&\s\"#]*)")


def redact(text: str) -> str:
    """`text` with the value of every `api_key` query parameter replaced (its name however encoded)."""
    if "=" not in text:
        return text

    def replace(found: re.Match[str]) -> str:
        if unquote_plus(found.group(2)).lower() != API_KEY_PARAMETER:
            return found.group(0)
        return f"{found.group(1)}{found.group(2)}={REDACTED}"

    return _PARAMETER.sub(replace, text)


class RedactCredentials(logging.Filter):
    """Rewrites a record's message and string arguments before it is formatted or handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def redact_credentials() -> None:
    """Install `RedactCredentials` on uvicorn's loggers (once; any handler, any configuration)."""
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactCredentials) for existing in logger.filters):
            logger.addFilter(RedactCredentials())


_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}
_NOT_LOGGED = _STANDARD | {"color_message"}
"""uvicorn's `color_message` repeats the message with terminal escape codes: for consoles only."""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,  # which of several server processes (`serve --workers N`)
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _NOT_LOGGED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "info") -> None:
    """Route every logger (ours and uvicorn's) through one JSON-lines handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
