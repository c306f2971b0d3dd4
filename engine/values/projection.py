"""The values read model: one row per live-or-expired value, one row per session that ever held one.

Expired rows stay until the session's next clear, end or overwrite of that key: expiry is a read
time question (against the engine clock), so the tables are a pure function of the log.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import CursorResult
from sqlalchemy.sql import Executable
from sqlalchemy.sql.dml import UpdateBase

from engine.log.records import RecordedEvent
from engine.log.schema import Position, UtcDateTime, metadata
from engine.projections.base import Projection, ProjectionContext, upsert_statement
from engine.values import events as ev

PART_PREFIX = "__user_part_"


class JsonValue(sa.types.TypeDecorator[Any]):
    """Any JSON document, scalars included: JSONB on PostgreSQL, TEXT on SQLite.

    Not the shared `Json` type: SQLite gives a column declared JSON numeric affinity, which turns
    the stored text `0` into the integer 0 (and big integers into lossy reals).
    """

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB(none_as_null=False))
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        return value if dialect.name == "postgresql" else orjson.dumps(value).decode()

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        return value if dialect.name == "postgresql" or value is None else orjson.loads(value)


value_sessions = sa.Table(
    "value_sessions",
    metadata,
    sa.Column("namespace", sa.String(200), primary_key=True),
    sa.Column("session_id", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("client_id", sa.String(200), nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=True),
    sa.Column("updated_position", Position, nullable=True),
    # Listing walks this index newest first; positions never tie, timestamps can.
    sa.Index("ix_value_sessions_namespace_updated", "namespace", "updated_position"),
)
"""kind: connection | durable. status: open | disconnected | ended (connection), active (durable).
updated_*: the last change to the session's values (set, delete, clear, end)."""

value_entries = sa.Table(
    "value_entries",
    metadata,
    sa.Column("namespace", sa.String(200), primary_key=True),
    sa.Column("session_id", sa.String(200), primary_key=True),
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("value", JsonValue, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=True),
    sa.Column("created_position", Position, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)
"""created_position: where the key was last created (not overwritten); orders user parts."""

_s, _e = value_sessions.c, value_entries.c
# Parameter names differ from column names: UPDATE reserves those for its SET clause.
_this_session = sa.and_(_s.namespace == sa.bindparam("ns"), _s.session_id == sa.bindparam("sid"))
_its_entries = sa.and_(_e.namespace == sa.bindparam("ns"), _e.session_id == sa.bindparam("sid"))

_delete_entry = value_entries.delete().where(_its_entries, _e.key == sa.bindparam("k"))
_delete_entries = value_entries.delete().where(_its_entries)
_delete_parts = value_entries.delete().where(_its_entries, _e.key.startswith(PART_PREFIX, autoescape=True))
_insert_session = value_sessions.insert()
_set_status = value_sessions.update().where(_this_session).values(status=sa.bindparam("new_status"))
_end_session = (
    value_sessions.update()
    .where(_this_session)
    .values(
        status="ended",
        updated_at=sa.bindparam("at", type_=UtcDateTime),
        updated_position=sa.bindparam("pos", type_=Position),
    )
)

_ENTRY_COLUMNS = ["value", "size", "expires_at", "created_position", "updated_at"]


class ValuesProjection(Projection):
    """Writes a batch table by table: each table's writes in event order, one table after the other.

    No handler reads, and the two tables do not refer to each other, so each table's rows depend
    only on the order of its own writes. A `value_set` writes both (entry, then session), which
    would alternate statements and defeat the context's batching; grouped by table, consecutive
    writes of one statement go as one executemany. And a session's touches with no other write to
    the session between them are one upsert: the first's `created_at`, the last's `updated_*`.
    """

    def apply(self, context: ProjectionContext, events: Iterable[RecordedEvent]) -> None:
        by_table = _ByTable(context)
        super().apply(by_table, events)
        by_table.drain()


class _ByTable(ProjectionContext):
    def __init__(self, target: ProjectionContext) -> None:
        super().__init__(target.connection)
        self._target = target
        self._writes: dict[int, list[tuple[Executable, dict[str, Any] | None]]] = {}
        self._touch = _upsert(self, value_sessions, ["namespace", "session_id"], _TOUCHED)
        self._touches: dict[tuple[str, str], dict[str, Any]] = {}
        """The queued touch of each session that nothing else has written since."""

    def execute(self, statement: Executable, params: dict[str, Any] | None = None) -> None:
        table = statement.table if isinstance(statement, UpdateBase) else None
        if table is value_sessions:
            if statement is self._touch and params is not None:
                key = (params["namespace"], params["session_id"])
                earlier = self._touches.get(key)
                if earlier is not None:
                    earlier.update({column: params[column] for column in _TOUCHED})
                    return
                self._touches[key] = params
            else:
                self._touches.clear()
        self._writes.setdefault(id(table), []).append((statement, params))

    def execute_sql(self, sql: str, row: tuple[Any, ...]) -> None:
        raise NotImplementedError("values handlers write through SQLAlchemy statements")

    def read(self, statement: Executable, params: dict[str, Any] | None = None) -> CursorResult[Any]:
        self.drain()
        return self._target.read(statement, params)

    def drain(self) -> None:
        for writes in self._writes.values():
            for statement, params in writes:
                self._target.execute(statement, params)
        self._writes.clear()
        self._touches.clear()


values = ValuesProjection("values", [value_sessions, value_entries])


def _ids(event: RecordedEvent) -> dict[str, str]:
    return {"namespace": event.namespace, "session_id": event.stream}


def _where(event: RecordedEvent) -> dict[str, str]:
    return {"ns": event.namespace, "sid": event.stream}


_upserts: dict[tuple[str, str, tuple[str, ...]], Executable] = {}


def _upsert(
    context: ProjectionContext, table: sa.Table, key: Sequence[str], update: Sequence[str]
) -> Executable:
    """`context.upsert`, but built once per process: a context lives for one batch only, and
    building an upsert costs about a millisecond - a large share of one write."""
    cache_key = (context.dialect, table.name, tuple(update))
    statement = _upserts.get(cache_key)
    if statement is None:
        statement = _upserts[cache_key] = upsert_statement(context.dialect, table, key, update)
    return statement


_TOUCHED = ["updated_at", "updated_position"]


def _touch(context: ProjectionContext, event: RecordedEvent) -> None:
    """Mark the session's values as changed now, creating a durable session row on first use."""
    statement = _upsert(context, value_sessions, ["namespace", "session_id"], _TOUCHED)
    context.execute(
        statement,
        {
            **_ids(event),
            "kind": "durable",
            "status": "active",
            "client_id": None,
            "created_at": event.recorded_at,
            "updated_at": event.recorded_at,
            "updated_position": event.position,
        },
    )


@values.on(ev.ValueSet)
def _value_set(context: ProjectionContext, event: RecordedEvent) -> None:
    payload = ev.ValueSet.model_validate(event.data)
    # An overwrite keeps the key's creation position; a new (or expired) key takes this one.
    update = [c for c in _ENTRY_COLUMNS if c != "created_position"] if payload.replaced else _ENTRY_COLUMNS
    statement = _upsert(context, value_entries, ["namespace", "session_id", "key"], update)
    context.execute(
        statement,
        {
            **_ids(event),
            "key": payload.key,
            "value": payload.value,
            "size": payload.size,
            "expires_at": payload.expires_at,
            "created_position": event.position,
            "updated_at": event.recorded_at,
        },
    )
    _touch(context, event)


@values.on(ev.ValueDeleted)
def _value_deleted(context: ProjectionContext, event: RecordedEvent) -> None:
    context.execute(_delete_entry, {**_where(event), "k": event.data["key"]})
    _touch(context, event)


@values.on(ev.ValuesCleared)
def _values_cleared(context: ProjectionContext, event: RecordedEvent) -> None:
    context.execute(_delete_entries, _where(event))
    _touch(context, event)


@values.on(ev.UserPartsCleared)
def _parts_cleared(context: ProjectionContext, event: RecordedEvent) -> None:
    context.execute(_delete_parts, _where(event))
    _touch(context, event)


@values.on(ev.ConnectionSessionOpened)
def _opened(context: ProjectionContext, event: RecordedEvent) -> None:
    context.execute(
        _insert_session,
        {
            **_ids(event),
            "kind": "connection",
            "status": "open",
            "client_id": event.data["client_id"],
            "created_at": event.recorded_at,
            "updated_at": None,
            "updated_position": None,
        },
    )


@values.on(ev.ConnectionSessionDisconnected)
def _disconnected(context: ProjectionContext, event: RecordedEvent) -> None:
    context.execute(_set_status, {**_where(event), "new_status": "disconnected"})


@values.on(ev.ConnectionSessionResumed)
def _resumed(context: ProjectionContext, event: RecordedEvent) -> None:
    context.execute(_set_status, {**_where(event), "new_status": "open"})


@values.on(ev.ConnectionSessionEnded)
def _ended(context: ProjectionContext, event: RecordedEvent) -> None:
    context.execute(_delete_entries, _where(event))
    context.execute(_end_session, {**_where(event), "at": event.recorded_at, "pos": event.position})
