"""A session's state at its head, read off the live read models instead of folded from the log.

The head (the session's last event) is what most callers ask for, and the live read models already
hold it: every projection is applied in the transaction that appends the events, and its checkpoint
moves there too. So, inside one read snapshot, when every projection's checkpoint is at the log's
head and of today's version, the live rows of a session are exactly what folding its events gives,
and reading them through the domains' reads (`engine.inspect.state.read_state`) is the same answer
as the fold, without it. Where that cannot be known the fold answers (`specs/audit.md`, "The head
from the live read models"):
- a projection's checkpoint behind the log or of another version (a catch-up or a rebuild of a new
  version pending, or another process's projections);
- a session whose first events were deleted (retention): its state there comes from a pinned base;
- a session erased (its keys destroyed, its rows gone while its plaintext events, if any, remain).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.backends import Backend, Prepared
from session_engine.engine.inspect import kept
from session_engine.engine.inspect.state import SessionState, read_state
from session_engine.engine.log.schema import checkpoints, events, session_keys
from session_engine.engine.projections.base import Projection
from session_engine.engine.projections.registry import LEVEL_WITH_HEAD

T = TypeVar("T")

_e, _k = events.c, session_keys.c
_here = sa.and_(_e.namespace == sa.bindparam("ns"), _e.stream == sa.bindparam("stream"))
_session_head = Prepared(
    sa.select(
        _e.version,
        _e.position,
        _e.recorded_at,
        _e.hash,
        sa.select(sa.func.max(events.c.position)).scalar_subquery(),
        sa.exists().where(_here, _e.version == 1),
        sa.exists().where(
            _k.namespace == sa.bindparam("ns"), _k.stream == sa.bindparam("stream"), _k.erased_at.is_not(None)
        ),
    )
    .where(_here)
    .order_by(_e.version.desc())
    .limit(1)
)
"""The session's last event, the log's head, whether the session's first event is still in the
log, and whether it was ever erased: one indexed read."""
_checkpoints = Prepared(sa.select(checkpoints.c.name, checkpoints.c.position, checkpoints.c.version))


@dataclass(frozen=True)
class LiveSession:
    """One session on the live read models, as of its last event (what `read_state` reads)."""

    connection: Connection
    namespace: str
    stream: str
    version: int
    position: int
    at: datetime
    hash: bytes
    """The chain hash of the session's last event: it stands for every event of the log up to it."""

    def read(self, function: Callable[[Connection], T]) -> T:
        return function(self.connection)


def live_session(
    connection: Connection, backend: Backend, projections: Sequence[Projection], namespace: str, stream: str
) -> LiveSession | None:
    """The session at its head on the live read models, when they hold exactly its folded state
    there; None when the fold must answer. Call it inside the read's transaction (one snapshot)."""
    found = backend.rows(connection, _session_head, {"ns": namespace, "stream": stream})
    if not found:
        return None
    version, position, at, chained, log_head, whole, erased = found[0]
    if not whole or erased:
        return None
    level = {
        name: (int(log_head if at_position == LEVEL_WITH_HEAD else at_position), int(at_version))
        for name, at_position, at_version in backend.rows(connection, _checkpoints)
    }
    if any(level.get(p.name) != (int(log_head), p.version) for p in projections):
        return None
    return LiveSession(connection, namespace, stream, int(version), int(position), at, bytes(chained or b""))


def reaches(session: LiveSession, point: int | datetime, to_position: int | None) -> bool:
    """Whether a point (and a position cut-off) takes the session to its head."""
    if to_position is not None and to_position < session.position:
        return False
    if isinstance(point, datetime):
        return point >= session.at
    return point >= session.version


def state_at_head(session: LiveSession, point: int | datetime) -> SessionState:
    """The state at the head; expiry judged at the point's instant, else at the last event's time,
    as the fold judges it.

    A head read again (no event since, the same instant) is a copy of the state kept the first time
    (`engine.inspect.kept`) instead of read through the domains' reads again: the key holds the
    head event's chain hash, which covers every event of the log up to it, so a kept state is the
    state of exactly those events; `live_session` has checked, in this read, that the session is
    still not erased and the read models still level with the log."""
    as_of = point if isinstance(point, datetime) else session.at
    if not session.hash:
        return read_state(session, as_of)
    key = ("head", session.namespace, session.stream, session.version, session.position, session.hash, as_of)
    return kept.state(key, lambda: read_state(session, as_of))
