"""A session's history as an auditor steps through it, and the list of sessions by activity."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection

from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.log.schema import events

SUMMARY_CHARS = 120
"""A summary fits one line of a terminal table."""
_SCALAR_CHARS = 40


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HistoryEntry(_Frozen):
    version: int
    position: int
    type: str
    recorded_at: datetime
    metadata: dict[str, Any]
    summary: str = Field(description="One line: the event type and its data's first fields.")


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + str(len(value)) + " fields}" if value else "{}"
    if isinstance(value, list):
        return "[" + str(len(value)) + " items]" if value else "[]"
    text = orjson.dumps(value).decode()
    return text if len(text) <= _SCALAR_CHARS else text[: _SCALAR_CHARS - 1] + "…"


def summarize(event: RecordedEvent) -> str:
    """`type key=value, ...`: nested documents shown by their size, long scalars cut, one line."""
    fields = ", ".join(f"{key}={_short(value)}" for key, value in event.data.items())
    line = f"{event.type} {fields}".strip().replace("\n", " ").replace("\r", " ")
    return line if len(line) <= SUMMARY_CHARS else line[: SUMMARY_CHARS - 1] + "…"


def entry(event: RecordedEvent) -> HistoryEntry:
    return HistoryEntry(
        version=event.version,
        position=event.position,
        type=event.type,
        recorded_at=event.recorded_at,
        metadata=event.metadata,
        summary=summarize(event),
    )


class SessionActivity(_Frozen):
    namespace: str
    session: str = Field(description="The session's stream.")
    version: int = Field(description="Its events so far (the version of its last event).")
    last_position: int
    last_type: str
    last_recorded_at: datetime


class SessionsPage(_Frozen):
    sessions: list[SessionActivity] = Field(description="Newest activity first.")
    next_after: int | None = Field(description="`after` of the next page; null at the end.")


_e = events.alias("e")
_later = events.alias("later")
# A session's last event is the one with no next version: a probe of the log's unique
# (namespace, stream, version) index. Walking the namespace's events newest first (the
# (namespace, position) index) and keeping last events lists sessions by their last activity, each
# once, with no catalog on the write path. PostgreSQL plans this walk from its statistics (see
# specs/audit.md): on a table never analyzed it may hash the whole namespace instead.
_is_last = ~sa.exists().where(
    _later.c.namespace == _e.c.namespace,
    _later.c.stream == _e.c.stream,
    _later.c.version == _e.c.version + 1,
)
_columns = (_e.c.namespace, _e.c.stream, _e.c.version, _e.c.position, _e.c.type, _e.c.recorded_at)


def sessions_query(namespace: str | None, after: int | None, limit: int) -> sa.Select[Any]:
    """The page's query: the log's (namespace, position) index walked backwards (the primary key
    without a namespace), one unique-index probe per event seen."""
    query = sa.select(*_columns).where(_is_last)
    if namespace is not None:
        query = query.where(_e.c.namespace == namespace)
    if after is not None:
        query = query.where(_e.c.position < after)
    return query.order_by(_e.c.position.desc()).limit(limit)


def sessions(connection: Connection, namespace: str | None, after: int | None, limit: int) -> SessionsPage:
    """One page of sessions, newest activity first; `after` is the previous page's `next_after`."""
    rows = connection.execute(sessions_query(namespace, after, limit)).all()
    found = [
        SessionActivity(
            namespace=ns,
            session=stream,
            version=version,
            last_position=position,
            last_type=type_,
            last_recorded_at=at,
        )
        for ns, stream, version, position, type_, at in rows
    ]
    return SessionsPage(sessions=found, next_after=found[-1].last_position if len(found) == limit else None)
