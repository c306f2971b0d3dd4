"""The streams catalog: one row per session stream, with its version and first/last activity.

It is the engine's own read model, and the reference projection: it overrides `apply` with a
batched form (one upsert per stream per batch) because it sees every event.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from engine.log.records import RecordedEvent
from engine.log.schema import Position, UtcDateTime, metadata
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


class StreamsCatalog(Projection):
    all_events = True
    def __init__(self) -> None:
        super().__init__("streams", [streams])

    def apply(self, context: ProjectionContext, events: Iterable[RecordedEvent]) -> None:
        first: dict[tuple[str, str], RecordedEvent] = {}
        last: dict[tuple[str, str], RecordedEvent] = {}
        for event in events:
            key = (event.namespace, event.stream)
            first.setdefault(key, event)
            last[key] = event
        if not last:
            return
        statement = context.upsert(streams, ["namespace", "stream"], ["version", "last_position", "updated_at"])
        for key, event in last.items():
            start = first[key]
            context.execute(
                statement,
                {
                    "namespace": event.namespace,
                    "stream": event.stream,
                    "version": event.version,
                    "first_position": start.position,
                    "last_position": event.position,
                    "created_at": start.recorded_at,
                    "updated_at": event.recorded_at,
                },
            )


catalog = StreamsCatalog()
