"""The write path: the group committer that feeds batches of commands to a unit of work each.

command -> decide (from current state) -> append (expected version) -> apply inline projections
-> commit -> acknowledge and publish.

All commands of one engine go through one committer task. It takes every command that is
waiting, runs them one after another inside one transaction on a worker thread (so commands on one
session never interleave their decisions, and each sees the effects of those before it), commits
once - one fsync for the whole batch - and only then acknowledges them. While a batch commits, the
next one gathers. A command that is refused (an `EngineError`) has written nothing; a command that
crashes makes the batch roll back and run again without it, so it fails alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import anyio
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.clock import Clock, as_utc
from engine.commands import Command, CommandHandlers, Outcome
from engine.errors import CommandFailed, EngineClosed, EngineError
from engine.events import EventRegistry
from engine.log import reads
from engine.log.backend import Backend
from engine.log.records import AppendResult, RecordedEvent
from engine.projections.registry import CheckpointAdvance, ProjectionSet
from engine.unit_of_work import HalfWritten, StreamVersions, UnitOfWork

log = logging.getLogger("session_engine.writes")
T = TypeVar("T")


@dataclass(eq=False)
class _Pending:
    command: Command
    outcome: Outcome[Any] | None = None
    error: BaseException | None = None

    def reset(self) -> None:
        self.outcome = None
        self.error = None


class _Crashed(Exception):
    def __init__(self, pending: _Pending, cause: BaseException) -> None:
        self.pending = pending
        self.cause = cause


class Committer:
    """Runs every command of one engine, in batches that share a transaction and an fsync."""

    def __init__(
        self,
        backend: Backend,
        writer: sa.Engine,
        registry: EventRegistry,
        projections: ProjectionSet,
        handlers: CommandHandlers,
        clock: Clock,
        on_commit: Callable[[list[RecordedEvent]], None],
        *,
        max_batch: int = 1000,
    ) -> None:
        self._backend = backend
        self._writer = writer
        self._registry = registry
        self._projections = projections
        self._handlers = handlers
        self._clock = clock
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._queue: list[_Pending] = []
        self._batch_done = anyio.Event()
        self._wakeup = anyio.Event()
        self._closing = False
        self._stopped = anyio.Event()
        self._versions = StreamVersions()
        self._known_head: int | None = None
        self._last_recorded_at: datetime | None = None
        self._thread = anyio.CapacityLimiter(1)
        self._held: Connection | None = None
        self._advance = CheckpointAdvance(projections, backend.name)
        self.batches = 0
        self.commands = 0
        self.committing = 0
        """The head this process is committing or has committed: NOTIFYs up to it are its own."""

    async def execute(self, command: Command) -> Outcome[Any]:
        if self._closing:
            raise EngineClosed("the engine is closing; no new writes are accepted")
        pending = _Pending(command)
        self._queue.append(pending)
        # Every command queued until the committer takes the queue shares one "done" event:
        # one event per batch, not per command (creating them was a measurable share of a write).
        done = self._batch_done
        self._wakeup.set()
        await done.wait()
        if pending.error is not None:
            raise pending.error
        assert pending.outcome is not None
        return pending.outcome

    async def run(self) -> None:
        """The committer loop. Returns once `close` was called and every queued command has finished."""
        try:
            while True:
                if not self._queue:
                    if self._closing:
                        return
                    self._wakeup = anyio.Event()
                    await self._wakeup.wait()
                    continue
                taken, self._queue = self._queue, []
                done, self._batch_done = self._batch_done, anyio.Event()
                with anyio.CancelScope(shield=True):
                    for start in range(0, len(taken), self._max_batch):
                        batch = taken[start : start + self._max_batch]
                        recorded = await anyio.to_thread.run_sync(self._commit, batch, limiter=self._thread)
                        self.batches += 1
                        self.commands += len(batch)
                        if recorded:
                            self._on_commit(recorded)
                    done.set()
        finally:
            self._fail_queued(EngineClosed("the engine closed before this command ran"))
            self.release_connection()
            self._stopped.set()

    async def close(self) -> None:
        self._closing = True
        self._wakeup.set()
        await self._stopped.wait()

    def _fail_queued(self, error: EngineError) -> None:
        for pending in self._queue:
            pending.error = error
        self._queue = []
        self._batch_done.set()

    # -- on the worker thread --------------------------------------------------------------
    def _commit(self, batch: list[_Pending]) -> list[RecordedEvent]:
        remaining = batch
        while remaining:
            try:
                return self._attempt(remaining)
            except _Crashed as crash:
                log.error("command %s crashed", type(crash.pending.command).__name__, exc_info=crash.cause)
                crash.pending.error = CommandFailed(
                    f"{type(crash.pending.command).__name__} failed inside the engine; nothing was written"
                )
                remaining = [p for p in remaining if p is not crash.pending]
            except sa.exc.DBAPIError as error:
                self.forget_state()
                self.release_connection()  # it may be the connection that failed
                if len(remaining) == 1:
                    log.error("write failed", exc_info=error)
                    remaining[0].error = CommandFailed(f"the database refused the write: {error.orig}")
                    return []
                # Isolate the failure: every command gets a transaction of its own.
                return [event for pending in remaining for event in self._commit([pending])]
            for pending in remaining:
                pending.reset()
        return []

    def _attempt(self, batch: list[_Pending]) -> list[RecordedEvent]:
        connection = self._connection()
        try:
            # `begin` first: on SQLite it is BEGIN IMMEDIATE, so the head is read under the write lock.
            connection.begin()
            head = self._backend.lock_and_read_head(connection)
            if head != self._known_head:
                # Another process appended (or this is the first batch): cached versions may be
                # stale, and its last event's time bounds ours from below.
                self._versions.clear()
                _, last_time = reads.head_with_time(connection)
                if last_time is not None and (
                    self._last_recorded_at is None or last_time > self._last_recorded_at
                ):
                    self._last_recorded_at = last_time
            now = as_utc(self._clock.now())
            if self._last_recorded_at is not None and self._last_recorded_at > now:
                now = self._last_recorded_at  # recorded_at never decreases along the log
            unit = UnitOfWork(connection, self._registry, self._projections, self._versions, head, now)
            for pending in batch:
                self._run_one(unit, pending)
            unit.finish(self._backend, self._advance)
            self.committing = unit.head
            connection.commit()
        except BaseException:
            self.committing = self._known_head or 0  # nothing was committed: nothing to skip
            self._roll_back()
            raise
        unit.committed()
        self._known_head = unit.head
        self._last_recorded_at = now
        return unit.recorded

    def _connection(self) -> Connection:
        """The writer connection, held from batch to batch: a pool checkout and the reset on its
        return cost about 30 µs of CPU per batch. Dropped after a database error."""
        if self._held is None:
            self._held = self._writer.connect()
        return self._held

    def _roll_back(self) -> None:
        if self._held is None:
            return
        try:
            self._held.rollback()
        except Exception:  # noqa: BLE001 - a broken connection: the next batch opens a new one
            self.release_connection()

    def release_connection(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            try:
                held.close()
            except Exception:  # closing a broken connection can fail; it is gone either way
                log.debug("closing the writer connection failed", exc_info=True)

    async def exclusive(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a transaction on the writer connection, between batches (rebuild, import)."""
        return await anyio.to_thread.run_sync(self._exclusive, work, limiter=self._thread)

    def _exclusive(self, work: Callable[[Connection], T]) -> T:
        connection = self._connection()
        try:
            with connection.begin():
                return work(connection)
        except sa.exc.DBAPIError:
            self.release_connection()
            raise

    def _run_one(self, unit: UnitOfWork, pending: _Pending) -> None:
        command = pending.command
        try:
            earlier = unit.earlier_append(command)
            if earlier is not None:
                pending.outcome = Outcome(
                    None, earlier, _append_result(earlier, repeated=True), repeated=True
                )
                return
            decision = self._handlers.for_command(command)(command, unit)
            recorded = unit.record(command, decision)
        except EngineError as refused:
            pending.error = refused  # refused before anything was staged: nothing to undo
            return
        except HalfWritten as half:
            if isinstance(half.cause, sa.exc.DBAPIError):
                raise half.cause from None
            raise _Crashed(pending, half.cause) from half.cause
        except sa.exc.DBAPIError:
            raise
        except Exception as error:  # a bug in one command must not fail the batch
            raise _Crashed(pending, error) from error
        try:
            result = decision.then(recorded) if decision.then is not None else decision.result
        except Exception as error:  # its events are staged: roll back, rerun without it
            raise _Crashed(pending, error) from error
        pending.outcome = Outcome(result, recorded, _append_result(recorded) if recorded else None)

    def forget_state(self) -> None:
        """Drop cached stream versions (after the log changed behind the committer's back)."""
        self._versions.clear()
        self._known_head = None


def _append_result(recorded: Sequence[RecordedEvent], repeated: bool = False) -> AppendResult:
    first, last = recorded[0], recorded[-1]
    return AppendResult(
        first.namespace, first.stream, first.version, last.version, first.position, last.position, repeated
    )
