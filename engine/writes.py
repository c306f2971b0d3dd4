"""The write path: the group committer that feeds batches of commands to a unit of work each.

command -> decide (from current state) -> append (expected version) -> apply inline projections
-> commit -> acknowledge and publish.

All commands of one engine go through one writer thread, which owns the writer connection. It
takes every command that is waiting, runs them one after another inside one transaction (so
commands on one session never interleave their decisions, and each sees the effects of those
before it), commits once - one fsync for the whole batch - and only then acknowledges them, with
one callback on the event loop for the whole batch (`engine.bridge`). While a batch commits, the
next one gathers. How a batch runs on the writer thread, and how a command fails alone, is
`engine.batches`; this module gathers commands on the loop, hands them over, takes turns with
exclusive jobs and answers.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.batches import Batches, Pending
from session_engine.engine.bridge import Bridge, Waiter, current_bridge
from session_engine.engine.commands import Command
from session_engine.engine.errors import EngineClosed, ValidationFailed
from session_engine.engine.log.records import AppendResult, Metadata, RecordedEvent
from session_engine.engine.unit_of_work import UnitOfWork

T = TypeVar("T")


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


INLINE_LIMIT = 0.002
"""Seconds: a lone command runs inline (`Committer(inline_lone=True)`) only while the last batch
ran for less; a slow one (a long fsync, a checkpoint) sends the next to the thread. Another
process's lock is never waited for inline (`Batches.commit_now`)."""

BatchObserver = Callable[[BatchReport], None]
CommandCapture = Callable[[Command], object]
"""Called on the event loop with each command as it is submitted (tracing: the submitter's span)."""


def _positions(pending: Pending) -> tuple[int, int] | None:
    outcome = pending.outcome
    if isinstance(outcome, AppendResult):
        return outcome.first_position, outcome.last_position
    if outcome is None or not outcome.events:
        return None
    return outcome.events[0].position, outcome.events[-1].position


def _outcome(pending: Pending) -> str:
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


class Committer:
    """Runs every command of one engine, in batches that share a transaction and an fsync."""

    def __init__(
        self,
        batches: Batches,
        on_commit: Callable[[list[RecordedEvent]], None],
        *,
        max_batch: int = 1000,
        inline_lone: bool = False,
    ) -> None:
        self._batches = batches
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._lock = threading.Lock()
        """Guards `_queue`, `_jobs` and `_closing`, which the loop and the writer thread share."""
        self._doorbell: queue.SimpleQueue[None] = queue.SimpleQueue()
        """Rung (a token put) after each change under `_lock` that the writer thread must see; it
        sleeps on it when it finds nothing to do. A C queue rather than a `threading.Condition`,
        whose `notify` and `wait` are Python code (a waiter lock made per wait) on every lone
        append's path; a token left from a ring the thread did not need costs it one more look."""
        self._gathering: list[Pending] = []
        """Commands queued on the loop since the last hand-over to the thread (loop only)."""
        self._lone = False
        """The last batch answered one command (loop only): its caller's next command is handed
        over at once, not after the loop's ready tasks (`submit`)."""
        self._inline = inline_lone
        """A lone writer's command may run on the event loop's thread (`_run_inline`)."""
        self._last_seconds = 0.0
        """How long the last batch ran (loop only)."""
        self._queue: list[Pending] = []
        self._jobs: list[_Job] = []
        self._closing = False
        self._running = False
        """The writer thread is using the writer connection: set as it takes a batch or a job (under
        `_lock`), cleared as it answers the last of it, before its answer can wake a caller."""
        self._bridge: Bridge | None = None
        self._thread: threading.Thread | None = None
        self._stopped: Waiter | None = None
        self.batches = 0
        self.commands = 0
        self.submitted = 0
        """Commands submitted; less `commands` (answered): those waiting or being committed."""
        self.observers: list[BatchObserver] = []
        """Called on the event loop after each batch (metrics); nothing is measured without one."""
        self.capture: CommandCapture | None = None
        """Called at each submission when set (tracing); its value is in the batch's report."""

    @property
    def committing(self) -> int:
        """The head this process is committing or has committed: NOTIFYs up to it are its own."""
        return self._batches.committing

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
        pending = Pending(command, waiter, answer_append)
        if self.capture is not None:
            pending.context = self.capture(command)
        gathering.append(pending)
        if len(gathering) == 1:
            if self._lone:
                # A lone writer's wave is this one command: waiting for the ready tasks would cost
                # it a loop iteration on its critical path. Later commands of this iteration gather.
                self._lone = False
                if self._inline and self._run_inline(bridge):
                    return bridge.after_turn(waiter)
                self._hand_over()
            else:
                bridge.after_ready(self._hand_over)
        return waiter

    def _run_inline(self, bridge: Bridge) -> bool:
        """Run the lone gathered command here, on the loop's thread, if nothing else could use the
        loop or the writer connection now: no task is ready to run, the writer thread is idle, and
        the last batch was quick. Saves the two thread hops (half a lone append's CPU); the loop
        waits for this commit. Answered at once, the caller still goes on only in the loop's next
        turn (`Bridge.after_turn`), so one that writes in a loop lets the others run between."""
        if self._last_seconds >= INLINE_LIMIT or not bridge.quiet():
            return False
        with self._lock:  # the thread takes work only from the loop: idle now, it stays so
            if self._running or self._queue or self._jobs or self._closing:
                return False
        batch = self._gathering
        started_ns, started = time.time_ns(), time.perf_counter()
        recorded = self._batches.commit_now(batch)
        if recorded is None:  # another process holds the log lock: the writer thread waits for it
            return False
        self._gathering = []
        self._finished(batch, recorded, time.perf_counter() - started, started_ns)
        return True

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
        self, batch: list[Pending], recorded: list[RecordedEvent], seconds: float = 0.0, started_ns: int = 0
    ) -> None:
        """A batch has committed (or failed): publish its events, then answer its callers."""
        self.batches += 1
        self.commands += len(batch)
        self._lone = len(batch) == 1
        self._last_seconds = seconds
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
        self, batch: list[Pending]
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
                    self._running = batch is not None
                if batch is None:
                    self._doorbell.get()  # nothing to do: sleep until the loop rings
                    continue
                if job is not None:
                    self._run_job(bridge, job)
                    continue
                for start in range(0, len(batch), self._max_batch):
                    part = batch[start : start + self._max_batch]
                    started_ns, started = time.time_ns(), time.perf_counter()
                    recorded = self._batches.commit_safely(part)
                    seconds = time.perf_counter() - started
                    self._running = start + self._max_batch < len(batch)
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
            self._batches.release_connection()
            bridge.call_soon(functools.partial(bridge.settle, self._stopped, None, None))

    def _run_job(self, bridge: Bridge, job: _Job) -> None:
        result, error = None, None
        try:
            if job.in_unit:
                unit, result = self._batches.in_unit(job.work)
                if unit.recorded:
                    bridge.call_soon(functools.partial(self._on_commit, unit.recorded))
            else:
                result = self._batches.exclusive(job.work, job.transaction)
        except BaseException as caught:  # noqa: BLE001 - handed to the caller, raised there
            error = caught
            if job.in_unit and isinstance(caught, sa.exc.DBAPIError):
                self._batches.forget_state()
                self._batches.release_connection()
        self._running = False
        bridge.call_soon(functools.partial(bridge.settle, job.waiter, result, error))

    def forget_state(self) -> None:
        """Drop cached stream versions (after the log changed behind the committer's back)."""
        self._batches.forget_state()
