"""A session as it was at a cut-off, read by every domain's own read functions.

`Engine.session_snapshot` builds the session's read models as of a version, a position or an
instant (`SessionAsOf`) and reads them as the live engine would: the values live at the cut-off,
the user parts, the objects, and every read model's rows. Audit and time-travel views (REST
`/api/sessions/{id}/state`) render it; they need no engine internals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from session_engine.engine.objects.envelopes import queries as envelope_reads
from session_engine.engine.projections.asof import SessionAsOf
from session_engine.engine.values import queries


@dataclass(frozen=True)
class SessionSnapshot:
    namespace: str
    stream: str
    version: int
    """The last event applied (0: none)."""
    position: int
    recorded_at: datetime | None
    """When the last event applied was recorded (None: no event)."""
    values: dict[str, Any]
    """The values live at the cut-off instant, in key order."""
    user_parts: list[dict[str, Any]]
    objects: list[dict[str, Any]]
    """The session's objects in alias order: `{alias, type, updated_at}`."""
    tables: dict[str, list[dict[str, Any]]]
    """Every read model's rows for the session, by table."""


def snapshot_of(state: SessionAsOf, cutoff: datetime, objects_limit: int) -> SessionSnapshot:
    """Read a session's state; expiry is judged at `cutoff`."""
    ns, stream = state.namespace, state.stream
    return SessionSnapshot(
        namespace=ns,
        stream=stream,
        version=state.version,
        position=state.position,
        recorded_at=state.at,
        values=state.read(lambda c: queries.get_all(c, ns, stream, cutoff)),
        user_parts=state.read(lambda c: queries.get_parts(c, ns, stream, cutoff)),
        objects=state.read(lambda c: envelope_reads.list_objects(c, ns, stream, limit=objects_limit))[
            "objects"
        ],
        tables=state.tables,
    )
