"""Live rebuild: projections rebuilt from the log into a scratch copy while writers go on, then
swapped in under the log lock (specs/audit.md, "Live rebuild").

The long part - replaying the whole log - reads a snapshot and writes only the copy, so it holds
no lock a writer needs. Then the copy catches up with what was written meanwhile, a page at a time,
still without the lock. Only the last tail (at most about one page of events) and the swap (the
copy's rows into the live tables, one statement per table) run under the log lock, in the writer's
transaction: readers see the old read models until it commits, and the new ones after.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from session_engine.engine.backends import Backend, Scratch
from session_engine.engine.events import EventRegistry
from session_engine.engine.log import reads
from session_engine.engine.projections.base import Projection, ProjectionContext
from session_engine.engine.projections.rebuild import Progress, replay
from session_engine.engine.projections.registry import write_checkpoint

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
    upto = backend.lock_and_read_head(connection)
    applied = 0
    if upto > after:
        with scratch.connect() as target:
            applied = replay(
                connection, target, backend, registry, projections, after=after, upto=upto, progress=progress
            )

    def clear() -> None:
        context = ProjectionContext(connection, backend)
        for projection in reversed(projections):  # in the order `rebuild_in_place` empties them
            projection.clear(context)
        context.flush()

    scratch.copy_into(connection, [table for projection in projections for table in projection.tables], clear)
    for projection in projections:
        write_checkpoint(connection, projection, upto)
    return upto, applied
