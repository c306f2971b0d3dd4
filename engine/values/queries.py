"""Read functions of the values domain: pure queries on a connection, judged at an instant `now`.

The service runs them against the live read model with the engine clock; `SessionAsOf.read`
runs them against a session as it was, so history and live reads share one definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.backends import SqliteBackend, driver
from session_engine.engine.log.schema import UtcDateTime, instant_from_stored
from session_engine.engine.values.parts import PART_PREFIX
from session_engine.engine.values.tables import value_entries, value_sessions

_s, _e = value_sessions.c, value_entries.c
_NS: sa.BindParameter[str] = sa.bindparam("ns")
_SID: sa.BindParameter[str] = sa.bindparam("sid")
_NOW: sa.BindParameter[datetime] = sa.bindparam("now", type_=UtcDateTime)
_its_entries = sa.and_(_e.namespace == _NS, _e.session_id == _SID)
_live = sa.or_(_e.expires_at.is_(None), _e.expires_at > _NOW)


@dataclass(frozen=True)
class StoredValue:
    key: str
    value: Any
    expires_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class SessionSummary:
    """One row of the session listing (`list_sessions`). `keys` are sorted."""

    session_id: str
    key_count: int
    keys: list[str]
    updated_at: datetime | None


@dataclass(frozen=True)
class ValueSession:
    """What kind of session this is and where it is in its lifetime."""

    session_id: str
    kind: str
    status: str
    client_id: str | None
    created_at: datetime
    updated_at: datetime | None


_get = sa.select(_e.value, _e.expires_at, _e.updated_at).where(
    _its_entries, _e.key == sa.bindparam("k"), _live
)
_get_all = sa.select(_e.key, _e.value).where(_its_entries, _live)
_parts = (
    sa.select(_e.value)
    .where(_its_entries, _live, _e.key.startswith(PART_PREFIX, autoescape=True))
    .order_by(_e.created_position)
)
_session = sa.select(value_sessions).where(_s.namespace == _NS, _s.session_id == _SID)
_holds_live_values = (
    sa.select(sa.literal(1))
    .where(_e.namespace == _s.namespace, _e.session_id == _s.session_id, _live)
    .exists()
)
_page_keys = sa.select(_e.session_id, _e.key).where(
    _e.namespace == _NS, _e.session_id.in_(sa.bindparam("sids", expanding=True)), _live
)


_GET_SQLITE = (
    "SELECT value, expires_at, updated_at FROM value_entries"
    " WHERE namespace = ? AND session_id = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)"
)


def get_value(
    connection: Connection, namespace: str, session_id: str, key: str, now: datetime
) -> StoredValue | None:
    if connection.dialect.name == "sqlite":
        # The server's hottest read: straight to the driver, one autocommit SELECT (its own
        # snapshot). Through SQLAlchemy (autobegin, BEGIN, bind and result processing, rollback)
        # it cost several times as much CPU: most of a get's time in the server.
        rows = driver.fetch_all(
            connection, _GET_SQLITE, (namespace, session_id, key, SqliteBackend.stored_instant(now))
        )
        if not rows:
            return None
        [(value, expires_at, updated_at)] = rows
        expiry = None if expires_at is None else instant_from_stored(expires_at)
        return StoredValue(key, orjson.loads(value), expiry, instant_from_stored(updated_at))
    row = connection.execute(_get, {"ns": namespace, "sid": session_id, "k": key, "now": now}).first()
    return None if row is None else StoredValue(key, row[0], row[1], row[2])


def get_all(connection: Connection, namespace: str, session_id: str, now: datetime) -> dict[str, Any]:
    """Every live value, in key order (code point order, the same on every backend)."""
    rows = connection.execute(_get_all, {"ns": namespace, "sid": session_id, "now": now}).all()
    return {key: value for key, value in sorted(rows, key=lambda row: row[0])}


_entries = (
    sa.select(_e.key, _e.value, _e.expires_at, _e.updated_at)
    .where(_its_entries)
    .order_by(_e.created_position)
)


def get_entries(connection: Connection, namespace: str, session_id: str) -> list[StoredValue]:
    """Every stored entry, expired ones too (expiry is a read-time question), in creation order:
    what audit and time travel show."""
    rows = connection.execute(_entries, {"ns": namespace, "sid": session_id}).all()
    return [StoredValue(key, value, expires_at, updated_at) for key, value, expires_at, updated_at in rows]


def get_parts(connection: Connection, namespace: str, session_id: str, now: datetime) -> list[dict[str, Any]]:
    """The live user parts in the order they were created (an overwrite keeps a part's place)."""
    rows = connection.execute(_parts, {"ns": namespace, "sid": session_id, "now": now}).scalars()
    return [value for value in rows if isinstance(value, dict)]


def list_sessions(
    connection: Connection,
    namespace: str,
    now: datetime,
    *,
    limit: int = 50,
    offset: int = 0,
    session_id: str | None = None,
) -> list[SessionSummary]:
    """Sessions holding at least one live value, most recently changed first, one page of them."""
    query = (
        sa.select(_s.session_id, _s.updated_at)
        .where(_s.namespace == _NS, _s.updated_position.is_not(None), _holds_live_values)
        .order_by(_s.updated_position.desc())
        .limit(limit)
        .offset(offset)
    )
    if session_id is not None:
        query = query.where(_s.session_id == session_id)
    page = connection.execute(query, {"ns": namespace, "now": now}).all()
    if not page:
        return []
    keys: dict[str, list[str]] = {sid: [] for sid, _ in page}
    for sid, key in connection.execute(_page_keys, {"ns": namespace, "sids": list(keys), "now": now}):
        keys[sid].append(key)
    return [SessionSummary(sid, len(keys[sid]), sorted(keys[sid]), updated_at) for sid, updated_at in page]


def session_info(connection: Connection, namespace: str, session_id: str) -> ValueSession | None:
    row = connection.execute(_session, {"ns": namespace, "sid": session_id}).mappings().first()
    if row is None:
        return None
    return ValueSession(
        row["session_id"], row["kind"], row["status"], row["client_id"], row["created_at"], row["updated_at"]
    )


def count_expired(connection: Connection, namespace: str, now: datetime) -> int:
    """How many expired values' rows a namespace holds (what a purge would remove): a scan."""
    query = sa.select(sa.func.count()).where(
        _e.namespace == namespace, _e.expires_at.is_not(None), _e.expires_at <= _NOW
    )
    return int(connection.execute(query, {"now": now}).scalar() or 0)


def sessions_with_expired(
    connection: Connection, namespace: str | None, now: datetime, limit: int
) -> list[tuple[str, str]]:
    """(namespace, session id) of up to `limit` sessions holding expired values' rows.

    A scan, stopping at `limit` sessions: an index of expiry instants would cost every write with
    a TTL (every websocket set) a moved index entry - a visible share of a set - for a query that runs
    every few minutes, off the write path, on a read connection."""
    query = sa.select(_e.namespace, _e.session_id).where(_e.expires_at.is_not(None), _e.expires_at <= _NOW)
    if namespace is not None:
        query = query.where(_e.namespace == namespace)
    rows = connection.execute(query.distinct().limit(limit), {"now": now})
    return [(row[0], row[1]) for row in rows]
