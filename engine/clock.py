"""Clocks: the engine reads time only through one of these, so tests and replays control it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to: for tests and deterministic replays."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds, **delta)
            return self._now

    def set(self, instant: datetime) -> None:
        with self._lock:
            self._now = instant


def as_utc(instant: datetime) -> datetime:
    """Naive datetimes are taken as UTC (SQLite returns them naive)."""
    zone = instant.tzinfo
    if zone is UTC:  # the engine's own instants: `astimezone` would make a copy of each
        return instant
    if zone is None:
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)
