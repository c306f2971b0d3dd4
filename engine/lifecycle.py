"""Deletes that stay deleted: which events delete a session, which bring it back, and the one read
that tells whether a stream is deleted now (`specs/lifecycle.md`).

The rule is applied in one place, `UnitOfWork.record`: events for a deleted session are refused
unless they recreate it, whichever command, domain or adapter decided them. A session is its
stream (namespace = tenant, stream = session id), shared by every domain.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.log.records import NewEvent
from session_engine.engine.log.schema import events
from session_engine.engine.log.sealing import SESSION_ERASED

SESSION_RECREATED = "session_recreated"
"""The core event a command with `recreate=True` records first when its session was deleted."""

SESSION_EXPIRED = "session_expired"
"""The event retention leaves in a session's stream when it removes the session's events and rows
(engine/retention): the only event left there; the session stays deleted."""

DELETES = frozenset({"session_record_deleted", SESSION_ERASED, SESSION_EXPIRED})
"""Event types that delete the session: the records domain's `delete` (the session's record is
what every protocol names the session by), erasure (`engine/erasure.py`), and retention's removal
of the whole session."""

RECREATES = frozenset({SESSION_RECREATED, "session_record_set"})
"""Event types that bring a deleted session back: the explicit recreate, and a records `set`
(its protocols' create: a `set` after a delete makes a fresh record)."""

REMOVES = frozenset(
    {
        "value_deleted",
        "values_cleared",
        "user_parts_cleared",
        "values_expired",
        "connection_session_disconnected",
        "connection_session_ended",
        "objects.object_deleted",
    }
)
"""Event types that only take something away: recorded in a deleted session too (removing what a
deleted session still holds, or its connection going away, brings nothing back)."""

_MARKS = sorted(DELETES | RECREATES)
_last_mark = (
    sa.select(events.c.type)
    .where(
        events.c.namespace == sa.bindparam("ns"),
        events.c.stream == sa.bindparam("stream"),
        events.c.type.in_(_MARKS),
    )
    .order_by(events.c.version.desc())
    .limit(1)
)


def deleted_after(deleted: bool, event_types: list[str]) -> bool:
    """Whether the session is deleted once events of these types are recorded in its stream."""
    for event_type in event_types:
        if event_type in DELETES:
            deleted = True
        elif event_type in RECREATES:
            deleted = False
    return deleted


def allowed_when_deleted(event_types: list[str]) -> bool:
    """Whether these events may be recorded in a deleted session without a `session_recreated`."""
    return event_types[0] in RECREATES or all(t in DELETES or t in REMOVES for t in event_types)


def is_deleted(connection: Connection, namespace: str, stream: str) -> bool:
    """Whether the stream's last deleting or recreating event deletes it (read once per stream and
    cached by the committer, like its version)."""
    last = connection.execute(_last_mark, {"ns": namespace, "stream": stream}).scalar()
    return last in DELETES


def recreated() -> NewEvent:
    return NewEvent(type=SESSION_RECREATED, data={})
