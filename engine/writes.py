"""The write path: a unit of work per batch, and the group committer that feeds it.

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
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio
import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.clock import Clock, as_utc
from engine.commands import Command, CommandHandlers, Decision, Outcome
from engine.errors import CommandFailed, EngineClosed, EngineError, ValidationFailed, WrongExpectedVersion
from engine.events import DomainEvent, EventRegistry
from engine.log import reads
from engine.log.backend import Backend
from engine.log.records import AppendResult, NewEvent, RecordedEvent
from engine.log.schema import stored_instant
from engine.projections.base import ProjectionContext
from engine.projections.registry import ProjectionSet, checkpoint_advance

log = logging.getLogger("session_engine.writes")

_COLUMNS = (
    "position, namespace, stream, version, type, schema_version, data, metadata, idempotency_key, recorded_at"
)
_INSERT_EVENTS = {
    # The hot path hands rows straight to the driver: SQLAlchemy's per-row bind processing
    # costs more than the insert itself. Formats match what the Core types write and read.
    "sqlite": f"INSERT INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "postgresql": f"INSERT INTO events ({_COLUMNS})"
    " VALUES (%s, %s, %s, %s, %s, %s, %s::json, %s::json, %s, %s)",
}


MAX_IDENTIFIER = 200


def check_identifier(what: str, value: str) -> None:
    """Namespaces, streams and keys must fit their columns on every backend (PostgreSQL text refuses NUL)."""
    if not isinstance(value, str) or not value:
        raise ValidationFailed(f"{what} must be a non-empty string")
    if len(value) > MAX_IDENTIFIER:
        raise ValidationFailed(f"{what} is longer than {MAX_IDENTIFIER} characters")
    if "\x00" in value:
        raise ValidationFailed(f"{what} must not contain the NUL character")


class _StreamVersions:
    """A bounded cache of stream versions, valid while nobody else appends to the log."""

    def __init__(self, size: int = 100_000) -> None:
        self._size = size
        self._versions: OrderedDict[tuple[str, str], int] = OrderedDict()

    def get(self, key: tuple[str, str]) -> int | None:
        version = self._versions.get(key)
        if version is not None:
            self._versions.move_to_end(key)
        return version

    def update(self, changes: dict[tuple[str, str], int]) -> None:
        self._versions.update(changes)
        while len(self._versions) > self._size:
            self._versions.popitem(last=False)

    def clear(self) -> None:
        self._versions.clear()


class UnitOfWork:
    """One batch's transaction: the state handlers read, and the events and projections they produce."""

    def __init__(
        self,
        connection: Connection,
        registry: EventRegistry,
        projections: ProjectionSet,
        versions: _StreamVersions,
        head: int,
        now: datetime,
    ) -> None:
        self.connection = connection
        self.projection = ProjectionContext(connection)
        self.now = now
        self.head = head
        self._registry = registry
        self._projections = projections
        self._versions = versions
        self._staged_versions: dict[tuple[str, str], int] = {}
        self._staged_keys: dict[tuple[str, str, str], list[RecordedEvent]] = {}
        self._rows: list[tuple[Any, ...]] = []
        self._stored_now = stored_instant(now, connection.dialect.name)
        self.recorded: list[RecordedEvent] = []

    # -- what handlers read -------------------------------------------------------------
    def read(self, statement: Any, params: dict[str, Any] | None = None) -> sa.CursorResult[Any]:
        """Query the read models as this batch has changed them so far."""
        return self.projection.read(statement, params)

    def stream_version(self, namespace: str, stream: str) -> int:
        key = (namespace, stream)
        version = self._staged_versions.get(key)
        if version is None:
            version = self._versions.get(key)
        if version is None:
            version = reads.stream_version(self.connection, namespace, stream)
            self._staged_versions[key] = version
        return version

    # -- what the committer does with a decision ----------------------------------------
    def earlier_append(self, command: Command) -> list[RecordedEvent] | None:
        if command.idempotency_key is None:
            return None
        key = (command.namespace, command.stream, command.idempotency_key)
        staged = self._staged_keys.get(key)
        if staged is not None:
            return staged
        return reads.find_idempotent(self.connection, self._registry, *key)

    def record(self, command: Command, decision: Decision[Any]) -> list[RecordedEvent]:
        """Check the expected version, stage the events, and apply them to the projections."""
        namespace, stream = command.namespace, command.stream
        check_identifier("namespace", namespace)
        check_identifier("stream", stream)
        current = self.stream_version(namespace, stream)
        expected = decision.expected_version
        if expected is not None and expected != current:
            raise WrongExpectedVersion(namespace, stream, expected, current)
        if not decision.events:
            return []
        events = [self._as_new_event(event) for event in decision.events]
        try:
            encoded = [(_dumps(event.data), event) for event in events]
        except orjson.JSONEncodeError as error:  # e.g. a lone surrogate: not representable as UTF-8
            raise ValidationFailed(f"event data is not valid JSON text: {error}") from None
        try:
            return self._stage(command, encoded, current)
        except BaseException as error:
            # Something is half-written: only rolling back the whole transaction undoes it.
            raise _HalfWritten(error) from error

    def _stage(
        self, command: Command, encoded: list[tuple[str, NewEvent]], current: int
    ) -> list[RecordedEvent]:
        namespace, stream = command.namespace, command.stream
        base_metadata = command.metadata.to_json()
        recorded: list[RecordedEvent] = []
        for offset, (data, new) in enumerate(encoded):
            meta = {**base_metadata, **new.metadata}
            key = None
            if offset == 0 and command.idempotency_key is not None:
                key = command.idempotency_key
                meta["idempotency_key"] = key
                meta["append_size"] = len(encoded)
            self.head += 1
            version = current + offset + 1
            self._rows.append(
                (
                    self.head,
                    namespace,
                    stream,
                    version,
                    new.type,
                    new.schema_version,
                    data,
                    _dumps(meta),
                    key,
                    self._stored_now,
                )
            )
            recorded.append(
                RecordedEvent(
                    self.head,
                    namespace,
                    stream,
                    version,
                    new.type,
                    new.schema_version,
                    new.data,
                    meta,
                    self.now,
                )
            )
        self._staged_versions[(namespace, stream)] = current + len(recorded)
        if command.idempotency_key is not None:
            self._staged_keys[(namespace, stream, command.idempotency_key)] = recorded
        self._projections.apply_per_command(self.projection, recorded)
        self.recorded.extend(recorded)
        return recorded

    def _as_new_event(self, event: NewEvent | DomainEvent) -> NewEvent:
        if isinstance(event, NewEvent):
            return event
        return NewEvent(
            type=event.event_type,
            data=event.model_dump(mode="json"),
            schema_version=event.schema_version,
        )

    def finish(self, backend: Backend, advance: sa.Update) -> None:
        """Write the staged events, the projections' pending writes and their checkpoints."""
        if self.recorded:
            self._projections.apply_per_batch(self.projection, self.recorded)
        self.projection.flush()
        if self._rows:
            self.connection.exec_driver_sql(_INSERT_EVENTS[self.connection.dialect.name], self._rows)
            self.connection.execute(advance, {"position": self.head})
            backend.notify(self.connection, self.head)

    def committed(self) -> None:
        self._versions.update(self._staged_versions)


@dataclass(eq=False)
class _Pending:
    command: Command
    outcome: Outcome[Any] | None = None
    error: BaseException | None = None

    def reset(self) -> None:
        self.outcome = None
        self.error = None


class _HalfWritten(Exception):
    """Staging failed after some writes were queued: the batch must roll back."""

    def __init__(self, cause: BaseException) -> None:
        self.cause = cause


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
        self._versions = _StreamVersions()
        self._known_head: int | None = None
        self._last_recorded_at: datetime | None = None
        self._thread = anyio.CapacityLimiter(1)
        self._advance = checkpoint_advance(projections)
        self.batches = 0
        self.commands = 0

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
        with self._writer.begin() as connection:
            self._backend.lock_log(connection)
            head, last_time = reads.head_with_time(connection)
            if head != self._known_head:
                self._versions.clear()  # another process appended: cached versions may be stale
            now = as_utc(self._clock.now())
            for previous in (self._last_recorded_at, last_time):
                if previous is not None and previous > now:
                    now = previous  # recorded_at never decreases along the log
            unit = UnitOfWork(connection, self._registry, self._projections, self._versions, head, now)
            for pending in batch:
                self._run_one(unit, pending)
            unit.finish(self._backend, self._advance)
        unit.committed()
        self._known_head = unit.head
        self._last_recorded_at = now
        return unit.recorded

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
        except _HalfWritten as half:
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


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _append_result(recorded: Sequence[RecordedEvent], repeated: bool = False) -> AppendResult:
    first, last = recorded[0], recorded[-1]
    return AppendResult(
        first.namespace, first.stream, first.version, last.version, first.position, last.position, repeated
    )
