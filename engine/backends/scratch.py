"""Where projection tables are made beyond the live database's metadata: each database's extra
DDL (`DialectDDL`), the scratch place a rebuild or a verification copies them into (`Scratch`),
and the shadows a live rebuild moves that copy into beside the live tables (`Shadows`).

Each backend makes its own (`Backend.scratch`, `Backend.run_ddl`); these are the shapes they share.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class DialectDDL:
    """Statements a projection's tables need beyond their metadata (full-text indexes, triggers),
    in each database's own SQL. PostgreSQL's are made for the schema they go to (None: the default
    one), since a trigger's body names its tables itself."""

    sqlite: Sequence[str] = ()
    postgresql: Callable[[str | None], Sequence[str]] | None = None


class Shadows(Protocol):
    """A live rebuild's copy moved beside the live tables a batch per transaction, then swapped in
    (`Scratch.shadows`). Each method but `track` is one transaction of the writer's (`copy` begins
    its own)."""

    def prepare(self, connection: Connection) -> None:
        """Create the empty shadows beside the live tables."""

    def track(self, scratch: Connection) -> None:
        """From now on, note the copy's changes (on the scratch's own connection)."""

    def copy(self, connection: Connection) -> bool:
        """Move a batch of the copy's rows in a transaction of its own (called outside one); False
        once every row is moved."""

    def apply(self, connection: Connection) -> bool:
        """Move a batch of the rows the copy changed since; False once none is left."""

    def swap(self, connection: Connection) -> None:
        """Put the shadows in the live tables' place, in one step whatever their size (under the
        log lock); the live tables' rows are left under other names for `discard`."""

    def discard(self, connection: Connection) -> bool:
        """Remove a batch of what a rebuild leaves (shadows before the swap, the replaced tables
        after it, an interrupted rebuild's either); False once nothing is left."""


class Scratch:
    """An empty place for a copy of projection tables (verification): a temporary SQLite file, or
    a PostgreSQL schema."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def for_ddl(self, connection: Connection) -> Connection:
        """The connection that creates the copy's tables (in the scratch schema, if any)."""
        return connection

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        """A transaction whose statements, driver SQL included, reach the copy."""
        with self.engine.begin() as connection:
            yield connection

    def shadows(self, tables: Sequence[str]) -> Shadows | None:
        """Where the copy of `tables` lives apart from the live database's file (SQLite): how it is
        moved beside the live tables a batch at a time and swapped in by renaming. None: the copy's
        tables can be renamed into place as they are (`swap_into`)."""
        return None

    def analyze(self) -> None:
        """Give the copy's tables planner statistics before they go live (they keep them)."""

    def refuse_unswappable(self, connection: Connection, tables: Sequence[str]) -> None:
        """Raise `ValueError` if something of the live database would stop the copy of `tables`
        from being swapped in; before a live rebuild replays the log, so that a refusal comes
        before the work, not after it. Nothing stops a swap unless a backend says so."""

    def swap_into(self, connection: Connection, tables: Sequence[str]) -> None:
        """Put the copy's `tables` in the live ones' place by renaming, inside the caller's
        transaction (under the log lock); the live tables are dropped."""
        raise NotImplementedError(f"{type(self).__name__} swaps through `shadows`")
