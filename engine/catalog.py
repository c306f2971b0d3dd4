"""The streams catalog: one row per session stream, with its version and first/last activity.

It is the engine's own read model, and the reference projection: it overrides `apply` with a
batched form (one upsert per stream per batch) because it sees every event.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from engine.log.records import RecordedEvent
from engine.log.schema import Position, UtcDateTime, metadata, stored_instant
from engine.projections.base import Projection, ProjectionContext

streams = sa.Table(
    "streams",
    metadata,
    sa.Column("namespace", sa.String(200), primary_key=True),
    sa.Column("stream", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("first_position", Position, nullable=False),
    sa.Column("last_position", Position, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ix_streams_namespace_updated", "namespace", "last_position"),
)


_UPSERT = (
    "INSERT INTO streams (namespace, stream, version, first_position, last_position, created_at, updated_at)"
    " VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT (namespace, stream) DO UPDATE SET"
    " version = excluded.version, last_position = excluded.last_position, updated_at = excluded.updated_at"
)
UPSERT = {"sqlite": _UPSERT.format(p="?"), "postgresql": _UPSERT.format(p="%s")}


class StreamsCatalog(Projection):
    all_events = True

    def __init__(self) -> None:
        super().__init__("streams", [streams])

    def apply(self, context: ProjectionContext, events: Iterable[RecordedEvent]) -> None:
        """One upsert per stream per batch; driver SQL, because this runs for every event appended."""
        first: dict[tuple[str, str], RecordedEvent] = {}
        last: dict[tuple[str, str], RecordedEvent] = {}
        for event in events:
            key = (event.namespace, event.stream)
            first.setdefault(key, event)
            last[key] = event
        dialect = context.dialect
        sql = UPSERT[dialect]
        for key, event in last.items():
            start = first[key]
            context.execute_sql(
                sql,
                (
                    event.namespace,
                    event.stream,
                    event.version,
                    start.position,
                    event.position,
                    stored_instant(start.recorded_at, dialect),
                    stored_instant(event.recorded_at, dialect),
                ),
            )


catalog = StreamsCatalog()
