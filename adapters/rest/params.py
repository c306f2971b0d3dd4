"""Checks on request parameters that the engine's reads take as they come.

Read queries bind ids, cursors and filters straight into SQL. PostgreSQL text cannot hold NUL
(U+0000): a NUL there fails inside the driver, which would be a 500 on PostgreSQL and a quiet
empty answer on SQLite. Instants out of datetime's range overflow when turned into UTC. Both are
refused here, with 400 in the family's shape, alike on both backends and before any engine call.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from session_engine.adapters.rest.errors import ApiError
from session_engine.engine.objects.models import has_nul


def refuse_nul(name: str, value: Any, code: str = "invalid_request") -> None:
    """400 when `value` (a string, or any JSON document) contains NUL."""
    if has_nul(value):
        raise ApiError(400, code, f"{name} must not contain NUL (U+0000) characters")


def instant(name: str, text: str | None) -> datetime | None:
    """An ISO 8601 instant as an aware UTC datetime (naive means UTC, as the engine reads it)."""
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ApiError(400, "invalid_request", f"{name} must be an ISO 8601 instant, got {text!r}") from None
