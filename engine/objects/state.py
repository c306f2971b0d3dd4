"""What every subdomain's decisions and reads share: the envelope lookup (a thread or graph is an
envelope first) and the engine's instant format."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

import sqlalchemy as sa

from session_engine.engine.clock import as_utc
from session_engine.engine.objects.envelopes.tables import session_objects as so
from session_engine.engine.objects.graphs.store import Run

if TYPE_CHECKING:
    from session_engine.engine.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class ObjectRow:
    namespace: str
    session_id: str
    alias: str
    object_id: int
    type: str
    value: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    position: int


_find = sa.select(
    so.c.namespace,
    so.c.session_id,
    so.c.alias,
    so.c.object_id,
    so.c.type,
    so.c.value,
    so.c.created_at,
    so.c.updated_at,
    so.c.position,
).where(
    so.c.namespace == sa.bindparam("ns"),
    so.c.session_id == sa.bindparam("sid"),
    so.c.alias == sa.bindparam("al"),
)


def find_object(run: Run, namespace: str, session_id: str, alias: str) -> ObjectRow | None:
    row: Any = run(_find, {"ns": namespace, "sid": session_id, "al": alias}).first()
    if row is None:
        return None
    # By position (the statement's columns are the row's fields, in order): a mapping of the row
    # and keyword arguments cost more than the rest of the lookup's Python.
    ns, sid, found_alias, object_id, type_, value, created_at, updated_at, position = row
    return ObjectRow(
        ns, sid, found_alias, object_id, type_, value, as_utc(created_at), as_utc(updated_at), position
    )


_decided: WeakKeyDictionary[UnitOfWork, dict[tuple[str, str, str], ObjectRow | None]] = WeakKeyDictionary()


def lookup(state: UnitOfWork, namespace: str, session_id: str, alias: str) -> ObjectRow | None:
    """`find_object` for handlers, remembered for the rest of the batch.

    A read flushes the batch's queued projection writes, so without this every thread post would
    send its inserts one by one. Only this domain's upload and delete change envelopes, and they
    call `forget` before their events are applied.
    """
    known = _decided.setdefault(state, {})
    key = (namespace, session_id, alias)
    if key not in known:
        known[key] = find_object(state.read, namespace, session_id, alias)
    return known[key]


def forget(state: UnitOfWork, namespace: str, session_id: str, alias: str) -> None:
    _decided.get(state, {}).pop((namespace, session_id, alias), None)


def iso(instant: datetime) -> str:
    """Document timestamps: ISO 8601, UTC, microseconds (`2026-06-06T10:00:00.000000+00:00`)."""
    if instant.tzinfo is not UTC:
        return as_utc(instant).isoformat(timespec="microseconds")
    # The engine's own instants (UTC): %-formatting their fields is a third cheaper than
    # `isoformat`'s keyword call, and a state read formats one per item, vertex and edge.
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00" % (  # noqa: UP031
        instant.year,
        instant.month,
        instant.day,
        instant.hour,
        instant.minute,
        instant.second,
        instant.microsecond,
    )
