"""The set of projections an engine maintains, and their checkpoints."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.backends import Backend, Prepared
from session_engine.engine.backends.prepared import DriverStatement
from session_engine.engine.errors import ValidationFailed
from session_engine.engine.log import reads
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.log.schema import checkpoints
from session_engine.engine.projections.base import Projection, ProjectionContext


class ProjectionSet:
    def __init__(self, projections: Iterable[Projection] = ()) -> None:
        self._projections: list[Projection] = []
        self._dispatch: dict[bool, _Dispatch] = {}
        for projection in projections:
            self.add(projection)

    def add(self, projection: Projection) -> None:
        if any(p.name == projection.name for p in self._projections):
            raise ValueError(f"projection {projection.name!r} registered twice")
        self._projections.append(projection)
        self._dispatch.clear()

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._projections)

    def __len__(self) -> int:
        return len(self._projections)

    def named(self, names: Iterable[str] | None) -> list[Projection]:
        """The projections named, with those they depend on (and theirs), in registration order."""
        if names is None:
            return list(self._projections)
        wanted = set(names)
        unknown = wanted - {p.name for p in self._projections}
        if unknown:
            known = ", ".join(p.name for p in self._projections)
            raise ValidationFailed(f"unknown projections: {', '.join(sorted(unknown))} (known: {known})")
        by_name = {p.name: p for p in self._projections}
        pending = list(wanted)
        while pending:
            for name in by_name[pending.pop()].depends_on:
                if name in by_name and name not in wanted:
                    wanted.add(name)
                    pending.append(name)
        return [p for p in self._projections if p.name in wanted]

    @property
    def tables(self) -> list[sa.Table]:
        return [table for projection in self._projections for table in projection.tables]

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset().union(*(p.event_types for p in self._projections))

    def apply(self, context: ProjectionContext, events: Sequence[RecordedEvent]) -> None:
        """Apply events to every projection (rebuilds and scratch copies)."""
        for projection in self._projections:
            projection.apply(context, events)

    def apply_per_command(self, context: ProjectionContext, events: Sequence[RecordedEvent]) -> bool:
        """After each command of a batch: the projections that later commands may read.

        Stream-local projections are left out; True when one of them handles these events, which
        the caller then gives to `apply_deferred` in time (see `Projection.stream_local`)."""
        table = self._dispatch.get(False) or self._table(per_batch=False)  # once per command: no kw call
        immediate, deferred = table.route(events)
        for projection in immediate:
            projection.apply(context, events)
        return bool(deferred)

    def apply_deferred(self, context: ProjectionContext, events: Sequence[RecordedEvent]) -> None:
        """The stream-local projections, for the events of several commands at once."""
        table = self._table(per_batch=False)
        for projection in table.interested(events, table.deferred):
            projection.apply(context, events)

    def apply_per_batch(self, context: ProjectionContext, events: Sequence[RecordedEvent]) -> None:
        """Once per batch, before commit: the projections no command reads."""
        table = self._table(per_batch=True)
        for projection in table.interested(events, table.immediate):
            projection.apply(context, events)

    def _table(self, *, per_batch: bool) -> _Dispatch:
        table = self._dispatch.get(per_batch)
        if table is None:
            table = self._dispatch[per_batch] = _Dispatch(
                [p for p in self._projections if p.per_batch == per_batch]
            )
        return table


_MAX_TYPES = 10_000


class _Dispatch:
    """Which of the write path's projections handle each event type (those that see every event
    included), split into those applied right away and the stream-local ones, which wait.

    A batch form of `apply` may cost something even for events it ignores (setting up its batch),
    so the write path calls a projection only for events it handles. Looked up by event type: most
    commands carry one event, of a type one projection (or none) handles.
    """

    def __init__(self, projections: list[Projection]) -> None:
        self.immediate = tuple(p for p in projections if not p.stream_local)
        self.deferred = tuple(p for p in projections if p.stream_local)
        self._by_type: dict[str, tuple[tuple[Projection, ...], tuple[Projection, ...]]] = {}

    def route(self, events: Sequence[RecordedEvent]) -> tuple[tuple[Projection, ...], tuple[Projection, ...]]:
        """Those that handle any of `events`: (immediate, deferred)."""
        if len(events) == 1:
            found = self._by_type.get(events[0].type)
            return found if found is not None else self._for_type(events[0].type)
        return self.interested(events, self.immediate), self.interested(events, self.deferred)

    def interested(
        self, events: Sequence[RecordedEvent], among: tuple[Projection, ...]
    ) -> tuple[Projection, ...]:
        """Those of `among` (`immediate` or `deferred`) that handle any of `events`, in order."""
        if not among:  # no projection of this kind at all: skip looking at every event
            return ()
        side = 0 if among is self.immediate else 1
        if len(events) == 1:
            return self._for_type(events[0].type)[side]
        wanted = {p for event in events for p in self._for_type(event.type)[side]}
        return tuple(p for p in among if p in wanted)

    def _for_type(self, event_type: str) -> tuple[tuple[Projection, ...], tuple[Projection, ...]]:
        found = self._by_type.get(event_type)
        if found is None:
            if len(self._by_type) >= _MAX_TYPES:  # event types are the appender's choice: stay bounded
                self._by_type.clear()
            found = self._by_type[event_type] = (
                tuple(p for p in self.immediate if p.all_events or event_type in p.event_types),
                tuple(p for p in self.deferred if p.all_events or event_type in p.event_types),
            )
        return found


LEVEL_WITH_HEAD = -1
"""A checkpoint's position meaning "level with the log's head": the projection is applied in the
same transaction as every event, by every writer that appends (`CheckpointAdvance`). Set once, it
needs no write per batch; a concrete position is one some writer or rebuild left behind."""


def read_checkpoints(connection: Connection) -> dict[str, tuple[int, int]]:
    """name -> (position, version) of every projection that has a checkpoint; one level with the
    head (`LEVEL_WITH_HEAD`) at the head as this connection sees it."""
    rows = connection.execute(
        sa.select(checkpoints.c.name, checkpoints.c.position, checkpoints.c.version)
    ).all()
    head = reads.head(connection) if any(row[1] == LEVEL_WITH_HEAD for row in rows) else 0
    return {
        name: (head if position == LEVEL_WITH_HEAD else int(position), int(version))
        for name, position, version in rows
    }


def pin_level_checkpoints(connection: Connection, position: int) -> None:
    """Give every checkpoint that follows the head the concrete `position`: before a write that
    applies no projection to its events (an import), so none claims events it has not seen."""
    connection.execute(
        checkpoints.update().where(checkpoints.c.position == LEVEL_WITH_HEAD).values(position=position)
    )


def write_checkpoint(connection: Connection, projection: Projection, position: int) -> None:
    updated = connection.execute(
        checkpoints.update()
        .where(checkpoints.c.name == projection.name)
        .values(position=position, version=projection.version)
    )
    if updated.rowcount == 0:
        connection.execute(
            checkpoints.insert().values(name=projection.name, position=position, version=projection.version)
        )


class CheckpointAdvance:
    """Keeps the checkpoints right as a batch appends: once per batch, on the write path.

    This writer's projections are applied in the batch's transaction, so their checkpoints follow
    the head (`LEVEL_WITH_HEAD`): one written at a concrete position (by a rebuild, an import or a
    writer of an older version) is set to follow it. A checkpoint following the head of a projection
    this writer does not maintain (another process's domain) is pinned at the position before the
    batch, which that projection has not seen. Both are rare: in the usual batch the UPDATE matches
    no row and dirties no page, where moving every checkpoint to the head rewrote the checkpoints'
    page in every commit (one WAL frame of a lone append's four on SQLite).

    A Core statement compiled once per engine and run on the driver: executing it through
    SQLAlchemy cost many times the UPDATE itself.
    """

    def __init__(self, projections: Iterable[Projection], backend: Backend) -> None:
        names = [projection.name for projection in projections]
        self._backend = backend
        name, position = checkpoints.c.name, checkpoints.c.position
        level: sa.ColumnElement[int] = sa.literal_column(str(LEVEL_WITH_HEAD))
        if names:

            def ours() -> sa.ColumnElement[bool]:
                # Equalities, not IN: SQLite builds a temporary index for an IN list of three or
                # more values in every execution (5 µs of this statement, 30 µs with three INs).
                return sa.or_(*(name == sa.bindparam(None, value, type_=name.type) for value in names))

            update = (
                checkpoints.update()
                .where(sa.case((ours(), position != level), else_=position == level))
                .values(position=sa.case((ours(), level), else_=sa.bindparam("before", type_=position.type)))
            )
        else:
            update = (
                checkpoints.update()
                .where(position == level)
                .values(position=sa.bindparam("before", type_=position.type))
            )
        self._statement: DriverStatement = backend.compile(Prepared(update))

    def __call__(self, connection: Connection, before: int) -> None:
        """`before`: the head before the batch's events."""
        statement = self._statement
        self._backend.execute(connection, statement.sql, statement.parameters({"before": before}))
