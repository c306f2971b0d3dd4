"""Storing and dropping snapshots (specs/audit.md, "Snapshots"): `Engine.take_snapshot`,
`drop_snapshots`, `flush_snapshots`, and the snapshots a read leaves behind.

Snapshots are written off the append path, on a writer connection and a thread of their own
(`SnapshotWriter`), in the order they were asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.backends import Backend
from session_engine.engine.clock import as_utc
from session_engine.engine.errors import NotFound
from session_engine.engine.facade.arguments import comparable
from session_engine.engine.inspect import travel
from session_engine.engine.log.bounds import check_integer
from session_engine.engine.projections import snapshots
from session_engine.engine.projections.snapshots import SnapshotInfo, Taken

if TYPE_CHECKING:
    from session_engine.engine.engine import Engine

log = logging.getLogger("session_engine")
T = TypeVar("T")


class SnapshotWriter:
    """One thread stores, drops and waits for snapshots in the order asked: a drop (erasure) runs
    after every store queued before it."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._writer: sa.Engine | None = None
        self._queue: ThreadPoolExecutor | None = None

    def _thread(self) -> ThreadPoolExecutor:
        if self._queue is None:
            self._queue = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshots")
        return self._queue

    async def run(self, function: Callable[[Connection], T]) -> T:
        """Run `function` on the snapshot thread, after everything queued before it; wait for it."""
        done = self._thread().submit(self._write, function)
        return await anyio.to_thread.run_sync(done.result)

    async def flush(self) -> None:
        """Wait until everything queued so far is done."""
        await self.run(lambda connection: None)

    def later(self, function: Callable[[Connection], Any]) -> None:
        """Queue `function` without waiting for it; a failure is logged, never raised."""
        self._thread().submit(self._write, function).add_done_callback(_warn_if_failed)

    def _write(self, function: Callable[[Connection], T]) -> T:
        """Snapshots are written on a connection of their own, never the committer's: off the
        append path (on SQLite they take the write lock for one short transaction)."""
        if self._writer is None:
            self._writer = self._backend.create_engine(writer=True)
        with self._writer.connect() as connection:
            return function(connection)

    def close(self) -> None:
        if self._queue is not None:
            self._queue.shutdown(wait=True)  # the snapshots reads left are stored
        if self._writer is not None:
            self._writer.dispose()


async def take(
    engine: Engine, namespace: str, stream: str, version: int | None, *, pinned: bool
) -> SnapshotInfo:
    """`Engine.take_snapshot`: fold the session to `version` and store that state."""
    comparable(namespace, stream)
    check_integer("version", version)
    point = version if version is not None else travel.LAST
    now = as_utc(engine.clock.now())
    projections = list(engine.projections)

    def fold(connection: Connection) -> travel.Travelled:
        plan = travel.plan(
            connection, engine.backend, engine.registry, projections, namespace, stream, [point]
        )
        travelled = travel.states_at(plan, namespace, stream, projections, [point], now, remember=True)
        [state] = travelled.states
        if state.version == 0 or (version is not None and state.version != version):
            raise NotFound(f"session {namespace}/{stream} has no event at version {version or 1}")
        kept = [t for t in travelled.taken if t.version == state.version]
        if not kept and plan.snapshot is not None:  # it came from a snapshot at that very version
            at = plan.snapshot
            kept = [
                Taken(at.version, at.position, at.recorded_at, at.base.tables, travel.encode_state(state))
            ]
        return travel.Travelled([state], kept)

    travelled = await engine.read(fold)
    [taken] = travelled.taken
    await keep(engine, namespace, stream, travelled.taken, pinned=pinned)
    return SnapshotInfo(namespace, stream, taken.version, taken.position, taken.recorded_at, pinned)


async def drop(engine: Engine, namespace: str, stream: str) -> int:
    """`Engine.drop_snapshots`: delete every snapshot of a session, pinned ones included."""
    comparable(namespace, stream)

    def drop_all(connection: Connection) -> int:
        with connection.begin():
            return snapshots.drop(connection, namespace, stream)

    return await engine._snapshots.run(drop_all)


async def keep(engine: Engine, namespace: str, stream: str, taken: list[Taken], *, pinned: bool) -> list[int]:
    """Store snapshots: a pinned one before answering; those a read left in the background, so
    the read does not wait for them (a cache: one not stored is only a later miss)."""
    now = as_utc(engine.clock.now())
    projections = list(engine.projections)

    def save(connection: Connection) -> list[int]:
        with connection.begin():
            return snapshots.save(connection, namespace, stream, projections, taken, pinned=pinned, now=now)

    if pinned:
        return await engine._snapshots.run(save)
    engine._snapshots.later(save)
    return []


def _warn_if_failed(stored: Future[Any]) -> None:
    error = stored.exception()
    if error is not None:  # a cache: the answer stood without it
        log.warning("a snapshot was not stored: %s", error)
