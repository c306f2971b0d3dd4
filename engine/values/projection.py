"""The values projection: events -> rows of the read model (`engine.values.tables`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.sql import Executable

from session_engine.engine.clock import as_utc
from session_engine.engine.events import DomainEvent
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.log.schema import Position, UtcDateTime
from session_engine.engine.projections.base import (
    BatchedProjection,
    Bulk,
    ProjectionContext,
    RowsHandler,
    WriteBatch,
)
from session_engine.engine.projections.folding import KeyedRows, Rounds
from session_engine.engine.values import events as ev
from session_engine.engine.values.parts import PART_PREFIX
from session_engine.engine.values.tables import value_entries, value_sessions

_s, _e = value_sessions.c, value_entries.c
# Parameter names differ from column names: UPDATE reserves those for its SET clause.
_this_session = sa.and_(_s.namespace == sa.bindparam("ns"), _s.session_id == sa.bindparam("sid"))
_its_entries = sa.and_(_e.namespace == sa.bindparam("ns"), _e.session_id == sa.bindparam("sid"))

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

_VALUE_SET = ev.ValueSet.event_type
_ENTRY_COLUMNS = ["value", "size", "expires_at", "created_position", "updated_at"]


class ValuesProjection(BatchedProjection["_Batch"]):
    """Its tables are keyed by session (= stream), and values handlers read only their own
    session's rows: the write path applies it once per batch (`stream_local`).

    Folds a batch's writes in memory (`_Batch`), then writes them table by table.

    No handler reads, and the two tables do not refer to each other, so each table's rows depend
    only on the order of its own writes, and those fold:

    - entries, by key (`KeyedRows`): a key's writes in the batch become at most one delete of the
      stored row and one upsert (successive sets fold into one: the last set's columns, the
      creation position of the last set that created the key); a clear drops the session's
      pending keys and deletes its stored ones. Deletes run first, then the upserts, one statement
      each for the whole batch;
    - sessions, in rounds (`Rounds`): a session's n-th write runs in round n (writes to different
      sessions commute), and its successive touches with no other write between them are one
      upsert: the first's `created_at`, the last's `updated_*`.

    A `user_parts_cleared` (rare) matches keys by prefix as the database does (`LIKE`): it drains
    what came before and runs as its own statement.
    """

    stream_local = True

    def new_batch(self, context: ProjectionContext, events: list[RecordedEvent]) -> _Batch:
        return _Batch(context)

    def apply(self, context: ProjectionContext, events: Iterable[RecordedEvent]) -> None:
        """A lone `value_set` (most live batches) has nothing to fold: its two rows go straight to
        the context, made by the same functions `drain` uses, in the order it writes them."""
        if type(events) is list and len(events) == 1 and events[0].type == _VALUE_SET:
            _write_lone_set(context, events[0])
            return
        super().apply(context, events)


EntryKey = tuple[str, str, str]
SessionKey = tuple[str, str]


class _Batch(WriteBatch):
    def __init__(self, target: ProjectionContext) -> None:
        super().__init__(target)
        self._reset()

    def _reset(self) -> None:
        self.entries: KeyedRows[dict[str, Any]] = KeyedRows()
        """Entries by key, grouped by session (a clear takes the session's)."""
        self.sessions = Rounds()

    # -- what handlers write ----------------------------------------------------------------
    def set_entry(self, key: EntryKey, row: dict[str, Any], replaced: bool) -> None:
        """An overwrite keeps the creation position of the key's pending set (and whether it created
        the key); a set that creates the key takes its own."""
        row["creates"] = not replaced
        self.entries.put(key, row, group=key[:2], merge=_keep_creation if replaced else None)

    def delete_entry(self, key: EntryKey) -> None:
        self.entries.delete(key)

    def clear_entries(self, session: SessionKey) -> None:
        self.entries.clear(session)

    def clear_parts(self, session: SessionKey) -> None:
        self.drain()
        self._reset()  # the writes after this one fold afresh
        self.target.execute(_delete_parts, {"ns": session[0], "sid": session[1]})

    def write_session(self, statement: Executable, params: dict[str, Any]) -> None:
        session = (
            (params["namespace"], params["session_id"])
            if "namespace" in params
            else (params["ns"], params["sid"])
        )
        self.sessions.add(statement, params, (session,), _TOUCHED if statement is _TOUCH else ())

    # -- to the database ----------------------------------------------------------------------
    def drain(self) -> None:
        target, stored_instant = self.target, self.backend.stored_instant
        instants: dict[datetime, Any] = {}

        def at(instant: datetime | None) -> Any:
            if instant is None:
                return None
            value = instants.get(instant)
            if value is None:
                value = instants[instant] = stored_instant(as_utc(instant))
            return value

        entries = self.entries
        if entries.cleared:
            _DELETE_SESSION_ENTRIES.write(target, list(entries.cleared))
        if entries.deleted:
            _DELETE_ENTRIES.write(target, list(entries.deleted))
        # One pass: the rows that create their key, then those that overwrite one (each kind its
        # own upsert, in the order of their keys' first writes).
        creating: list[tuple[Any, ...]] = []
        replacing: list[tuple[Any, ...]] = []
        for key, row in entries.rows.items():
            (creating if row["creates"] else replacing).append(
                _entry_row(
                    key,
                    row["value"],
                    row["size"],
                    at(row["expires_at"]),
                    row["created_position"],
                    at(row["updated_at"]),
                )
            )
        _SET_ENTRY.write(target, creating)
        _REPLACE_ENTRY.write(target, replacing)
        for statement, batch in self.sessions.groups():
            if statement is _TOUCH:
                _TOUCH_SESSIONS.write(
                    target,
                    [
                        _touch_row(
                            p["namespace"],
                            p["session_id"],
                            at(p["created_at"]),
                            at(p["updated_at"]),
                            p["updated_position"],
                        )
                        for p in batch
                    ],
                )
                continue
            for params in batch:
                target.execute(statement, params)
        # Not reset: a batch is drained once, at its end (`clear_parts` resets after its own drain).


def _entry_row(
    key: EntryKey, value: Any, size: int, expires_at: Any, created_position: int, updated_at: Any
) -> tuple[Any, ...]:
    """A `value_entries` row in its stored form (instants already as the backend stores them)."""
    return (*key, orjson.dumps(value).decode(), size, expires_at, created_position, updated_at)


def _touch_row(
    namespace: str, session_id: str, created_at: Any, updated_at: Any, position: int
) -> tuple[Any, ...]:
    """The touch upsert's `value_sessions` row: a durable session, created on its first write."""
    return (namespace, session_id, "durable", "active", None, created_at, updated_at, position)


def _write_lone_set(context: ProjectionContext, event: RecordedEvent) -> None:
    """`_value_set` and `drain` for a batch of this one event: the set creates its key unless it
    `replaced` a live value (no earlier write of the batch to keep a creation position from)."""
    key, value, size, expires_at, replaced = _set_fields(event.data)
    stored_instant = context.backend.stored_instant
    at = stored_instant(as_utc(event.recorded_at))
    row = _entry_row(
        (event.namespace, event.stream, key),
        value,
        size,
        None if expires_at is None else stored_instant(as_utc(expires_at)),
        event.position,
        at,
    )
    (_REPLACE_ENTRY if replaced else _SET_ENTRY).write(context, [row])
    _TOUCH_SESSIONS.write(context, [_touch_row(event.namespace, event.stream, at, at, event.position)])


def _keep_creation(pending: dict[str, Any], row: dict[str, Any]) -> None:
    row["created_position"], row["creates"] = pending["created_position"], pending["creates"]


_TOUCHED = ["updated_at", "updated_position"]
_TOUCH = value_sessions.insert()  # stands for the touch upsert in a batch's rounds
_TOUCH_SESSIONS = Bulk(
    value_sessions, [c.name for c in value_sessions.columns], key=["namespace", "session_id"], update=_TOUCHED
)
_ENTRY_KEY = ["namespace", "session_id", "key"]
_SET_ENTRY = Bulk(
    value_entries, [c.name for c in value_entries.columns], key=_ENTRY_KEY, update=_ENTRY_COLUMNS
)
_REPLACE_ENTRY = Bulk(
    value_entries,
    [c.name for c in value_entries.columns],
    key=_ENTRY_KEY,
    update=[c for c in _ENTRY_COLUMNS if c != "created_position"],
)
_DELETE_ENTRIES = Bulk(value_entries, _ENTRY_KEY, delete=True)
_DELETE_SESSION_ENTRIES = Bulk(value_entries, ["namespace", "session_id"], delete=True)


def _where(event: RecordedEvent) -> dict[str, str]:
    return {"ns": event.namespace, "sid": event.stream}


def _touch(batch: _Batch, event: RecordedEvent) -> None:
    """Mark the session's values as changed now, creating a durable session row on first use."""
    batch.write_session(
        _TOUCH,
        {
            "namespace": event.namespace,
            "session_id": event.stream,
            "created_at": event.recorded_at,
            "updated_at": event.recorded_at,
            "updated_position": event.position,
        },
    )


def _value_set(batch: _Batch, event: RecordedEvent) -> None:
    key, value, size, expires_at, replaced = _set_fields(event.data)
    # An overwrite keeps the key's creation position; a new (or expired) key takes this one.
    row = {
        "value": value,
        "size": size,
        "expires_at": expires_at,
        "created_position": event.position,
        "updated_at": event.recorded_at,
    }
    batch.set_entry((event.namespace, event.stream, key), row, replaced)
    _touch(batch, event)


def _set_fields(data: dict[str, Any]) -> tuple[str, Any, int, datetime | None, bool]:
    """A `value_set`'s fields as `ValueSet` validates them. The engine records them in exactly
    these types, which are read here as they are: a replay runs this for four events in ten, and
    the model's validation was a fifth of their time. Anything else goes through the model."""
    key, size, expires_at, replaced = data["key"], data["size"], data.get("expires_at"), data.get("replaced")
    if type(key) is str and type(size) is int and type(replaced) is bool and "value" in data:
        if expires_at is None:
            return key, data["value"], size, None, replaced
        if type(expires_at) is str:
            with contextlib.suppress(ValueError):
                instant = datetime.fromisoformat(expires_at)
                if instant.tzinfo is not None:
                    return key, data["value"], size, instant, replaced
    payload = ev.ValueSet.model_validate(data)
    return payload.key, payload.value, payload.size, payload.expires_at, payload.replaced


def _value_deleted(batch: _Batch, event: RecordedEvent) -> None:
    batch.delete_entry((event.namespace, event.stream, event.data["key"]))
    _touch(batch, event)


def _values_expired(batch: _Batch, event: RecordedEvent) -> None:
    # No touch: the values were invisible already, so the session's listing does not change.
    for key in event.data["keys"]:
        batch.delete_entry((event.namespace, event.stream, key))


def _values_cleared(batch: _Batch, event: RecordedEvent) -> None:
    batch.clear_entries((event.namespace, event.stream))
    _touch(batch, event)


def _parts_cleared(batch: _Batch, event: RecordedEvent) -> None:
    batch.clear_parts((event.namespace, event.stream))
    _touch(batch, event)


def _opened(batch: _Batch, event: RecordedEvent) -> None:
    batch.write_session(
        _insert_session,
        {
            "namespace": event.namespace,
            "session_id": event.stream,
            "kind": "connection",
            "status": "open",
            "client_id": event.data["client_id"],
            "created_at": event.recorded_at,
            "updated_at": None,
            "updated_position": None,
        },
    )


def _disconnected(batch: _Batch, event: RecordedEvent) -> None:
    batch.write_session(_set_status, {**_where(event), "new_status": "disconnected"})


def _resumed(batch: _Batch, event: RecordedEvent) -> None:
    batch.write_session(_set_status, {**_where(event), "new_status": "open"})


def _ended(batch: _Batch, event: RecordedEvent) -> None:
    batch.clear_entries((event.namespace, event.stream))
    batch.write_session(_end_session, {**_where(event), "at": event.recorded_at, "pos": event.position})


HANDLERS: dict[type[DomainEvent], RowsHandler[_Batch]] = {
    ev.ValueSet: _value_set,
    ev.ValueDeleted: _value_deleted,
    ev.ValuesExpired: _values_expired,
    ev.ValuesCleared: _values_cleared,
    ev.UserPartsCleared: _parts_cleared,
    ev.ConnectionSessionOpened: _opened,
    ev.ConnectionSessionDisconnected: _disconnected,
    ev.ConnectionSessionResumed: _resumed,
    ev.ConnectionSessionEnded: _ended,
}
"""Which rows each event makes."""

values = ValuesProjection("values", [value_sessions, value_entries], rows=[HANDLERS])
