"""Retention bases in a replay from the start: a session `keep_last` shortened has no events up to
its cut, so a rebuild starts it from the pinned snapshot there (specs/lifecycle.md, "Retention").

Before the first page, each such session's rows as of its cut are put in the target tables (each
projection says how: `Projection.seed_session`), then the kept events apply on top, as they did live.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.backends import Backend
from session_engine.engine.log.gaps import RETENTION_RUN, RETENTION_STREAM
from session_engine.engine.log.schema import events, snapshots
from session_engine.engine.projections.asof import SessionAsOf
from session_engine.engine.projections.base import Projection, ProjectionContext
from session_engine.engine.projections.snapshots import Snapshot, pinned_versions, stored

_e = events.c
_s = snapshots.c


def retention_bases(connection: Connection) -> list[Snapshot]:
    """The pinned snapshot at each shortened session's cut (its first kept version less one)."""
    found: list[Snapshot] = []
    pinned = (
        sa.select(_s.namespace, _s.stream).where(_s.pinned != 0).distinct().order_by(_s.namespace, _s.stream)
    )
    for namespace, stream in connection.execute(pinned).all():
        first = connection.execute(
            sa.select(sa.func.min(_e.version)).where(_e.namespace == namespace, _e.stream == stream)
        ).scalar()
        cut = 0 if first is None else int(first) - 1
        if cut <= 0 or cut not in pinned_versions(connection, namespace, stream):
            continue
        bases = [s for s in stored(connection, namespace, stream) if s.pinned and s.version == cut]
        found.append(bases[-1])
    return found


def recorded_digests(connection: Connection) -> dict[tuple[str, str, int], set[str]]:
    """The digests of the retention bases the log's `retention_run` events recorded (`bases`), by
    namespace, session and version: the chain vouches for them, so a base whose digest is not
    among its run's was changed or made up. Runs recorded before runs listed bases vouch for none."""
    runs = sa.select(_e.namespace, _e.data).where(_e.stream == RETENTION_STREAM, _e.type == RETENTION_RUN)
    found: dict[tuple[str, str, int], set[str]] = {}
    for namespace, data in connection.execute(runs).all():
        for entry in (data if isinstance(data, dict) else {}).get("bases") or []:
            if isinstance(entry, list) and len(entry) == 3:
                stream, version, digest = entry
                found.setdefault((namespace, str(stream), int(version)), set()).add(str(digest))
    return found


def seed(source: Connection, target: Connection, backend: Backend, projections: list[Projection]) -> int:
    """Put every shortened session's rows as of its cut in the projections' tables on `target`.
    Returns how many sessions were seeded."""
    bases = retention_bases(source)
    context = ProjectionContext(target, backend)
    for base in bases:
        with SessionAsOf(base.namespace, base.stream, [], projections, base=base.base) as state:
            for projection in projections:
                projection.seed_session(context, state.rows)
    context.flush()
    return len(bases)
