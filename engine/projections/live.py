"""Live rebuild: projections rebuilt from the log into a scratch copy while writers go on, then
swapped in under the log lock (specs/audit.md, "Live rebuild").

The long part - replaying the whole log - reads a snapshot and writes only the copy, so it holds
no lock a writer needs. Then the copy catches up with what was written meanwhile, a page at a time,
still without the lock. Where the copy is in another file (`Scratch.shadows`: SQLite), its rows
are then moved beside the live tables a batch per transaction. Only the last tail and the swap -
the tables' pages exchanged in the schema (SQLite) or the tables moved between schemas
(PostgreSQL), no rows copied - run under the log lock, in the writer's transaction: readers see
the old read models until it commits, and the new ones after.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.engine import Connection

from session_engine.engine.backends import Backend, Scratch
from session_engine.engine.backends.scratch import Shadows
from session_engine.engine.events import EventRegistry
from session_engine.engine.log import reads
from session_engine.engine.projections.base import Projection
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
    projections: list[str]
    """The projections rebuilt: those asked for, and those they depend on (`depends_on`)."""
    longest_hold: float = 0.0
    """The longest the rebuild held the writer in one transaction, its COMMIT included, in seconds
    (writers waited at most this long for it)."""
    longest_drop: float = 0.0
    """Of those, the longest that removed leftovers (SQLite: the replaced tables, a batch of rows
    at a time), in seconds; 0 where there are none (PostgreSQL drops its replaced tables in the swap)."""


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


@dataclass(frozen=True)
class Copy:
    """A live rebuild's scratch copy of `projections`, and what replays into it needs."""

    scratch: Scratch
    backend: Backend
    registry: EventRegistry
    projections: list[Projection]
    progress: Progress | None = None
    full_text: bool = True
    """False where the copy goes live through shadows (`Scratch.shadows`), which fill their own
    full-text indexes: the copy's are never read (`DerivedIndex.full_text`)."""

    def fill(self, source: Connection, *, after: int) -> tuple[int, int]:
        """Replay the log after `after` up to its head as `source` sees it into the copy, committed.
        Returns (the position covered, events applied)."""
        return self._replay(source, after, reads.head(source))

    def swap(self, connection: Connection, *, after: int) -> tuple[int, int]:
        """Under the log lock (the caller's writer transaction): replay the last tail into the copy,
        rename its tables into the live ones' place and move the checkpoints. Returns (the
        position covered, events applied in the tail)."""
        upto, applied = self._tail(connection, after)
        self.scratch.swap_into(connection, [table.name for p in self.projections for table in p.tables])
        self._move_checkpoints(connection, upto)
        return upto, applied

    def rename(self, connection: Connection, shadows: Shadows, *, after: int) -> tuple[int, int]:
        """Under the log lock (the caller's writer transaction): replay the last tail into the copy,
        bring its changes over to the shadows, swap the shadows into the live tables' place and
        move the checkpoints. Returns (the position covered, events applied in the tail)."""
        upto, applied = self._tail(connection, after)
        while shadows.apply(connection):
            pass
        shadows.swap(connection)
        self._move_checkpoints(connection, upto)
        return upto, applied

    def _tail(self, connection: Connection, after: int) -> tuple[int, int]:
        """Take the log lock, replay what the copy lacks into it. Returns (the head, events applied)."""
        return self._replay(connection, after, self.backend.lock_and_read_head(connection))

    def _replay(self, source: Connection, after: int, upto: int) -> tuple[int, int]:
        if upto <= after:
            return after, 0
        with self.scratch.connect() as target:
            applied = replay(
                source,
                target,
                self.backend,
                self.registry,
                self.projections,
                after=after,
                upto=upto,
                progress=self.progress,
                full_text=self.full_text,
            )
        return upto, applied

    def _move_checkpoints(self, connection: Connection, upto: int) -> None:
        for projection in self.projections:
            write_checkpoint(connection, projection, upto)
