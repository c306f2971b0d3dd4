"""Batches on the writer thread: each runs its commands in one unit of work, in one transaction
under the log lock, and commits once.

A command that is refused (an `EngineError`) has written nothing; a command that crashes makes the
batch roll back and run again without it, so it fails alone. The committer (`engine.writes`)
gathers commands on the event loop and answers them; `Batches` owns the writer connection and what
the writer knows of the log between batches (its head, the chain's hash there, stream versions).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.backends import Backend, HeadMoved, driver
from session_engine.engine.bridge import Waiter
from session_engine.engine.clock import Clock, as_utc
from session_engine.engine.commands import AppendEvents, Command, CommandHandlers, Outcome
from session_engine.engine.errors import CommandFailed, EngineError
from session_engine.engine.events import EventRegistry
from session_engine.engine.log import reads
from session_engine.engine.log.chain import GENESIS
from session_engine.engine.log.records import AppendResult, RecordedEvent
from session_engine.engine.pending_lock import PendingLock
from session_engine.engine.projections.registry import CheckpointAdvance, ProjectionSet
from session_engine.engine.stream_versions import StreamVersions
from session_engine.engine.unit_of_work import DeferredFailed, HalfWritten, UnitOfWork

log = logging.getLogger("session_engine.writes")
T = TypeVar("T")


@dataclass(eq=False, slots=True)
class Pending:
    command: Command
    waiter: Waiter
    answer_append: bool = False
    """Answer with the `AppendResult` alone (`Engine.append`), not an `Outcome` around it."""
    outcome: Outcome[Any] | AppendResult | None = None
    error: BaseException | None = None
    context: object = None
    """What `Committer.capture` returned when it was submitted (a trace context), else None."""

    def reset(self) -> None:
        self.outcome = None
        self.error = None


class _Crashed(Exception):
    def __init__(self, pending: Pending, cause: BaseException) -> None:
        self.pending = pending
        self.cause = cause


class Batches:
    """Runs batches of commands on the writer connection (writer thread only)."""

    def __init__(
        self,
        backend: Backend,
        writer: sa.Engine,
        registry: EventRegistry,
        projections: ProjectionSet,
        handlers: CommandHandlers,
        clock: Clock,
        sealed: frozenset[str],
    ) -> None:
        self._backend = backend
        self._writer = writer
        self._registry = registry
        self._projections = projections
        self._handlers = handlers
        self._clock = clock
        self.sealed = sealed
        """Namespaces whose payloads are sealed per session (engine/log/sealing.py)."""
        self._versions = StreamVersions()
        self._known_head: int | None = None
        self._known_head_hash = GENESIS
        """The hash of the event at `_known_head` (the chain's head, engine/log/chain.py)."""
        self._seen_version: int | None = None
        """The database's `data_version` in this writer's last committed batch of commands: the
        same in the next, nobody else committed in between, so the head and its hash are still
        `_known_head`'s (no head read). None: unknown, or the writer connection ran other work since."""
        self._level = False
        """The checkpoints were level with the head when that batch committed: it ran the checkpoint
        UPDATE (it wrote events), or it wrote none and they were level before it. While nobody
        else commits, the next batch runs no UPDATE. A batch that writes nothing runs no UPDATE,
        so after an open's catch-up, a rebuild or another process's batch (any of which may leave
        checkpoints at a concrete position) it proves the head, not the checkpoints."""
        self._optimistic = False
        """The next batch may begin before it takes the log lock: the last one found the head where
        this process had left it (engine/pending_lock.py)."""
        self._last_recorded_at: datetime | None = None
        self._held: Connection | None = None
        self._begun = False
        """`commit_now` has begun the next batch's transaction, with the log lock."""
        self._advance = CheckpointAdvance(projections, backend)
        self.committing = 0
        """The head this process is committing or has committed: NOTIFYs up to it are its own."""

    def commit_safely(self, batch: list[Pending]) -> list[RecordedEvent]:
        """`_commit`, and should the write path itself have a bug, fail the batch, not the thread."""
        try:
            return self._commit(batch)
        except Exception as error:
            log.error("the write path failed", exc_info=error)
            self.forget_state()
            self.release_connection()
            for pending in batch:
                pending.outcome = None
                pending.error = CommandFailed("the write failed inside the engine; nothing was written")
            return []

    def commit_now(self, batch: list[Pending]) -> list[RecordedEvent] | None:
        """`commit_safely` on the event loop's thread, which must not wait for another process:
        None, with nothing begun or changed, when the log lock cannot be taken at once (another
        process holds it; a backend that cannot tell) or the writer connection is not open (a
        connect may wait). A lone command's batch begins once: it holds the lock to its end."""
        connection = self._held
        if connection is None:
            return None
        try:
            if not self._backend.begin_writes_now(connection):
                return None
        except sa.exc.DBAPIError:  # the writer thread, running the batch, reports what is wrong
            self.release_connection()
            return None
        self._begun = True
        return self.commit_safely(batch)

    def _commit(self, batch: list[Pending]) -> list[RecordedEvent]:
        remaining = batch
        while remaining:
            try:
                return self._attempt(remaining)
            except _Crashed as crash:
                crash.pending.error = _crashed(crash.pending, crash.cause)
                remaining = [p for p in remaining if p is not crash.pending]
            except (sa.exc.DBAPIError, DeferredFailed) as error:
                cause = error.cause if isinstance(error, DeferredFailed) else error
                if isinstance(cause, sa.exc.DBAPIError):
                    self.forget_state()
                    self.release_connection()  # it may be the connection that failed
                if len(remaining) == 1:
                    remaining[0].error = (
                        _refused(cause)
                        if isinstance(cause, sa.exc.DBAPIError)
                        else _crashed(remaining[0], cause)
                    )
                    return []
                # Isolate the failure: every command gets a transaction of its own.
                return [event for pending in remaining for event in self._commit([pending])]
            for pending in remaining:
                pending.reset()
        return []

    def _attempt(self, batch: list[Pending]) -> list[RecordedEvent]:
        def run(unit: UnitOfWork) -> None:
            for pending in batch:
                self._run_one(unit, pending)

        try:
            unit, _ = self.in_unit(run, optimistic=True, commands=True)
        except HeadMoved:  # another process appended since this one's last batch: nothing was written
            self._optimistic = False
            for pending in batch:
                pending.reset()
            unit, _ = self.in_unit(run, commands=True)
        return unit.recorded

    def in_unit(
        self, work: Callable[[UnitOfWork], T], *, optimistic: bool = False, commands: bool = False
    ) -> tuple[UnitOfWork, T]:
        """Run `work` in a unit of work of its own transaction, under the log lock, and commit it.
        `optimistic`: the lock may wait for the batch's first statement (engine/pending_lock.py).
        `commands`: `work` runs commands, which touch the checkpoints only through the UPDATE (see
        `_level`); other work (a job) may do more, so the next batch trusts nothing."""
        connection, backend, known = self._connection(), self._backend, self._known_head
        pending, version, level = None, None, False
        begun, self._begun = self._begun, False
        try:
            if optimistic and self._optimistic and known is not None and not begun:
                head, pending = known, PendingLock(backend, connection, known)
            else:
                # Begin first: on SQLite it is BEGIN IMMEDIATE, so the head is read under the write lock.
                if not begun:
                    backend.begin_writes(connection)
                version = backend.data_version(connection)
                if version is not None and version == self._seen_version and known is not None:
                    head, level = known, self._level  # nobody else committed since this writer's last batch
                else:
                    head = backend.lock_and_read_head(connection)
                self._optimistic = backend.defers_log_lock and head == known
            if head != known:
                # Another process appended (or this is the first batch): cached versions may be
                # stale, and its last event's time bounds ours from below.
                self._versions.clear()
                _, last_time, self._known_head_hash = reads.head_event(connection)
                if last_time is not None and (
                    self._last_recorded_at is None or last_time > self._last_recorded_at
                ):
                    self._last_recorded_at = last_time
            now = as_utc(self._clock.now())
            if self._last_recorded_at is not None and self._last_recorded_at > now:
                now = self._last_recorded_at  # recorded_at never decreases along the log
            unit = UnitOfWork(
                connection,
                self._backend,
                self._registry,
                self._projections,
                self._versions,
                head,
                self._known_head_hash,
                now,
                self.sealed,
                pending,
            )
            result = work(unit)
            # Before `finish`: on PostgreSQL it may commit, and the NOTIFY up to this head is ours.
            self.committing = unit.head
            unit.finish(_already_level if level else self._advance, commit=True)
            driver.commit(connection)
        except BaseException:
            self.committing = self._known_head or 0  # nothing was committed: nothing to skip
            self._roll_back()
            raise
        self._seen_version = version if commands else None
        self._level = level or bool(unit.recorded)  # events were written with the UPDATE (`finish`)
        unit.committed()
        self._known_head = unit.head
        self._known_head_hash = unit.head_hash
        self._last_recorded_at = now
        return unit, result

    def _connection(self) -> Connection:
        """The writer connection, held from batch to batch: a pool checkout and the reset on its
        return would cost every batch. Dropped after a database error."""
        if self._held is None:
            self._held = self._writer.connect()
        return self._held

    def _roll_back(self) -> None:
        if self._held is None:
            return
        try:
            driver.rollback(self._held)
        except Exception:  # noqa: BLE001 - a broken connection: the next batch opens a new one
            self.release_connection()

    def release_connection(self) -> None:
        held, self._held = self._held, None
        self._seen_version = None  # a count of this connection's: another one's is not comparable
        if held is not None:
            try:
                held.close()
            except Exception:  # closing a broken connection can fail; it is gone either way
                log.debug("closing the writer connection failed", exc_info=True)

    def exclusive(self, work: Callable[[Connection], T], transaction: bool = True) -> T:
        # A rebuild or an import here may leave checkpoints that the next batch must set level.
        self._seen_version = None
        connection = self._connection()
        try:
            if not transaction:
                return work(connection)
            with connection.begin():
                return work(connection)
        except sa.exc.DBAPIError:
            self.release_connection()
            raise

    def _run_one(self, unit: UnitOfWork, pending: Pending) -> None:
        command = pending.command
        unit.deciding(command)
        try:
            earlier = None if command.idempotency_key is None else unit.earlier_append(command)
            if earlier is not None:
                found, repeated = earlier
                pending.outcome = (
                    repeated if pending.answer_append else Outcome(None, found, repeated, repeated=True)
                )
                return
            if type(command) is AppendEvents:  # the raw log API: the events are the decision
                recorded = unit.record(command, command.events, command.expected_version)
                appended = _append_result(recorded) if recorded else None
                pending.outcome = appended if pending.answer_append else Outcome(None, recorded, appended)
                return
            decision = self._handlers.for_command(command)(command, unit)
            recorded = unit.record(command, decision.events, decision.expected_version)
        except EngineError as refused:
            pending.error = refused  # refused before anything was staged: nothing to undo
            return
        except HalfWritten as half:
            if isinstance(half.cause, sa.exc.DBAPIError):
                raise half.cause from None
            raise _Crashed(pending, half.cause) from half.cause
        except (sa.exc.DBAPIError, DeferredFailed):
            raise  # the database, or earlier commands' writes: not this command's fault alone
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
        self._seen_version = None


def _already_level(connection: Connection, before: int) -> None:
    """The checkpoints are level with the head already: nothing to advance."""


def _crashed(pending: Pending, cause: BaseException) -> CommandFailed:
    name = type(pending.command).__name__
    log.error("command %s crashed", name, exc_info=cause)
    return CommandFailed(f"{name} failed inside the engine; nothing was written")


def _refused(error: sa.exc.DBAPIError) -> CommandFailed:
    log.error("write failed", exc_info=error)
    return CommandFailed(f"the database refused the write: {error.orig}")


def _append_result(recorded: Sequence[RecordedEvent], repeated: bool = False) -> AppendResult:
    first, last = recorded[0], recorded[-1]
    return AppendResult(
        first.namespace, first.stream, first.version, last.version, first.position, last.position, repeated
    )
