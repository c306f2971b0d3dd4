"""The write path: the group committer that feeds batches of commands to a unit of work each.

command -> decide (from current state) -> append (expected version) -> apply inline projections
-> commit -> acknowledge and publish.

All commands of one engine go through one writer thread, which owns the writer connection. It
takes every command that is waiting, runs them one after another inside one transaction (so
commands on one session never interleave their decisions, and each sees the effects of those
before it), commits once - one fsync for the whole batch - and only then acknowledges them, with
one callback on the event loop for the whole batch (`engine.bridge`). While a batch commits, the
next one gathers. A command that is refused (an `EngineError`) has written nothing; a command that
crashes makes the batch roll back and run again without it, so it fails alone.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import anyio
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.backends import Backend, HeadMoved, driver
from session_engine.engine.bridge import Bridge, Waiter, current_bridge
from session_engine.engine.clock import Clock, as_utc
from session_engine.engine.commands import AppendEvents, Command, CommandHandlers, Outcome
from session_engine.engine.errors import CommandFailed, EngineClosed, EngineError, ValidationFailed
from session_engine.engine.events import EventRegistry
from session_engine.engine.log import reads
from session_engine.engine.log.chain import GENESIS
from session_engine.engine.log.records import AppendResult, Metadata, RecordedEvent
from session_engine.engine.pending_lock import PendingLock
from session_engine.engine.projections.registry import CheckpointAdvance, ProjectionSet
from session_engine.engine.unit_of_work import DeferredFailed, HalfWritten, StreamVersions, UnitOfWork

log = logging.getLogger("session_engine.writes")
T = TypeVar("T")


@dataclass(eq=False, slots=True)
class _Pending:
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


@dataclass(frozen=True, slots=True)
class BatchReport:
    """What one batch did, for observers (metrics): each command's type and outcome, in order."""

    commands: list[tuple[str, str]]
    """(command class name, "ok" or the error's code) per command."""
    events: int
    seconds: float
    """From the batch's start on the writer thread to its commit (or failure)."""
    started_ns: int = 0
    """The batch's start on the writer thread, wall clock (`time.time_ns`): where a trace puts it."""
    positions: list[tuple[int, int] | None] | None = None
    """Per command, the first and last position it appended (None: nothing appended); only when
    `Committer.capture` is set, as `contexts`."""
    contexts: list[object] | None = None
    """Per command, what `Committer.capture` returned at its submission (only when one is set)."""


BatchObserver = Callable[[BatchReport], None]
CommandCapture = Callable[[Command], object]
"""Called on the event loop with each command as it is submitted (tracing: the submitter's span)."""


def _positions(pending: _Pending) -> tuple[int, int] | None:
    outcome = pending.outcome
    if isinstance(outcome, AppendResult):
        return outcome.first_position, outcome.last_position
    if outcome is None or not outcome.events:
        return None
    return outcome.events[0].position, outcome.events[-1].position


def _outcome(pending: _Pending) -> str:
    error = pending.error
    if error is None:
        return "ok"
    return str(getattr(error, "code", "internal_error"))


@dataclass(eq=False, slots=True)
class _Job:
    """Work that needs the writer connection alone (rebuild, import), between two batches."""

    work: Callable[[Any], Any]
    """Given the transaction's `Connection`, or with `in_unit` its `UnitOfWork`."""
    waiter: Waiter
    transaction: bool = True
    """`work` runs in a transaction (not: outside one, e.g. a checkpoint after an erasure)."""
    in_unit: bool = False
    """`work` takes a `UnitOfWork` and may record events (`Committer.exclusive_unit`)."""


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
        sealed: frozenset[str] = frozenset(),
    ) -> None:
        self._backend = backend
        self.sealed = sealed
        """Namespaces whose payloads are sealed per session (engine/log/sealing.py)."""
        self._writer = writer
        self._registry = registry
        self._projections = projections
        self._handlers = handlers
        self._clock = clock
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._lock = threading.Lock()
        """Guards `_queue`, `_jobs` and `_closing`, which the loop and the writer thread share."""
        self._doorbell: queue.SimpleQueue[None] = queue.SimpleQueue()
        """Rung (a token put) after each change under `_lock` that the writer thread must see; it
        sleeps on it when it finds nothing to do. A C queue rather than a `threading.Condition`,
        whose `notify` and `wait` are Python code (a waiter lock made per wait) on every lone
        append's path; a token left from a ring the thread did not need costs it one more look."""
        self._gathering: list[_Pending] = []
        """Commands queued on the loop since the last hand-over to the thread (loop only)."""
        self._lone = False
        """The last batch answered one command (loop only): its caller's next command is handed
        over at once, not after the loop's ready tasks (`submit`)."""
        self._queue: list[_Pending] = []
        self._jobs: list[_Job] = []
        self._closing = False
        self._bridge: Bridge | None = None
        self._thread: threading.Thread | None = None
        self._stopped: Waiter | None = None
        self._versions = StreamVersions()
        self._known_head: int | None = None
        self._known_head_hash = GENESIS
        self._optimistic = False
        """The next batch may begin before it takes the log lock: the last one found the head where
        this process had left it (engine/pending_lock.py)."""
        """The hash of the event at `_known_head` (the chain's head, engine/log/chain.py)."""
        self._last_recorded_at: datetime | None = None
        self._held: Connection | None = None
        self._advance = CheckpointAdvance(projections, backend)
        self.batches = 0
        self.commands = 0
        self.submitted = 0
        """Commands submitted; less `commands` (answered): those waiting or being committed."""
        self.committing = 0
        """The head this process is committing or has committed: NOTIFYs up to it are its own."""
        self.observers: list[BatchObserver] = []
        """Called on the event loop after each batch (metrics); nothing is measured without one."""
        self.capture: CommandCapture | None = None
        """Called at each submission when set (tracing); its value is in the batch's report."""

    # -- on the event loop -------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer thread, answering to the running event loop."""
        self._bridge = bridge = current_bridge()
        self._stopped = bridge.waiter()
        self._thread = threading.Thread(target=self._serve, name="session-engine-writer", daemon=True)
        self._thread.start()

    def submit(self, command: Command, *, answer_append: bool = False) -> Waiter:
        """Queue a command (on the loop); awaiting the waiter gives its `Outcome` once committed,
        or with `answer_append` (an `AppendEvents`), its `AppendResult`.

        Not a coroutine: the caller awaits the waiter itself, one frame fewer per command."""
        bridge = self._bridge
        if bridge is None:
            raise EngineClosed("the engine is not open")
        if self._closing:
            raise EngineClosed("the engine is closing; no new writes are accepted")
        if type(command.metadata) is not Metadata:  # refused here, not as a crash inside the batch
            raise ValidationFailed(
                f"metadata must be a Metadata (Metadata.of makes one from a mapping), not"
                f" {type(command.metadata).__name__}"
            )
        waiter = bridge.waiter()
        self.submitted += 1
        gathering = self._gathering
        pending = _Pending(command, waiter, answer_append)
        if self.capture is not None:
            pending.context = self.capture(command)
        gathering.append(pending)
        if len(gathering) == 1:
            if self._lone:
                # A lone writer's wave is this one command: waiting for the ready tasks would cost
                # it a loop iteration on its critical path. Later commands of this iteration gather.
                self._lone = False
                self._hand_over()
            else:
                bridge.after_ready(self._hand_over)
        return waiter

    def _hand_over(self) -> None:
        """Give the writer thread every command gathered since the last hand-over (on the loop).

        Commands come in waves: a batch's answers wake its callers, and many of them write again
        before the loop next waits. Handing the wave over in one piece, once those tasks have run,
        costs one lock and one wake-up for all of it; waking the thread at the first command made
        it contend for the lock and the GIL with the loop and commit a part of the wave alone.
        """
        batch, self._gathering = self._gathering, []
        if not batch:
            return
        with self._lock:  # `_closing` under the lock: the thread sets it there when it stops
            if not self._closing:
                self._queue.extend(batch)
                self._doorbell.put(None)
                return
        closed = EngineClosed("the engine is closing; no new writes are accepted")
        self.commands += len(batch)
        for pending in batch:
            self._bridge.settle(pending.waiter, None, closed)  # type: ignore[union-attr]

    async def exclusive(self, work: Callable[[Connection], T], *, transaction: bool = True) -> T:
        """Run `work` in a transaction on the writer connection, between batches (rebuild, import);
        outside one when not `transaction` (a checkpoint after an erasure)."""
        result: T = await self._job(work, transaction=transaction)
        return result

    async def exclusive_unit(self, work: Callable[[UnitOfWork], T]) -> T:
        """Run `work` with a unit of work of its own, between batches: besides recording events
        through it (chained, projected and published like a batch's), it may change stored rows
        itself in the same transaction (retention removes events and read-model rows)."""
        result: T = await self._job(work, in_unit=True)
        return result

    async def _job(
        self, work: Callable[[Any], Any], *, in_unit: bool = False, transaction: bool = True
    ) -> Any:
        bridge = self._bridge
        if bridge is None:
            raise EngineClosed("the engine is not open")
        waiter = bridge.waiter()
        with self._lock:
            if self._closing:
                raise EngineClosed("the engine is closing")
            self._jobs.append(_Job(work, waiter, transaction=transaction, in_unit=in_unit))
            self._doorbell.put(None)
        return await waiter

    async def close(self) -> None:
        """Stop taking commands; returns once every queued one has finished and the thread is gone."""
        if self._thread is None or self._stopped is None:
            return
        self._hand_over()  # what callers queued before the close is theirs to have run
        with self._lock:
            self._closing = True
            self._doorbell.put(None)
        await self._stopped
        await anyio.to_thread.run_sync(self._thread.join)

    def _finished(
        self, batch: list[_Pending], recorded: list[RecordedEvent], seconds: float = 0.0, started_ns: int = 0
    ) -> None:
        """A batch has committed (or failed): publish its events, then answer its callers."""
        self.batches += 1
        self.commands += len(batch)
        self._lone = len(batch) == 1
        if recorded:
            self._on_commit(recorded)
        if self.observers:
            report = BatchReport(
                [(type(pending.command).__name__, _outcome(pending)) for pending in batch],
                len(recorded),
                seconds,
                started_ns,
                *self._traced(batch),
            )
            for observer in self.observers:
                observer(report)
        self._bridge.settle_all(  # type: ignore[union-attr]
            [(pending.waiter, pending.outcome, pending.error) for pending in batch]
        )

    def _traced(
        self, batch: list[_Pending]
    ) -> tuple[list[tuple[int, int] | None] | None, list[object] | None]:
        """Each command's positions and captured context, for a report (tracing only)."""
        if self.capture is None:
            return None, None
        return [_positions(pending) for pending in batch], [pending.context for pending in batch]

    # -- on the writer thread ----------------------------------------------------------------
    def _serve(self) -> None:
        bridge = self._bridge
        assert bridge is not None and self._stopped is not None
        job: _Job | None = None
        try:
            while True:
                with self._lock:  # jobs and batches take turns: each waits for one of the other at most
                    if self._queue and (job is not None or not self._jobs):
                        job, batch, self._queue = None, self._queue, []
                    elif self._jobs:
                        job, batch = self._jobs.pop(0), []
                    elif self._closing:
                        break  # closing, and nothing is left to do
                    else:
                        job, batch = None, None
                if batch is None:
                    self._doorbell.get()  # nothing to do: sleep until the loop rings
                    continue
                if job is not None:
                    self._run_job(bridge, job)
                    continue
                for start in range(0, len(batch), self._max_batch):
                    part = batch[start : start + self._max_batch]
                    started_ns, started = time.time_ns(), time.perf_counter()
                    recorded = self._commit_safely(part)
                    seconds = time.perf_counter() - started
                    bridge.call_soon(functools.partial(self._finished, part, recorded, seconds, started_ns))
        finally:
            with self._lock:
                self._closing = True
                left, self._queue = self._queue, []
                jobs, self._jobs = self._jobs, []
            closed = EngineClosed("the engine closed before this command ran")
            for pending in left:
                pending.error = closed
            for job in jobs:
                bridge.call_soon(functools.partial(bridge.settle, job.waiter, None, closed))
            if left:
                bridge.call_soon(functools.partial(self._finished, left, []))
            self.release_connection()
            bridge.call_soon(functools.partial(bridge.settle, self._stopped, None, None))

    def _commit_safely(self, batch: list[_Pending]) -> list[RecordedEvent]:
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

    def _run_job(self, bridge: Bridge, job: _Job) -> None:
        result, error = None, None
        try:
            if job.in_unit:
                unit, result = self._in_unit(job.work)
                if unit.recorded:
                    bridge.call_soon(functools.partial(self._on_commit, unit.recorded))
            else:
                result = self._exclusive(job.work, job.transaction)
        except BaseException as caught:  # noqa: BLE001 - handed to the caller, raised there
            error = caught
            if job.in_unit and isinstance(caught, sa.exc.DBAPIError):
                self.forget_state()
                self.release_connection()
        bridge.call_soon(functools.partial(bridge.settle, job.waiter, result, error))

    def _commit(self, batch: list[_Pending]) -> list[RecordedEvent]:
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

    def _attempt(self, batch: list[_Pending]) -> list[RecordedEvent]:
        def run(unit: UnitOfWork) -> None:
            for pending in batch:
                self._run_one(unit, pending)

        try:
            unit, _ = self._in_unit(run, optimistic=True)
        except HeadMoved:  # another process appended since this one's last batch: nothing was written
            self._optimistic = False
            for pending in batch:
                pending.reset()
            unit, _ = self._in_unit(run)
        return unit.recorded

    def _in_unit(self, work: Callable[[UnitOfWork], T], *, optimistic: bool = False) -> tuple[UnitOfWork, T]:
        """Run `work` in a unit of work of its own transaction, under the log lock, and commit it.
        `optimistic`: the lock may wait for the batch's first statement (engine/pending_lock.py)."""
        connection, backend, known = self._connection(), self._backend, self._known_head
        pending = None
        try:
            if optimistic and self._optimistic and known is not None:
                head, pending = known, PendingLock(backend, connection, known)
            else:
                # Begin first: on SQLite it is BEGIN IMMEDIATE, so the head is read under the write lock.
                backend.begin_writes(connection)
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
            unit.finish(self._advance, commit=True)
            driver.commit(connection)
        except BaseException:
            self.committing = self._known_head or 0  # nothing was committed: nothing to skip
            self._roll_back()
            raise
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
        if held is not None:
            try:
                held.close()
            except Exception:  # closing a broken connection can fail; it is gone either way
                log.debug("closing the writer connection failed", exc_info=True)

    def _exclusive(self, work: Callable[[Connection], T], transaction: bool = True) -> T:
        connection = self._connection()
        try:
            if not transaction:
                return work(connection)
            with connection.begin():
                return work(connection)
        except sa.exc.DBAPIError:
            self.release_connection()
            raise

    def _run_one(self, unit: UnitOfWork, pending: _Pending) -> None:
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


def _crashed(pending: _Pending, cause: BaseException) -> CommandFailed:
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
