"""The values projection: events -> rows of the read model (`engine.values.tables`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.sql import Executable

from session_engine.engine.backends import Query, Rows
from session_engine.engine.clock import as_utc
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.log.schema import Position, UtcDateTime
from session_engine.engine.projections.base import BatchedProjection, Bulk, ProjectionContext, WriteBatch
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

_ENTRY_COLUMNS = ["value", "size", "expires_at", "created_position", "updated_at"]


class ValuesProjection(BatchedProjection):
    """Its tables are keyed by session (= stream), and values handlers read only their own
    session's rows: the write path applies it once per batch (`stream_local`).

    Folds a batch's writes in memory (`_Batch`), then writes them table by table.

    No handler reads, and the two tables do not refer to each other, so each table's rows depend
    only on the order of its own writes, and those fold:

    - entries: a key's writes in the batch become at most one delete of the stored row and one
      upsert (successive sets fold into one: the first's row, each later set's columns over it);
      a clear drops the session's pending keys and deletes its stored ones. Deletes run first,
      then the upserts, one statement each for the whole batch;
    - sessions: a session's n-th write runs in round n (writes to different sessions commute),
      and its successive touches with no other write between them are one upsert: the first's
      `created_at`, the last's `updated_*`.

    A `user_parts_cleared` (rare) matches keys by prefix as the database does (`LIKE`): it drains
    what came before and runs as its own statement.
    """

    stream_local = True

    def new_batch(self, context: ProjectionContext, events: list[RecordedEvent]) -> WriteBatch:
        return _Batch(context)


EntryKey = tuple[str, str, str]
SessionKey = tuple[str, str]


class _Batch(WriteBatch):
    def __init__(self, target: ProjectionContext) -> None:
        super().__init__(target.connection, target.backend)
        self._target = target
        self._reset()

    def _reset(self) -> None:
        self.entries: dict[EntryKey, tuple[dict[str, Any], list[bool]]] = {}
        """Pending upserts: the folded row, and [whether any set updates `created_position`]."""
        self.session_keys: dict[SessionKey, dict[str, None]] = {}
        self.deleted: dict[EntryKey, None] = {}
        self.cleared: dict[SessionKey, None] = {}
        self.rounds: list[dict[int, tuple[Executable, list[dict[str, Any]]]]] = []
        self.session_rounds: dict[SessionKey, int] = {}
        self.touches: dict[SessionKey, dict[str, Any]] = {}
        """The queued touch of each session that nothing else has written since."""

    # -- what handlers write ----------------------------------------------------------------
    def set_entry(self, key: EntryKey, row: dict[str, Any], replaced: bool) -> None:
        pending = self.entries.get(key)
        if pending is None:
            self.entries[key] = (row, [not replaced])
            self.session_keys.setdefault(key[:2], {})[key[2]] = None  # type: ignore[index]
            return
        folded, creates = pending
        folded.update((column, row[column]) for column in _ENTRY_COLUMNS if column != "created_position")
        if not replaced:
            folded["created_position"] = row["created_position"]
            creates[0] = True

    def delete_entry(self, key: EntryKey) -> None:
        self.entries.pop(key, None)
        self.deleted[key] = None

    def clear_entries(self, session: SessionKey) -> None:
        for name in self.session_keys.pop(session, {}):
            self.entries.pop((*session, name), None)
        self.cleared[session] = None

    def clear_parts(self, session: SessionKey) -> None:
        self.drain()
        self._target.execute(_delete_parts, {"ns": session[0], "sid": session[1]})

    def write_session(self, statement: Executable, params: dict[str, Any]) -> None:
        session = (
            (params["namespace"], params["session_id"])
            if "namespace" in params
            else (params["ns"], params["sid"])
        )
        if statement is _TOUCH:
            earlier = self.touches.get(session)
            if earlier is not None:
                earlier.update({column: params[column] for column in _TOUCHED})
                return
            self.touches[session] = params
        else:
            self.touches.pop(session, None)
        number = self.session_rounds[session] = self.session_rounds.get(session, -1) + 1
        while len(self.rounds) <= number:
            self.rounds.append({})
        self.rounds[number].setdefault(id(statement), (statement, []))[1].append(params)

    def execute(self, statement: Executable, params: dict[str, Any] | None = None) -> None:
        raise NotImplementedError("values handlers write through the batch's methods")

    def execute_sql(self, sql: str, row: tuple[Any, ...]) -> None:
        raise NotImplementedError("values handlers write through the batch's methods")

    def read(self, statement: Query, params: dict[str, Any] | None = None) -> Rows:
        raise NotImplementedError("values handlers never read")

    # -- to the database ----------------------------------------------------------------------
    def drain(self) -> None:
        target, stored_instant = self._target, self.backend.stored_instant
        instants: dict[datetime, Any] = {}

        def at(instant: datetime | None) -> Any:
            if instant is None:
                return None
            value = instants.get(instant)
            if value is None:
                value = instants[instant] = stored_instant(as_utc(instant))
            return value

        _DELETE_SESSION_ENTRIES.write(target, list(self.cleared))
        _DELETE_ENTRIES.write(target, list(self.deleted))
        for creates, upsert in ((True, _SET_ENTRY), (False, _REPLACE_ENTRY)):
            upsert.write(
                target,
                [
                    (
                        *key,
                        orjson.dumps(row["value"]).decode(),
                        row["size"],
                        at(row["expires_at"]),
                        row["created_position"],
                        at(row["updated_at"]),
                    )
                    for key, (row, flags) in self.entries.items()
                    if flags[0] is creates
                ],
            )
        for writes in self.rounds:
            for statement, batch in writes.values():
                if statement is _TOUCH:
                    _TOUCH_SESSIONS.write(
                        target,
                        [
                            (
                                p["namespace"],
                                p["session_id"],
                                "durable",
                                "active",
                                None,
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
        self._reset()


values = ValuesProjection("values", [value_sessions, value_entries])


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


def _batch(context: ProjectionContext) -> _Batch:
    assert isinstance(context, _Batch), "values handlers run inside ValuesProjection.apply"
    return context


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


@values.on(ev.ValueSet)
def _value_set(context: ProjectionContext, event: RecordedEvent) -> None:
    batch = _batch(context)
    payload = ev.ValueSet.model_validate(event.data)
    # An overwrite keeps the key's creation position; a new (or expired) key takes this one.
    row = {
        "value": payload.value,
        "size": payload.size,
        "expires_at": payload.expires_at,
        "created_position": event.position,
        "updated_at": event.recorded_at,
    }
    batch.set_entry((event.namespace, event.stream, payload.key), row, payload.replaced)
    _touch(batch, event)


@values.on(ev.ValueDeleted)
def _value_deleted(context: ProjectionContext, event: RecordedEvent) -> None:
    batch = _batch(context)
    batch.delete_entry((event.namespace, event.stream, event.data["key"]))
    _touch(batch, event)


@values.on(ev.ValuesExpired)
def _values_expired(context: ProjectionContext, event: RecordedEvent) -> None:
    # No touch: the values were invisible already, so the session's listing does not change.
    batch = _batch(context)
    for key in event.data["keys"]:
        batch.delete_entry((event.namespace, event.stream, key))


@values.on(ev.ValuesCleared)
def _values_cleared(context: ProjectionContext, event: RecordedEvent) -> None:
    batch = _batch(context)
    batch.clear_entries((event.namespace, event.stream))
    _touch(batch, event)


@values.on(ev.UserPartsCleared)
def _parts_cleared(context: ProjectionContext, event: RecordedEvent) -> None:
    batch = _batch(context)
    batch.clear_parts((event.namespace, event.stream))
    _touch(batch, event)


@values.on(ev.ConnectionSessionOpened)
def _opened(context: ProjectionContext, event: RecordedEvent) -> None:
    _batch(context).write_session(
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


@values.on(ev.ConnectionSessionDisconnected)
def _disconnected(context: ProjectionContext, event: RecordedEvent) -> None:
    _batch(context).write_session(_set_status, {**_where(event), "new_status": "disconnected"})


@values.on(ev.ConnectionSessionResumed)
def _resumed(context: ProjectionContext, event: RecordedEvent) -> None:
    _batch(context).write_session(_set_status, {**_where(event), "new_status": "open"})


@values.on(ev.ConnectionSessionEnded)
def _ended(context: ProjectionContext, event: RecordedEvent) -> None:
    batch = _batch(context)
    batch.clear_entries((event.namespace, event.stream))
    batch.write_session(_end_session, {**_where(event), "at": event.recorded_at, "pos": event.position})
