"""The streams catalog, opt-in: one row per stream, with its version and first and last activity.

The reference projection for one that sees every event (`all_events`, replayed from headers
alone, written once per batch). It is not maintained by default: nothing the engine serves reads
it, and it cost an upsert per stream in every group commit. An application that wants it opens
the engine with `extra_domains=[catalog_domain]`; the engine then creates its table and builds it
from the log. The framework tests use it as their read model of plain events.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from session_engine.engine.log.reads import LogRows
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.log.schema import Position, UtcDateTime
from session_engine.engine.modules import Domain
from session_engine.engine.projections.base import Bulk, Projection, ProjectionContext

metadata = sa.MetaData()
"""Its own metadata: the table is created by the engine when the domain is enabled, not by migrations."""
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
)


_UPSERT = Bulk(
    streams,
    [c.name for c in streams.columns],
    key=["namespace", "stream"],
    update=["version", "last_position", "updated_at"],
)
"""One upsert per stream per batch: an executemany on SQLite, one statement over arrays on PostgreSQL
(row by row, each would be a round trip there)."""


class StreamsCatalog(Projection):
    all_events = True
    per_batch = True
    headers_only = True

    def __init__(self) -> None:
        super().__init__("streams", [streams])

    def apply(self, context: ProjectionContext, events: Iterable[RecordedEvent]) -> None:
        """One upsert per stream per batch (`Bulk`: driver SQL), because this runs for every event."""
        first: dict[tuple[str, str], RecordedEvent] = {}
        last: dict[tuple[str, str], RecordedEvent] = {}
        for event in events:
            key = (event.namespace, event.stream)
            first.setdefault(key, event)
            last[key] = event
        stored_instant = context.backend.stored_instant
        instants: dict[datetime, Any] = {}  # a batch's events share few instants: convert each once

        def stored(instant: datetime) -> Any:
            value = instants.get(instant)
            if value is None:
                value = instants[instant] = stored_instant(instant)
            return value

        rows = [
            (
                event.namespace,
                event.stream,
                event.version,
                first[key].position,
                event.position,
                stored(first[key].recorded_at),
                stored(event.recorded_at),
            )
            for key, event in last.items()
        ]
        _UPSERT.write(context, rows)

    def apply_page(self, context: ProjectionContext, page: LogRows) -> None:
        """`apply` from the headers alone (a replay): no payload is decoded, no event object built."""
        rows = page.rows
        last = {(row[1], row[2]): row for row in rows}
        first = {(row[1], row[2]): row for row in reversed(rows)}
        stored_instant = context.backend.stored_instant
        instants: dict[Any, Any] = {}  # recorded_at as the driver gave it -> as the catalog stores it

        def stored(raw: Any) -> Any:
            value = instants.get(raw)
            if value is None:
                value = instants[raw] = stored_instant(page.instant(raw))
            return value

        _UPSERT.write(
            context,
            [
                (namespace, stream, version, start[0], position, stored(start[8]), stored(end[8]))
                for key, end in last.items()
                for position, namespace, stream, version in (end[:4],)
                for start in (first[key],)
            ],
        )


catalog = StreamsCatalog()
catalog_domain = Domain("catalog", projections=[catalog])
