"""A session's history as an auditor steps through it, and the list of sessions by activity."""

from __future__ import annotations

from collections.abc import Callable
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

    @classmethod
    def of(cls, last: RecordedEvent) -> SessionActivity:
        """The session as its last event `last` leaves it: the live list's row for a new event,
        the same as the sessions list would give for it."""
        return cls(
            namespace=last.namespace,
            session=last.stream,
            version=last.version,
            last_position=last.position,
            last_type=last.type,
            last_recorded_at=last.recorded_at,
        )


class SessionsPage(_Frozen):
    sessions: list[SessionActivity] = Field(description="Newest activity first.")
    next_after: int | None = Field(description="`after` of the next page; null at the end.")


StartsWith = Callable[[sa.ColumnElement[str]], sa.ColumnElement[bool]]
"""A test that a column starts with a given prefix (a backend's `starts_with`, prefix bound)."""

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


SEARCH_WALK = 1_000
"""Events a prefix search first walks newest-first before it asks the index of session ids."""


def sessions_query(
    namespace: str | None,
    after: int | None,
    limit: int,
    starting: StartsWith | None = None,
    *,
    walk_from: int | None = None,
) -> sa.Select[Any]:
    """The page's query: the log's (namespace, position) index walked backwards (the primary key
    without a namespace), one unique-index probe per event seen.

    With a prefix (`starting`: the backend's own test for it) the matching sessions' events come
    from the unique (namespace, stream, version) index, sorted: the cost of what is found. With
    `walk_from` too, only the events from that position on are walked (the prefix tested on each,
    kept off the index by `|| ''`): the cost of the walk, however many sessions match. (Kept off
    an index: a term the planner cannot match against it, `|| ''` or `+ 0`.)"""
    by_ids = starting is not None and walk_from is None
    query = sa.select(*_columns)
    if namespace is not None:
        query = query.where(_e.c.namespace == namespace)
    if starting is not None:  # before the probe: SQLite tests the terms in the order given
        query = query.where(starting(_e.c.stream if by_ids else _e.c.stream.concat("")))
    query = query.where(_is_last)
    if walk_from is not None:
        query = query.where(_e.c.position >= walk_from)
    if after is not None:
        query = query.where((_e.c.position + 0 if by_ids else _e.c.position) < after)
    return query.order_by(_e.c.position.desc()).limit(limit)


def _walk_floor(connection: Connection, namespace: str | None, after: int | None, walk: int) -> int | None:
    """The position `walk` events back from `after` (None: fewer are left)."""
    query = sa.select(_e.c.position)
    if namespace is not None:
        query = query.where(_e.c.namespace == namespace)
    if after is not None:
        query = query.where(_e.c.position < after)
    query = query.order_by(_e.c.position.desc()).offset(walk - 1).limit(1)
    return connection.execute(query).scalar()


def _search(
    connection: Connection,
    namespace: str | None,
    after: int | None,
    limit: int,
    starting: StartsWith,
    walk: int,
) -> list[Any]:
    """A prefix search in two steps: a common prefix is found among the newest events at once;
    a rare one is asked of the index of session ids below them."""
    floor = _walk_floor(connection, namespace, after, walk)
    walked = sessions_query(namespace, after, limit, starting, walk_from=floor or 0)
    rows = list(connection.execute(walked).all())
    if len(rows) < limit and floor is not None:
        rows += connection.execute(sessions_query(namespace, floor, limit - len(rows), starting)).all()
    return rows


def sessions(
    connection: Connection,
    namespace: str | None,
    after: int | None,
    limit: int,
    starting: StartsWith | None = None,
    walk: int = SEARCH_WALK,
) -> SessionsPage:
    """One page of sessions, newest activity first; `after` is the previous page's `next_after`;
    `starting`: only sessions whose id passes this prefix test."""
    if starting is None:
        rows = connection.execute(sessions_query(namespace, after, limit)).all()
    else:
        rows = _search(connection, namespace, after, limit, starting, walk)
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
