"""Live rebuild: projections rebuilt from the log into a scratch copy while writers go on, then
swapped in under the log lock (specs/audit.md, "Live rebuild").

The long part - replaying the whole log - reads a snapshot and writes only the copy, so it holds
no lock a writer needs. Then the copy catches up with what was written meanwhile, a page at a time,
still without the lock. Where the backend can swap tables by renaming (`Scratch.shadows`: SQLite),
the copy's rows are then moved beside the live tables a batch per transaction, and only the last
tail and the renames run under the log lock. Elsewhere the last tail and the swap (the copy's rows
into the live tables, one statement per table) run under it. Either way in the writer's
transaction: readers see the old read models until it commits, and the new ones after.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.engine import Connection

from session_engine.engine.backends import Backend, Scratch
from session_engine.engine.backends.base import Shadows
from session_engine.engine.events import EventRegistry
from session_engine.engine.log import reads
from session_engine.engine.projections.base import Projection, ProjectionContext
from session_engine.engine.projections.rebuild import Progress, replay
from session_engine.engine.projections.registry import write_checkpoint

T = TypeVar("T")
CATCH_UP_ROUNDS = 8
"""Lock-free catch-up rounds at most: writers faster than the replay would otherwise keep it
chasing the head forever; after these the rest of the tail is replayed under the lock."""
LOCKED_TAIL = 1_000
"""A tail this short is left for the swap to replay under the lock: about one write batch's worth
(a longer one is caught up lock-free first, a page at a time)."""


@dataclass
class LiveRebuild:
    """What a live rebuild did: the position it covers, the events applied (for these projections),
    how many positions were caught up after the first pass, and how many under the log lock."""

    upto: int
    applied: int
    caught_up: int
    locked: int
    longest_hold: float = 0.0
    """The longest the rebuild held the writer in one transaction, in seconds (writers waited at
    most this long for it)."""


@dataclass
class Holds:
    """Times each transaction a rebuild runs on the writer connection."""

    longest: float = 0.0

    def timed(self, work: Callable[[Connection], T]) -> Callable[[Connection], T]:
        def run(connection: Connection) -> T:
            started = time.perf_counter()
            try:
                return work(connection)
            finally:
                self.longest = max(self.longest, time.perf_counter() - started)

        return run


def fill(
    source: Connection,
    scratch: Scratch,
    backend: Backend,
    registry: EventRegistry,
    projections: list[Projection],
    *,
    after: int,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Replay the log after `after` up to its head as `source` sees it into the copy, committed.
    Returns (the position covered, events applied)."""
    upto = reads.head(source)
    if upto <= after:
        return after, 0
    with scratch.connect() as target:
        applied = replay(
            source, target, backend, registry, projections, after=after, upto=upto, progress=progress
        )
    return upto, applied


def swap(
    connection: Connection,
    scratch: Scratch,
    backend: Backend,
    registry: EventRegistry,
    projections: list[Projection],
    *,
    after: int,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Under the log lock (the caller's writer transaction): replay the last tail into the copy,
    then replace the live tables' rows with the copy's and move the checkpoints. Returns (the
    position covered, events applied in the tail)."""
    upto, applied = _tail(connection, scratch, backend, registry, projections, after=after, progress=progress)

    def clear() -> None:
        context = ProjectionContext(connection, backend)
        for projection in reversed(projections):  # in the order `rebuild_in_place` empties them
            projection.clear(context)
        context.flush()

    scratch.copy_into(connection, [table for projection in projections for table in projection.tables], clear)
    for projection in projections:
        write_checkpoint(connection, projection, upto)
    return upto, applied


def rename(
    connection: Connection,
    scratch: Scratch,
    shadows: Shadows,
    backend: Backend,
    registry: EventRegistry,
    projections: list[Projection],
    *,
    after: int,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Under the log lock (the caller's writer transaction): replay the last tail into the copy,
    bring its changes over to the shadows, rename the shadows into the live tables' place and move
    the checkpoints. Returns (the position covered, events applied in the tail)."""
    upto, applied = _tail(connection, scratch, backend, registry, projections, after=after, progress=progress)
    while shadows.apply(connection):
        pass
    shadows.swap(connection)
    for projection in projections:
        write_checkpoint(connection, projection, upto)
    return upto, applied


def with_trigger_targets(
    connection: Connection, backend: Backend, every: list[Projection], chosen: list[Projection]
) -> list[Projection]:
    """`chosen` and the projections whose tables the triggers on theirs write (records' triggers
    keep the term index of objects): a rename swap replaces tables, not rows, so what those
    triggers would have made of the new rows is rebuilt with them. In registration order."""
    wanted = {projection.name for projection in chosen}
    while True:
        tables = [
            table.name for projection in every if projection.name in wanted for table in projection.tables
        ]
        targets = backend.trigger_targets(connection, tables)
        more = {p.name for p in every if p.name not in wanted and any(t.name in targets for t in p.tables)}
        if not more:
            return [projection for projection in every if projection.name in wanted]
        wanted |= more


def _tail(
    connection: Connection,
    scratch: Scratch,
    backend: Backend,
    registry: EventRegistry,
    projections: list[Projection],
    *,
    after: int,
    progress: Progress | None,
) -> tuple[int, int]:
    """Take the log lock, replay what the copy lacks into it. Returns (the head, events applied)."""
    upto = backend.lock_and_read_head(connection)
    applied = 0
    if upto > after:
        with scratch.connect() as target:
            applied = replay(
                connection, target, backend, registry, projections, after=after, upto=upto, progress=progress
            )
    return upto, applied
