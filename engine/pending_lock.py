"""A batch that begins before it holds the log lock (`Backend.defers_log_lock`: PostgreSQL).

When this process appended the last event it knows the head, the streams' versions and the chain's
last hash, so a batch whose commands decide from those alone needs the database only to write:
BEGIN, the lock, a check that the head is still the one it knows (`Backend.expect_head`), the
writes and the COMMIT go out in one round trip. Nothing is read or written outside the lock: the
batch's first statement of any kind takes it first, a read in that read's own round trip. Should
the head have moved (another process appended), `HeadMoved` stops the batch before anything of it
is written, and the committer runs it again the usual way (`engine/writes.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.engine import Connection

from session_engine.engine.backends import Backend
from session_engine.engine.backends.prepared import DriverStatement
from session_engine.engine.projections.base import ProjectionContext

if TYPE_CHECKING:
    from session_engine.engine.stream_versions import BatchReads


class PendingLock:
    """The log lock a batch has yet to take, and the head it expects to find under it."""

    __slots__ = ("_backend", "_connection", "head")

    def __init__(self, backend: Backend, connection: Connection, head: int) -> None:
        self._backend = backend
        self._connection = connection
        self.head = head

    def take(self, reads: BatchReads | None = None) -> None:
        """Before the batch's first statement that is not a read (`take_reading`): in the pipeline
        of the batch's writes when one is open, else in a round trip of its own; with the checks
        of the reads `reads` answered from kept rows (engine/stream_versions.py)."""
        backend, connection = self._backend, self._connection
        if reads is None or not reads.unchecked:
            backend.expect_head(connection, self.head)
            return
        with backend.pipeline(connection):  # the checks right after the head's, in its round trip
            backend.expect_head(connection, self.head)
            reads.check(connection)

    def take_reading(
        self, statement: DriverStatement, params: Mapping[str, Any], reads: BatchReads | None = None
    ) -> list[Any]:
        """With the batch's first read, in its round trip: that read's rows."""
        if reads is not None and reads.unchecked:  # rare: a batch that read kept rows, wrote nothing
            self.take(reads)
            return statement.fetch(self._connection, params)
        return self._backend.read_expecting_head(self._connection, self.head, statement, params)


class _Unit(Protocol):
    @property
    def connection(self) -> Connection: ...


class LockingContext(ProjectionContext):
    """A batch's projection context whose first statement takes the batch's pending log lock: its
    connection is the unit of work's, whose `connection` takes the lock if it is still pending."""

    def __init__(self, unit: _Unit, backend: Backend) -> None:
        self._unit = unit
        super().__init__(_UNSET, backend)

    @property  # type: ignore[override]
    def connection(self) -> Connection:
        return self._unit.connection

    @connection.setter
    def connection(self, value: Connection) -> None:
        """Set by `ProjectionContext.__init__`: the unit's connection is the one used."""


_UNSET: Any = None
