"""A session's read models as they were at an earlier version, position or instant.

The session's events up to the cut-off are applied, by the same projection code, to an empty
in-memory database: the live projections are never touched, and every domain's ordinary read
functions work on the result.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import NullPool

from session_engine.engine.backends import SqliteBackend
from session_engine.engine.backends.base import json_text
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.log.sealing import ERASED
from session_engine.engine.projections.base import Projection, ProjectionContext
from session_engine.engine.projections.rebuild import create_tables

T = TypeVar("T")
PAGE_SIZE = 1024
"""The as-of databases' page size. Most of a session's read models are empty or small tables, each
at least a page: a quarter of SQLite's default makes an image to serialize, compress and load a
third the size (empty pages compressed to next to nothing anyway: the bytes stored barely change)."""
_BACKEND = SqliteBackend(make_url("sqlite+pysqlite://"))


def _private_database() -> sqlite3.Connection:
    return sqlite3.connect(":memory:", check_same_thread=False)


_DATABASES = sa.create_engine(
    "sqlite+pysqlite://",
    creator=_private_database,
    poolclass=NullPool,
    json_serializer=json_text,
    json_deserializer=orjson.loads,
)
"""One SQLAlchemy engine for every as-of state, each state on a private in-memory database of its
own (a new one per connection, gone when it closes): the statements are compiled once per process,
not once per state (an engine of its own per state compiled every statement again, about a third
of reading a state). The databases are not reused: SQLite's cached statements of a connection whose
content `deserialize` replaced crashed the process."""


class _Template:
    """Empty read models, built once per set of projections: a new state copies its pages (SQLite's
    backup) instead of compiling and running every table's DDL again, which cost a third of a
    thousand-event state."""

    def __init__(self, projections: list[Projection]) -> None:
        self._engine = _BACKEND.create_memory_engine()
        self._lock = threading.Lock()
        with self._engine.connect() as connection:  # before any table: a copy takes the template's page size
            connection.exec_driver_sql(f"PRAGMA page_size = {PAGE_SIZE}")
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
        self._connection = _DATABASES.connect()
        try:
            dbapi: Any = self._connection.connection.dbapi_connection
            if base is None:
                _empty_tables(projections).copy_to(dbapi)
            else:
                dbapi.deserialize(base.tables)
            self.advance(events)
        except BaseException:
            self._connection.close()
            raise

    def dump(self) -> bytes:
        """The read models as one SQLite database image: what a snapshot stores (`Base.tables`)."""
        dbapi: Any = self._connection.connection.dbapi_connection
        image: bytes = dbapi.serialize()
        return image

    def size(self) -> int:
        """The read models' bytes in memory (what `dump` would return)."""
        dbapi: Any = self._connection.connection.dbapi_connection
        [(pages,)] = dbapi.execute("PRAGMA page_count").fetchall()
        [(page,)] = dbapi.execute("PRAGMA page_size").fetchall()
        return int(pages) * int(page)

    def advance(self, events: Sequence[RecordedEvent]) -> None:
        """Apply the session's next events: step through its history without refolding from the start."""
        if not events:
            return
        # An erased session's events hold nothing to apply (engine/log/sealing.py).
        live = [event for event in events if event.data is not ERASED]
        with self._connection.begin():
            context = ProjectionContext(self._connection, self._backend)
            for projection in self.projections:
                projection.apply(context, live)
            context.flush()
        self.version = events[-1].version
        self.position = events[-1].position
        self.at = events[-1].recorded_at

    def read(self, function: Callable[[Connection], T]) -> T:
        """Run a read function (the same ones the live engine uses) on this state."""
        try:
            return function(self._connection)
        finally:
            if self._connection.in_transaction():  # a read's implicit one: `advance` begins its own
                self._connection.rollback()

    def rows(self, table: sa.Table) -> list[dict[str, Any]]:
        key = list(table.primary_key.columns)
        return self.read(lambda c: [dict(r) for r in c.execute(sa.select(table).order_by(*key)).mappings()])

    @property
    def tables(self) -> dict[str, list[dict[str, Any]]]:
        """Every projection table's rows for this session."""
        return {t.name: self.rows(t) for p in self.projections for t in p.tables}

    def close(self) -> None:
        self._connection.close()  # and its database with it

    def __enter__(self) -> SessionAsOf:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
