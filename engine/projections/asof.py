"""A session's read models as they were at an earlier version, position or instant.

The session's events up to the cut-off are applied, by the same projection code, to an empty
in-memory database: the live projections are never touched, and every domain's ordinary read
functions work on the result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url

from session_engine.engine.backends import SqliteBackend
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.log.sealing import ERASED
from session_engine.engine.projections.base import Projection, ProjectionContext
from session_engine.engine.projections.rebuild import create_tables

T = TypeVar("T")
_BACKEND = SqliteBackend(make_url("sqlite+pysqlite://"))


class _Template:
    """Empty read models, built once per set of projections: a new state copies its pages (SQLite's
    backup) instead of compiling and running every table's DDL again, which cost a third of a
    thousand-event state."""

    def __init__(self, projections: list[Projection]) -> None:
        self._engine = _BACKEND.create_memory_engine()
        self._lock = threading.Lock()
        with self._engine.begin() as connection:
            create_tables(connection, _BACKEND, projections, [t for p in projections for t in p.tables])

    def schema(self) -> list[str]:
        with self._lock, self._engine.connect() as connection:
            found = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
            )
            return [str(sql) for (sql,) in found]

    def copy_to(self, target: Any) -> None:
        with self._lock, self._engine.connect() as connection:
            connection.connection.dbapi_connection.backup(target)  # type: ignore[union-attr]


_templates: dict[tuple[tuple[str, int, int], ...], _Template] = {}
_templates_lock = threading.Lock()


def _empty_tables(projections: list[Projection]) -> _Template:
    key = tuple((p.name, p.version, id(p)) for p in projections)
    with _templates_lock:
        found = _templates.get(key)
        if found is None:
            if len(_templates) >= 8:  # engines with other domains come and go (tests): stay bounded
                _templates.clear()
            found = _templates[key] = _Template(projections)
        return found


@dataclass(frozen=True)
class Base:
    """Where a fold starts instead of from nothing: the read models' image after `version`."""

    version: int
    position: int
    recorded_at: datetime
    tables: bytes


def schema_sql(projections: list[Projection]) -> list[str]:
    """The DDL of the read models a state is folded into (a snapshot's fingerprint covers it)."""
    return _empty_tables(projections).schema()


class SessionAsOf:
    """Read models holding one session's state at a cut-off. Close it (or use `with`) when done.

    `events` are applied to empty read models, or to those of `base` (a snapshot): then they are
    the events after its version. Empty read models stand for version `after` (0, or the version
    before a session's `session_expired` marker: engine/inspect/travel.py `restarts_at`)."""

    def __init__(
        self,
        namespace: str,
        stream: str,
        events: Sequence[RecordedEvent],
        projections: list[Projection],
        *,
        base: Base | None = None,
        after: int = 0,
    ) -> None:
        self.namespace = namespace
        self.stream = stream
        self.version = base.version if base else after
        self.position = base.position if base else 0
        self.at: datetime | None = base.recorded_at if base else None
        self.projections = projections
        self._backend = _BACKEND
        self._engine = self._backend.create_memory_engine()
        with self._engine.connect() as connection:
            dbapi: Any = connection.connection.dbapi_connection
            if base is None:
                _empty_tables(projections).copy_to(dbapi)
            else:
                dbapi.deserialize(base.tables)
        self.advance(events)

    def dump(self) -> bytes:
        """The read models as one SQLite database image: what a snapshot stores (`Base.tables`)."""
        with self._engine.connect() as connection:
            dbapi: Any = connection.connection.dbapi_connection
            image: bytes = dbapi.serialize()
            return image

    def advance(self, events: Sequence[RecordedEvent]) -> None:
        """Apply the session's next events: step through its history without refolding from the start."""
        if not events:
            return
        # An erased session's events hold nothing to apply (engine/log/sealing.py).
        live = [event for event in events if event.data is not ERASED]
        with self._engine.begin() as connection:
            context = ProjectionContext(connection, self._backend)
            for projection in self.projections:
                projection.apply(context, live)
            context.flush()
        self.version = events[-1].version
        self.position = events[-1].position
        self.at = events[-1].recorded_at

    def read(self, function: Callable[[Connection], T]) -> T:
        """Run a read function (the same ones the live engine uses) on this state."""
        with self._engine.connect() as connection:
            return function(connection)

    def rows(self, table: sa.Table) -> list[dict[str, Any]]:
        key = list(table.primary_key.columns)
        return self.read(lambda c: [dict(r) for r in c.execute(sa.select(table).order_by(*key)).mappings()])

    @property
    def tables(self) -> dict[str, list[dict[str, Any]]]:
        """Every projection table's rows for this session."""
        return {t.name: self.rows(t) for p in self.projections for t in p.tables}

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> SessionAsOf:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
