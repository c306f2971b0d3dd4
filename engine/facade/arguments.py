"""The checks the Engine's calls make on their arguments, before anything reaches a query.

One copy for every facade module: a read refused for a NUL on one call is refused alike on all.
"""

from __future__ import annotations

from datetime import datetime

from session_engine.engine.clock import as_utc
from session_engine.engine.errors import ValidationFailed
from session_engine.engine.inspect.travel import Point
from session_engine.engine.log.bounds import check_integer


def instant(name: str, at: datetime | None) -> datetime | None:
    """`at` in UTC (None stays None); an instant UTC cannot hold is the caller's error."""
    try:
        return as_utc(at) if at is not None else None
    except OverflowError:  # e.g. year 1 at +05:00: before the first instant UTC can hold
        raise ValidationFailed("the instant is outside the range of UTC instants") from None


def point(name: str, at: Point) -> Point:
    """A diff's point: a version (checked) or an instant (in UTC)."""
    if isinstance(at, datetime):
        return instant(name, at)  # type: ignore[return-value]
    check_integer(name, at)
    return at


def comparable(*values: str | None) -> None:
    """Strings a read compares with stored ones: PostgreSQL text cannot hold NUL, so a query with
    one would fail in the driver (and find nothing on SQLite). Refused alike on both."""
    if any(value is not None and "\x00" in value for value in values):
        raise ValidationFailed("ids and event types must not contain NUL (U+0000) characters")
