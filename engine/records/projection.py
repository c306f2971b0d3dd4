"""The records projection: events -> `session_records`, `session_agents`, `session_status_counts`.

Rows come from event payloads only (never the wall clock), so a rebuild writes the same rows.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from session_engine.engine.backends import Backend
from session_engine.engine.events import DomainEvent
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.projections.base import (
    BatchedProjection,
    Bulk,
    Forgotten,
    ProjectionContext,
    RowsHandler,
    WriteBatch,
    dialect_ddl,
)
from session_engine.engine.projections.folding import KeyedRows
from session_engine.engine.records import events as ev
from session_engine.engine.records.tables import (
    TITLE_FTS,
    TITLE_FTS_TABLES,
    create_title_index,
    session_agents,
    session_records,
    session_status_counts,
    title_index,
)
from session_engine.engine.records.term_filters import create_term_filters

_bumps: dict[str, sa.Insert] = {}
_c, _r = session_status_counts.c, session_records.c
_drop_zero = session_status_counts.delete().where(
    _c.namespace == sa.bindparam("namespace"), _c.status == sa.bindparam("status"), _c.count == 0
)
"""A count at 0 is no row: a rebuild after an erasure (which skips the erased session's events)
then finds the same rows as the live table (specs/lifecycle.md)."""


def _bump(backend: Backend) -> sa.Insert:
    """Add `delta` to a status count, creating the row at first use (`_drop_zero` removes it at 0)."""
    statement = _bumps.get(backend.name)
    if statement is None:
        insert = backend.insert(session_status_counts)
        statement = insert.on_conflict_do_update(
            index_elements=["namespace", "status"],
            set_={"count": session_status_counts.c.count + insert.excluded["count"]},
        )
        _bumps[backend.name] = statement
    return statement


def fold_title(title: Any) -> str | None:
    """The form title search compares: Python's casefold, not the database's lower()."""
    return title.casefold() if isinstance(title, str) else None


def record_row(namespace: str, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "namespace": namespace,
        "session_id": record["sessionId"],
        "status": record["status"],
        # Doubles (the order of lists; the record keeps the numbers as given), bound as floats on
        # both backends: PostgreSQL's arrays hold one type, SQLite cannot bind an int above 2**63 - 1.
        "created_at": float(record["createdAt"]),
        "last_activity_at": float(record["lastActivityAt"]),
        "parent_session_id": record.get("parentSessionId"),
        "adapter_session_id": record.get("adapterSessionId"),
        "execution_target_id": record.get("executionTargetId"),
        "is_imported": bool(record.get("isImported", False)),
        "title_folded": fold_title(record.get("title")),
        "record": record,
    }


class RecordsProjection(BatchedProjection["RecordsBatch"]):
    """Folds a batch's writes per session (`RecordsBatch`), then writes each table once.

    Each table's rows are per session, and the status counts only add up deltas, so a session's
    events in a batch leave only their last record (or its deletion) and its agents: one delete
    statement, one upsert and one insert for the whole batch - the same rows as event by event
    (this is what makes a rebuild of 100,000 records fast; a replay's batch is a page).

    Stream-local: records handlers read only their own session's record, and a session's rows
    change only through its events. The status counts are a namespace's, but they only add up
    deltas, which no handler reads: any order of a batch's writes leaves them the same. So live,
    a batch of records writes is applied once too, with the same few statements as a rebuild.
    """

    stream_local = True

    def new_batch(self, context: ProjectionContext, events: list[RecordedEvent]) -> RecordsBatch:
        return RecordsBatch(context)

    def clear(self, context: ProjectionContext) -> None:
        super().clear(context)
        context.backend.run_ddl(context.connection, _EMPTY_TITLE_INDEX)

    seeded_tables = (session_records, session_agents)

    def seed_session(
        self, context: ProjectionContext, rows: Callable[[sa.Table], list[dict[str, Any]]]
    ) -> None:
        """The record and its agents as they are; its statuses add to the namespace's counts."""
        super().seed_session(context, rows)
        for row in rows(session_status_counts):
            context.execute(_bump(context.backend), row)

    def forget_session(self, context: ProjectionContext, namespace: str, session: str) -> Forgotten:
        """The record and its agents go, its status leaves the count (a count at 0 is no row, as
        a replay without the session's events leaves it)."""
        context.flush()
        row = context.read(
            sa.select(_r.status).where(_r.namespace == namespace, _r.session_id == session)
        ).first()
        forgotten = super().forget_session(context, namespace, session)
        if row is not None:
            params = {"namespace": namespace, "status": row[0]}
            context.execute(_bump(context.backend), {**params, "count": -1})
            context.execute(_drop_zero, params)
        return forgotten


_EMPTY_TITLE_INDEX = dialect_ddl(sqlite=[f"INSERT INTO {TITLE_FTS}({TITLE_FTS}) VALUES ('delete-all')"])
"""SQLite's title index: its triggers have emptied it row by row; `delete-all` also drops anything a
trigger could not match (should rowids ever have moved), so a rebuild starts clean."""


class RecordsBatch(WriteBatch):
    """A batch's records writes folded per session (`KeyedRows`): its record's final row (deleted
    first when a delete came before it), its final agents (grouped by session: after deleting the
    stored ones, when an event replaced or deleted them), and the status counts' summed deltas."""

    def __init__(self, target: ProjectionContext) -> None:
        super().__init__(target)
        self.records: KeyedRows[dict[str, Any]] = KeyedRows()
        self.agents: KeyedRows[dict[str, Any]] = KeyedRows()
        self.deltas: dict[tuple[str, str], int] = {}

    def bump(self, namespace: str, status: str, delta: int) -> None:
        self.deltas[(namespace, status)] = self.deltas.get((namespace, status), 0) + delta

    def drain(self) -> None:
        context = self.target
        _DELETE_RECORDS.write(context, list(self.records.deleted))
        _CLEAR_AGENTS.write(context, list(self.agents.cleared))
        stored_json = context.backend.stored_json
        _STORE_RECORDS.write(
            context, [_record_columns(row, stored_json) for row in self.records.rows.values()]
        )
        _INSERT_AGENTS.write(context, [_agent_columns(row) for row in self.agents.rows.values()])
        bump = _bump(context.backend)
        for (namespace, status), delta in sorted(self.deltas.items()):
            if delta == 0:  # no change to a count; and a count at 0 is no row
                continue
            context.execute(bump, {"namespace": namespace, "status": status, "count": delta})
            if delta < 0:
                context.execute(_drop_zero, {"namespace": namespace, "status": status})


def _stored(batch: RecordsBatch, event: RecordedEvent) -> None:
    """A record set or updated: its row and agents replace the session's, its status counted."""
    session = (event.namespace, event.stream)
    record, previous = event.data["record"], event.data.get("previous_status")
    batch.records.put(session, record_row(event.namespace, record))
    batch.agents.clear(session, stored=previous is not None)
    for agent in _agent_rows(event, record):
        batch.agents.put((*session, agent["ordinal"]), agent, group=session)
    if previous != record["status"]:
        if previous is not None:
            batch.bump(event.namespace, previous, -1)
        batch.bump(event.namespace, record["status"], 1)


def _deleted(batch: RecordsBatch, event: RecordedEvent) -> None:
    session = (event.namespace, event.stream)
    batch.records.delete(session)
    batch.agents.clear(session)
    batch.bump(event.namespace, event.data["status"], -1)


HANDLERS: dict[type[DomainEvent], RowsHandler[RecordsBatch]] = {
    ev.SessionRecordSet: _stored,
    ev.SessionRecordUpdated: _stored,
    ev.SessionRecordDeleted: _deleted,
}
"""Which rows each event makes."""

records = RecordsProjection(
    "records",
    [session_records, session_agents, session_status_counts],
    rows=[HANDLERS],
    extra_ddl=[create_title_index, create_term_filters],
    extra_tables=TITLE_FTS_TABLES,
    depends_on=["objects"],  # its triggers keep the term index's record filters (term_filters.py)
    version=2,  # 2: no status count kept at 0 (`_drop_zero`); the rebuild drops those kept before
    derived=[title_index],
)


_RECORD_COLUMNS = [c.name for c in session_records.columns]
_STORE_RECORDS = Bulk(
    session_records, _RECORD_COLUMNS, key=["namespace", "session_id"], update=_RECORD_COLUMNS[2:]
)
_DELETE_RECORDS = Bulk(session_records, ["namespace", "session_id"], delete=True)
_CLEAR_AGENTS = Bulk(session_agents, ["namespace", "session_id"], delete=True)
_AGENT_COLUMNS = [c.name for c in session_agents.columns]
_INSERT_AGENTS = Bulk(session_agents, _AGENT_COLUMNS)
_agent_columns = operator.itemgetter(*_AGENT_COLUMNS)


_JSON_COLUMNS = frozenset(c.name for c in session_records.columns if isinstance(c.type, sa.JSON))


def _record_columns(row: dict[str, Any], stored_json: Callable[[Any], str | None]) -> tuple[Any, ...]:
    """A `record_row` as the column types bind it (`Bulk` makes the doubles floats where it must)."""
    return tuple(stored_json(row[name]) if name in _JSON_COLUMNS else row[name] for name in _RECORD_COLUMNS)


def _agent_rows(event: RecordedEvent, record: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "namespace": event.namespace,
            "session_id": event.stream,
            "ordinal": ordinal,
            "agent_id": agent["agentId"],
            "role": agent["role"],
            "status": agent["status"],
            "adapter_id": agent["adapterId"],
            "adapter_session_id": agent.get("adapterSessionId"),
        }
        for ordinal, agent in enumerate(record["agents"])
    ]
