"""Projections: read models that are functions of the event log.

A projection declares its tables and a handler per event type. Handlers write through a
`ProjectionContext`, which sends consecutive executions of one statement as a single executemany;
that is what makes rebuilding a million events fast without making handlers harder to write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, overload

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Executable

from session_engine.engine.backends import Backend, DialectDDL, Prepared, Query, Rows
from session_engine.engine.events import DomainEvent
from session_engine.engine.log.reads import LogRows
from session_engine.engine.log.records import RecordedEvent

EventHandler = Callable[["ProjectionContext", RecordedEvent], None]
"""What a projection runs for one event of a type it handles."""


def dialect_ddl(
    sqlite: Sequence[str] = (), postgresql: Callable[[str | None], Sequence[str]] | None = None
) -> DialectDDL:
    """An `extra_ddl` (for scratch copies and extra domains' tables): each database's own statements.
    PostgreSQL's are made for the schema the tables go to (None: the default one), since a
    trigger's body names its tables itself."""
    return DialectDDL(tuple(sqlite), postgresql)


@dataclass(frozen=True)
class DerivedIndex:
    """What the database keeps from a projection's rows by row triggers (full-text and term
    indexes), and how to make it from the final rows in one go.

    A replay from the start stops the `triggers` (`Backend.suspend_derived`), then runs `fill` and
    puts them back at its end: row by row, they were most of a rebuild's writing time
    (docs/benchmarks.md). `fill` empties the index first, so it is right whatever it held. Into a
    copy nobody reads (a scratch copy) it also drops `indexes` that the replay never reads, and
    builds them again at the end.
    """

    triggers: tuple[str, ...]
    fill: DialectDDL
    indexes: tuple[str, ...] = ()
    full_text: bool = False
    """Kept outside the projection's tables (a full-text index's own), for queries only: a copy
    whose rows go live through shadows, whose cloned triggers fill the shadows' own index (SQLite's
    live rebuild), never reads it, so a replay into that copy leaves its triggers off and never
    fills it (`replay`'s `full_text`)."""


@dataclass(frozen=True)
class Forgotten:
    """What `Projection.forget_session` did: the rows it deleted, and what the session's
    `session_expired` marker must carry for a replay (retention)."""

    rows: int
    carried: dict[str, Any] = field(default_factory=dict)


class ProjectionContext:
    """A connection wrapper that batches writes and flushes them before any read.

    Writes of one statement in a row are gathered for one executemany; a different statement
    starts a new group, and every group waits, in order, for `flush`: the write path's final
    pipeline sends them all in its one round trip (PostgreSQL)."""

    def __init__(self, connection: Connection, backend: Backend, *, copies: bool = False) -> None:
        self.connection = connection
        self.backend = backend
        self.copies = copies
        """True where the writes never run in a pipeline (a replay's): plain inserts of many rows
        may then go as a COPY where the backend has one (`Backend.write_bulk`)."""
        self._statement: Executable | str | None = None
        self._keys: Any = None
        self._params: list[dict[str, Any]] = []
        self._waiting: list[tuple[Executable | str, list[Any]]] = []
        """Earlier groups of writes (statement, its parameters), in the order they came."""

    def execute(self, statement: Executable, params: dict[str, Any] | None = None) -> None:
        """Queue a write. Runs in order with every other write of this context."""
        params = params or {}
        keys = params.keys()
        if statement is not self._statement or keys != self._keys:
            self._close_group()
            self._statement, self._keys = statement, keys
        self._params.append(params)

    def execute_sql(self, sql: str, row: tuple[Any, ...]) -> None:
        """Queue a write as driver SQL with positional parameters: for projections that see every event.

        The caller formats values as the column types would (`Backend.stored_instant`, `stored_json`).
        """
        if sql is not self._statement:
            self._close_group()
            self._statement, self._keys = sql, None
        self._params.append(row)  # type: ignore[arg-type]

    def _close_group(self) -> None:
        if self._statement is not None:
            self._waiting.append((self._statement, self._params))
            self._statement, self._keys, self._params = None, None, []

    @property
    def holds_driver_sql(self) -> bool:
        """True when the writes waiting to be flushed are driver SQL (or there are none)."""
        return (self._statement is None or isinstance(self._statement, str)) and all(
            isinstance(statement, str) for statement, _ in self._waiting
        )

    def flush(self) -> None:
        self._close_group()
        if not self._waiting:
            return
        waiting, self._waiting = self._waiting, []
        for statement, params in waiting:
            if isinstance(statement, str):
                self.backend.execute_many(self.connection, statement, params)
            else:
                self.connection.execute(statement, params if len(params) > 1 else params[0])

    @overload
    def read(self, statement: Prepared, params: dict[str, Any] | None = None) -> list[Any]: ...

    @overload
    def read(self, statement: Executable, params: dict[str, Any] | None = None) -> Rows: ...

    def read(self, statement: Query, params: dict[str, Any] | None = None) -> list[Any] | Rows:
        """Run a query after every queued write, so handlers read their own writes (`Backend.rows`)."""
        self.flush()
        return self.backend.rows(self.connection, statement, params)

    def upsert(self, table: sa.Table, key: Sequence[str], update: Sequence[str] | None = None) -> Executable:
        """An `INSERT ... ON CONFLICT (key) DO UPDATE` for this database, built once per process."""
        return self.backend.upsert(table, key, update)


class Bulk:
    """A write of many rows in their stored form: an INSERT (or upsert, or a DELETE by key).

    Each backend writes it its own way (`Backend.bulk_sql`, `write_bulk`): SQLite an executemany of
    a one-row statement, PostgreSQL one statement over arrays. Callers format values as the column
    types bind them (`Backend.stored_instant`, `stored_json`), and give an upsert rows with distinct
    keys (one statement cannot update a row twice on PostgreSQL).
    """

    def __init__(
        self,
        table: sa.Table,
        columns: Sequence[str],
        *,
        key: Sequence[str] = (),
        update: Sequence[str] | None = None,
        delete: bool = False,
    ) -> None:
        self.table = table
        self.columns = tuple(columns)
        self.key = tuple(key)
        self.update = None if update is None else tuple(update)
        self.delete = delete
        self.float_columns: tuple[int, ...] | None = None
        """Indexes of floating-point columns (filled by a backend that needs them)."""
        self._sql: dict[str, str] = {}

    def sql(self, backend: Backend) -> str:
        """The write in this backend's driver SQL, built once."""
        sql = self._sql.get(backend.name)
        if sql is None:
            sql = self._sql[backend.name] = backend.bulk_sql(self)
        return sql

    def write(self, context: ProjectionContext, rows: Sequence[tuple[Any, ...]]) -> None:
        """Queue the rows on the context (in order with its other writes)."""
        if rows:
            context.backend.write_bulk(context, self, rows)


class Projection:
    """A named read model: its tables, its handlers, and a version to bump when its shape changes.

    Bumping `version` makes the engine rebuild the projection from the log when it opens.
    """

    all_events = False
    """True for a projection whose `apply` looks at every event, not only its handlers' types."""
    per_batch = False
    """True for a projection that no command handler reads: the write path applies it once per
    batch, to all the batch's events, instead of after each command."""
    stream_local = False
    """True for a projection that handlers read only for the stream of the command they decide, and
    whose rows of a stream change only through that stream's events (in any order of the other
    projections' writes of the batch). The write path then defers it: a batch's events are applied
    once, at its end - or earlier, when a later command of one of their streams reads the read
    models (`UnitOfWork.read`), so every decision still reads its own stream's writes."""
    headers_only = False
    """True for an `all_events` projection whose events outside its handlers' types need only their
    headers: a replay then gives it raw pages (`apply_page`) and decodes payloads only for the event
    types some projection handles."""

    def __init__(
        self,
        name: str,
        tables: Sequence[sa.Table],
        *,
        version: int = 1,
        extra_ddl: Sequence[DialectDDL] = (),
        extra_tables: Sequence[str] = (),
        depends_on: Sequence[str] = (),
        derived: Sequence[DerivedIndex] = (),
    ) -> None:
        self.name = name
        self.tables = tuple(tables)
        self.version = version
        self.extra_ddl = tuple(extra_ddl)
        self.extra_tables = tuple(extra_tables)
        """Tables that migrations create outside the metadata (e.g. FTS5), ignored by drift checks."""
        self.depends_on = tuple(depends_on)
        """Projections whose tables this one's triggers read or write: a scratch copy without them
        could not be built, so they are rebuilt and verified together (`ProjectionSet.named`)."""
        self.derived = tuple(derived)
        """Indexes kept by row triggers, filled in bulk at the end of a replay from the start."""
        self._handlers: dict[str, EventHandler] = {}

    def on(self, *event_types: str | type[DomainEvent]) -> Callable[[EventHandler], EventHandler]:
        def decorate(handler: EventHandler) -> EventHandler:
            for event_type in event_types:
                name = event_type if isinstance(event_type, str) else event_type.event_type
                self._handlers[name] = handler
            return handler

        return decorate

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._handlers)

    @property
    def handlers(self) -> tuple[EventHandler, ...]:
        """Its handlers (a snapshot's fingerprint covers their code)."""
        return tuple(self._handlers.values())

    def apply(self, context: ProjectionContext, events: Iterable[RecordedEvent]) -> None:
        """Apply events in order. Override for a faster batch form; the result must be the same."""
        handlers = self._handlers
        for event in events:
            handler = handlers.get(event.type)
            if handler is not None:
                handler(context, event)

    def apply_page(self, context: ProjectionContext, page: LogRows) -> None:
        """Replay a page of the log (`headers_only` projections): the same writes as `apply` on its events."""
        self.apply(context, page.events(erased=False))

    def suspend_derived(
        self, context: ProjectionContext, *, private: bool, full_text: bool = True
    ) -> list[str]:
        """Before a replay from the start: stop the `derived` indexes' triggers, and drop their
        `indexes` when the target is `private` (nobody reads it meanwhile). Returns the statements
        that put them back (`fill_derived`). Without `full_text`, the `full_text` indexes' triggers
        are stopped for good (their statements are not returned)."""
        if not self.derived:
            return []
        kept = [index for index in self.derived if full_text or not index.full_text]
        if len(kept) < len(self.derived):
            dropped = [name for index in self.derived if index not in kept for name in index.triggers]
            context.backend.suspend_derived(context.connection, dropped, [])
        triggers = [name for index in kept for name in index.triggers]
        indexes = [name for index in kept for name in index.indexes] if private else []
        return context.backend.suspend_derived(context.connection, triggers, indexes)

    def fill_derived(
        self, context: ProjectionContext, suspended: Sequence[str], *, full_text: bool = True
    ) -> None:
        """After it: fill the `derived` indexes from the final rows (without `full_text`, those
        that are not), and put their triggers back."""
        context.flush()
        if not suspended:
            return
        for index in self.derived:
            if full_text or not index.full_text:
                context.backend.run_ddl(context.connection, index.fill)
        for statement in suspended:
            context.connection.exec_driver_sql(statement)

    def clear(self, context: ProjectionContext) -> None:
        """Empty the projection's tables (children first, in reverse dependency order)."""
        context.flush()
        for table in reversed(self.tables):
            context.connection.execute(table.delete())

    def forget_session(self, context: ProjectionContext, namespace: str, session: str) -> Forgotten:
        """Delete every row of this read model that one session's events made: the one rule for
        what a session leaves in the read models, used by retention (which removes those events)
        and erasure (which destroys their key). Returns how many rows went and what the session's
        closing marker (`session_expired`) must carry so that a replay of the log as it is left
        makes the same rows (most projections: nothing).

        By default: its tables' rows keyed by the namespace and the session id (or stream)."""
        context.flush()
        rows = 0
        for table in reversed(self.tables):
            key = table.c.get("session_id") if "session_id" in table.c else table.c.get("stream")
            if key is not None and "namespace" in table.c:
                rows += context.connection.execute(
                    table.delete().where(table.c.namespace == namespace, key == session)
                ).rowcount
        return Forgotten(rows)

    @property
    def seeded_tables(self) -> Sequence[sa.Table]:
        """The tables `seed_session` copies as they are: all but those others fill (triggers)."""
        return self.tables

    def seed_session(
        self, context: ProjectionContext, rows: Callable[[sa.Table], list[dict[str, Any]]]
    ) -> None:
        """Insert one session's rows as a snapshot holds them (`rows(table)`), before a replay of
        the events after it (engine/retention/bases.py): the rows of its `seeded_tables` as they are."""
        context.flush()
        for table in self.seeded_tables:
            found = rows(table)
            if found:
                context.connection.execute(table.insert(), found)

    def __repr__(self) -> str:
        return f"Projection({self.name!r}, v{self.version})"


class WriteBatch:
    """One `apply`'s writes of a batched projection, folded in memory; `drain` sends them, table by
    table, to the context it was made for. Handlers write through its methods and never read."""

    def __init__(self, target: ProjectionContext) -> None:
        self.target = target
        self.backend = target.backend

    def drain(self) -> None:
        raise NotImplementedError


BatchT = TypeVar("BatchT", bound=WriteBatch)
RowsHandler = Callable[[BatchT, RecordedEvent], None]
"""What a batched projection runs for one event: the rows it makes, written into the batch."""


class BatchedProjection(Projection, Generic[BatchT]):
    """A projection whose handlers write into its own `WriteBatch`, drained once per `apply`.

    Live, `apply` gets one command's events; in a replay, a page of the log: the batch can fold
    many events' writes to one row into one, and send each table's rows in one statement. `rows`:
    tables of handlers (event type -> the rows it makes), run in the order of the tables.
    """

    def __init__(
        self,
        name: str,
        tables: Sequence[sa.Table],
        *,
        rows: Sequence[Mapping[type[DomainEvent], RowsHandler[BatchT]]],
        **options: Any,
    ) -> None:
        super().__init__(name, tables, **options)
        self.rows: dict[str, tuple[RowsHandler[BatchT], ...]] = {}
        """Event type -> its handlers, in the order of `rows`."""
        for table in rows:
            for event_type, handler in table.items():
                self.rows[event_type.event_type] = (*self.rows.get(event_type.event_type, ()), handler)

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self.rows)

    def new_batch(self, context: ProjectionContext, events: list[RecordedEvent]) -> BatchT:
        raise NotImplementedError

    def extend_batch(self, batch: BatchT, events: list[RecordedEvent]) -> None:
        """Ready a batch that `new_batch` made for earlier events to fold `events` too, as if they
        had come with those (a replay folds many pages into one batch: `ReplayFolds`). By default
        nothing: only a batch that reads before it folds (objects' graphs) has anything to do."""

    def fold(self, batch: BatchT, events: Iterable[RecordedEvent]) -> None:
        """Run the handlers of `events`, in order, into `batch` (which `drain` then writes)."""
        rows = self.rows
        for event in events:
            for handler in rows.get(event.type, ()):
                handler(batch, event)

    def apply(self, context: ProjectionContext, events: Iterable[RecordedEvent]) -> None:
        events = list(events)
        batch = self.new_batch(context, events)
        self.fold(batch, events)
        batch.drain()
