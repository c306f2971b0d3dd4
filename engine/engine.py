"""The Engine: one object that opens the database, runs the write path and serves reads.

async with Engine.open("sqlite:///app.db") as engine:
    await engine.append("ns", "session-1", [NewEvent("noted", {"text": "hi"})])
    async for event in engine.subscribe(after=0): ...
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import IO, Any, TypeVar

import anyio
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError

from session_engine.engine import erasure
from session_engine.engine.backends import Backend, Durability
from session_engine.engine.backends.base import Listener, Scratch, Shadows
from session_engine.engine.clock import Clock, SystemClock, as_utc
from session_engine.engine.commands import AppendEvents, Command, CommandHandlers, Outcome
from session_engine.engine.erasure import Erasure, ErasureNotEnabled
from session_engine.engine.errors import NotFound, ValidationFailed
from session_engine.engine.events import DomainEvent, EventRegistry
from session_engine.engine.ids import check_id
from session_engine.engine.inspect import history, snapshot_check, travel
from session_engine.engine.inspect.diff import StateDiff
from session_engine.engine.inspect.diff import diff as inspect_diff
from session_engine.engine.inspect.grid import GridKeeper
from session_engine.engine.inspect.history import HistoryEntry, SessionsPage
from session_engine.engine.inspect.snapshot_check import SnapshotProblem
from session_engine.engine.inspect.state import SessionState
from session_engine.engine.inspect.travel import Point
from session_engine.engine.log import reads, transfer
from session_engine.engine.log.bounds import check_bigint, check_integer
from session_engine.engine.log.chain import ChainCheck, check_chain
from session_engine.engine.log.records import (
    ANY,
    AppendResult,
    ExpectedVersion,
    Metadata,
    NewEvent,
    RecordedEvent,
)
from session_engine.engine.log.sealing import SESSION_ERASED
from session_engine.engine.log.subscriptions import EventFilter, SubscriptionHub
from session_engine.engine.modules import Domain, domains
from session_engine.engine.objects.service import ObjectsService
from session_engine.engine.projections import live as live_rebuild
from session_engine.engine.projections import snapshots
from session_engine.engine.projections.base import Projection
from session_engine.engine.projections.live import LiveRebuild
from session_engine.engine.projections.rebuild import (
    catch_up,
    create_tables,
    rebuild_in_place,
    replay,
    scratch_copy,
)
from session_engine.engine.projections.registry import ProjectionSet, read_checkpoints
from session_engine.engine.projections.snapshots import SnapshotInfo, Taken
from session_engine.engine.projections.verify import Difference, diff_projections
from session_engine.engine.records.service import RecordsService
from session_engine.engine.retention import RetentionPolicy, RetentionReport
from session_engine.engine.retention import run as retention_run
from session_engine.engine.upgrade import upgrade
from session_engine.engine.values.queries import count_expired
from session_engine.engine.values.service import ValuesService
from session_engine.engine.writes import BatchObserver, CommandCapture, Committer

log = logging.getLogger("session_engine")
T = TypeVar("T")


class Engine:
    """An open engine. Create it with `Engine.open(...)`, an async context manager."""

    def __init__(
        self,
        url: str | URL | None = None,
        *,
        clock: Clock | None = None,
        durability: Durability = "full",
        events: EventRegistry | None = None,
        extra_domains: Sequence[Domain] = (),
        read_pool_size: int = 8,
        max_batch: int = 1000,
        encrypted_namespaces: Iterable[str] = (),
        retention: Sequence[RetentionPolicy] = (),
    ) -> None:
        self.retention = tuple(retention)
        """The policies `retain()` applies when given none (`[tenants.retention]` in the server config)."""
        self.backend = Backend.for_url(url, durability)
        self.encrypted_namespaces = frozenset(encrypted_namespaces)
        """Namespaces whose payloads are sealed with a key per session, so sessions can be erased."""
        self.backend.secure_delete = bool(self.encrypted_namespaces)
        self.clock: Clock = clock or SystemClock()
        self.domains = [*domains(), *extra_domains]
        self.registry = EventRegistry()
        self.handlers = CommandHandlers()
        self.projections = ProjectionSet()
        for domain in self.domains:
            self.registry.extend(domain.events)
            self.handlers.extend(domain.handlers)
            for projection in domain.projections:
                self.projections.add(projection)
        if events is not None:
            self.registry.extend(events)
        self._extra_projections = [p for domain in extra_domains for p in domain.projections]
        self._writer = self.backend.create_engine(writer=True)
        self._reader = self.backend.create_engine(writer=False, pool_size=read_pool_size)
        self._readers = anyio.CapacityLimiter(read_pool_size)
        self.hub = SubscriptionHub(
            self._read_page, poll_interval=self.backend.poll_interval, sealed=self.encrypted_namespaces
        )
        self._committer = Committer(
            self.backend,
            self._writer,
            self.registry,
            self.projections,
            self.handlers,
            self.clock,
            self.hub.published,
            max_batch=max_batch,
            sealed=self.encrypted_namespaces,
        )
        self._listener: Listener | None = None
        self._snapshot_writer: sa.Engine | None = None
        self._snapshot_saves: ThreadPoolExecutor | None = None
        self._grid = GridKeeper(
            self._reader,
            self.backend,
            self.registry,
            lambda: list(self.projections),
            lambda work: (
                self._snapshot_queue().submit(self._write_snapshots, work).add_done_callback(_warn_if_failed)
            ),
            lambda: as_utc(self.clock.now()),
        )
        self._lookup_connection: Connection | None = None
        self.values = ValuesService(self)
        self.objects = ObjectsService(self)
        self.records = RecordsService(self)

    @property
    def url(self) -> URL:
        return self.backend.url

    # -- life cycle ---------------------------------------------------------------------------
    @classmethod
    @asynccontextmanager
    async def open(
        cls, url: str | URL | None = None, *, migrate: bool = True, **options: Any
    ) -> AsyncIterator[Engine]:
        """Open (migrating first, by default), catch projections up with the log, and start the writer."""
        engine = cls(url, **options)
        try:
            await anyio.to_thread.run_sync(engine._prepare, migrate)
            engine._committer.start()
            engine._start_listener()
            await anyio.to_thread.run_sync(engine._grid.start)
            try:
                yield engine
            finally:
                with anyio.CancelScope(shield=True):
                    await engine._committer.close()
                    await engine._stop_listener()
        finally:
            engine._dispose()

    def _prepare(self, migrate: bool) -> None:
        if migrate:
            upgrade(self._writer, self.backend)
        with self._writer.begin() as connection:
            # Under the log lock from the start: another process may be writing, or opening too.
            self.backend.lock_log(connection)
            if self._extra_projections:
                # Not in the engine's migrations: an embedding application's own read models.
                tables = [table for projection in self._extra_projections for table in projection.tables]
                create_tables(connection, self.backend, self._extra_projections, tables)
            done = catch_up(connection, self.backend, self.registry, self.projections)
            self.hub.head = reads.head(connection)
        if self.backend.inline_point_reads:  # opened here, off the event loop: a connect may wait
            self._lookup_connection = self.backend.inline_reader(self._reader)
        for name, what in done.items():
            log.info("projection %s %s", name, what)

    def _start_listener(self) -> None:
        token = anyio.lowlevel.current_token()

        def on_head(position: int) -> None:
            if position <= max(self.hub.head, self._committer.committing):
                return  # most notifications are this process's own commits: published by it
            with contextlib.suppress(RuntimeError):  # the event loop is gone: the engine is closing
                anyio.from_thread.run_sync(self.hub.observe_head, position, token=token)

        self._listener = self.backend.listener(on_head)
        if self._listener is not None:
            self._listener.start()

    async def _stop_listener(self) -> None:
        # Off the event loop: the listener thread may be waiting for the loop to take a notification.
        if self._listener is not None:
            await anyio.to_thread.run_sync(self._listener.stop)
            self._listener = None

    def _dispose(self) -> None:
        self._grid.stop()  # before the snapshot queue it stores through
        if self._lookup_connection is not None:
            self._lookup_connection.close()
        self._writer.dispose()
        self._reader.dispose()
        if self._snapshot_saves is not None:
            self._snapshot_saves.shutdown(wait=True)  # the snapshots reads left are stored
        if self._snapshot_writer is not None:
            self._snapshot_writer.dispose()

    # -- writes -------------------------------------------------------------------------------
    @property
    def pending_writes(self) -> int:
        """Commands submitted and not yet answered: waiting for a batch or being committed."""
        return self._committer.submitted - self._committer.commands

    def observe_batches(self, observer: BatchObserver) -> None:
        """Call `observer` on the event loop after each write batch with its `BatchReport` (metrics)."""
        self._committer.observers.append(observer)

    def capture_commands(self, capture: CommandCapture) -> None:
        """Call `capture` on the event loop as each command is submitted; what it returns comes back
        in that command's place in `BatchReport.contexts` (tracing: the submitter's span)."""
        self._committer.capture = capture

    async def projection_lag(self) -> dict[str, int]:
        """Per projection with a checkpoint: how many positions the log's head is ahead of it."""

        def lag(connection: Connection) -> dict[str, int]:
            head = reads.head(connection)
            return {name: head - position for name, (position, _) in read_checkpoints(connection).items()}

        return await self.read(lag)

    async def execute(self, command: Command) -> Outcome[Any]:
        """Run a command through the group-committed write path; returns after its commit."""
        outcome: Outcome[Any] = await self._committer.submit(command)
        return outcome

    async def append(
        self,
        namespace: str,
        stream: str,
        events: Sequence[NewEvent | DomainEvent],
        *,
        expected_version: ExpectedVersion = ANY,
        idempotency_key: str | None = None,
        metadata: Metadata | Mapping[str, Any] | None = None,
        recreate: bool = False,
    ) -> AppendResult:
        """Append events to a stream. Raises `WrongExpectedVersion` when `expected_version` is stale,
        `SessionDeleted` when the session was deleted and `recreate` is false (`specs/lifecycle.md`).

        `metadata`: a `Metadata` or a mapping of its fields (`{"actor": "x"}`); anything else is
        refused at the call (`ValidationFailed`)."""
        if not events:
            raise ValidationFailed("an append needs at least one event")
        metadata = Metadata.of(metadata)
        appended: AppendResult = await self._committer.submit(
            AppendEvents(
                namespace=namespace,
                stream=stream,
                events=list(events),
                expected_version=expected_version,
                idempotency_key=idempotency_key,
                metadata=metadata,
                recreate=recreate,
            ),
            answer_append=True,
        )
        return appended

    async def erase(
        self,
        namespace: str,
        session: str,
        *,
        reason: str | None = None,
        metadata: Metadata | Mapping[str, Any] | None = None,
    ) -> Erasure:
        """Erase a session of an encrypting namespace: its record deleted, a `session_erased` event
        recorded (the session stays deleted unless a write recreates it), its keys destroyed, its
        read-model rows deleted, and no copy left in the database files when this returns
        (SQLite; PostgreSQL needs a VACUUM, specs/lifecycle.md). Its events keep their type,
        version, time and metadata; their data reads as `{"erased": true}`. Running it again
        finishes an erasure a crash interrupted.

        Raises `ErasureNotEnabled` for a namespace that does not encrypt, `NotFound` for a session
        with no events. `Erasure.unsealed_events` counts events stored before the namespace
        encrypted: their payloads stay readable (not a complete erasure)."""
        _comparable(namespace, session)
        if namespace not in self.encrypted_namespaces:
            raise ErasureNotEnabled(namespace)
        if reason is not None and not isinstance(reason, str):
            raise ValidationFailed("reason must be a string")
        metadata = Metadata.of(metadata)
        if await self.read(lambda c: reads.stream_version(c, namespace, session)) == 0:
            raise NotFound(f"session {namespace}/{session} has no events")
        await self.records.delete(namespace, session, metadata=metadata)
        appended = await self.append(
            namespace,
            session,
            [NewEvent(SESSION_ERASED, {} if reason is None else {"reason": reason})],
            metadata=metadata,
        )
        now = as_utc(self.clock.now())

        def destroy(connection: Connection) -> tuple[int, int]:
            tables = [table for projection in self.projections for table in projection.tables]
            done = erasure.destroy(connection, tables, namespace, session, now)
            self._committer.forget_state()  # its cached cipher for the session is gone
            return done

        keys, rows = await self._committer.exclusive(destroy)
        await self.drop_snapshots(namespace, session)  # they hold plaintext state
        await self._committer.exclusive(
            lambda c: self.backend.scrub(c, erasure.TEXT_INDEXES), transaction=False
        )
        plain = await self.read(lambda c: erasure.unsealed(c, namespace, session))
        return Erasure(namespace, session, appended.last_version, keys, rows, plain)

    # -- reads --------------------------------------------------------------------------------
    async def read(self, function: Callable[[Connection], T]) -> T:
        """Run a read function on a pooled read connection, off the event loop.

        For anything that may touch many rows: lists, searches, traversals, scans.
        """
        return await anyio.to_thread.run_sync(self._read_sync, function, limiter=self._readers)

    async def lookup(self, function: Callable[[Connection], T]) -> T:
        """Run a point read: a handful of rows found by an index (get a value, a record, an envelope).

        Where the backend says so (SQLite) it runs right here on the event loop, on one read
        connection kept for the purpose: such a read costs less than the hop to a worker thread, and
        a WAL reader never waits for the writer. That connection never waits for a lock at all
        (`Backend.inline_reader`): a read that meets one is run again on a thread, which may wait.
        On PostgreSQL it is a network round trip: a thread.
        """
        connection = self._lookup_connection
        if connection is None:
            return await self.read(function)
        try:
            return function(connection)
        except DBAPIError as error:
            if not self.backend.busy(error):
                raise
        finally:
            connection.rollback()  # end the read transaction: the next lookup sees new commits
        # The file is locked: wait for it on a worker thread, never here on the event loop.
        return await self.read(function)

    def _read_sync(self, function: Callable[[Connection], T]) -> T:
        with self._reader.connect() as connection:
            return function(connection)

    async def read_stream(
        self, namespace: str, stream: str, *, from_version: int = 1, limit: int | None = None, **cutoff: Any
    ) -> list[RecordedEvent]:
        _comparable(namespace, stream, *(cutoff.get("types") or ()))
        check_integer("from_version", from_version)
        check_integer("to_version", cutoff.get("to_version"))
        check_bigint("to_position", cutoff.get("to_position"))
        check_integer("limit", limit)
        return await self.read(
            lambda c: reads.read_stream(
                c,
                self.backend,
                self.registry,
                namespace,
                stream,
                from_version=from_version,
                limit=limit,
                **cutoff,
            )
        )

    async def read_all(self, *, after: int = 0, limit: int = 1000, **filters: Any) -> list[RecordedEvent]:
        """One page of the whole log, strictly after position `after`."""
        _comparable(filters.get("namespace"), filters.get("stream"), *(filters.get("types") or ()))
        check_bigint("after", after)
        check_bigint("upto", filters.get("upto"))
        check_bigint("limit", limit)
        return await self.read(
            lambda c: reads.read_all(c, self.backend, self.registry, after=after, limit=limit, **filters)
        )

    def payload(self, event: RecordedEvent) -> DomainEvent:
        """The typed payload of a recorded event (its data is already upcast to the current version)."""
        return self.registry.payload(event.type, event.data)

    async def _read_page(self, after: int, limit: int) -> list[RecordedEvent]:
        return await self.read_all(after=after, limit=limit)

    async def head(self) -> int:
        return await self.read(reads.head)

    async def status(self) -> dict[str, Any]:
        def collect(connection: Connection) -> dict[str, Any]:
            summary = reads.status(connection)
            summary["projections"] = {
                name: {"position": position, "version": version}
                for name, (position, version) in read_checkpoints(connection).items()
            }
            return summary

        summary = await self.read(collect)
        summary["database"] = self.url.render_as_string(hide_password=True)
        return summary

    def subscribe(
        self,
        after: int = 0,
        *,
        namespace: str | None = None,
        stream: str | None = None,
        types: Iterable[str] | None = None,
    ) -> AsyncIterator[RecordedEvent]:
        """Every event after `after` (catch-up from the log, then live), optionally filtered.

        The arguments are checked here, when it is called (not at the first event): ids and types
        without NUL, `after` a position (`ValidationFailed`)."""
        wanted = frozenset(types) if types is not None else None
        _comparable(namespace, stream, *(wanted or ()))
        check_bigint("after", after)
        event_filter = EventFilter(namespace, stream, wanted)
        return self.hub.follow(after, event_filter)

    # -- history, replay, verification ----------------------------------------------------------
    async def state_as_of(
        self,
        namespace: str,
        stream: str,
        *,
        version: int | None = None,
        position: int | None = None,
        at: datetime | None = None,
    ) -> SessionState:
        """The session as its domains see it as of a version, a position or an instant (one of them).

        Values expire as of `at`, else as of the last event applied, else now."""
        if sum(x is not None for x in (version, position, at)) != 1:
            raise ValidationFailed("give exactly one of version, position or at")
        check_integer("version", version)
        check_bigint("position", position)
        _comparable(namespace, stream)
        until = _instant("at", at)
        point: Point = until if until is not None else (version if version is not None else travel.LAST)
        [state] = await self._states_at(namespace, stream, [point], to_position=position, remember=True)
        return state

    async def states(
        self, namespace: str, stream: str, *, from_version: int = 1, to_version: int | None = None
    ) -> AsyncIterator[SessionState]:
        """The session's state after each of its events in turn, folded once (not from the start
        at each step), from the newest snapshot before `from_version`. The events before
        `from_version` are applied without a state read."""
        check_integer("from_version", from_version)
        check_integer("to_version", to_version)
        _comparable(namespace, stream)
        skip = max(from_version - 1, 0)
        projections = list(self.projections)
        fold = await self.read(
            lambda c: travel.plan(
                c,
                self.backend,
                self.registry,
                projections,
                namespace,
                stream,
                [skip, to_version or travel.LAST],
            )
        )
        steps = travel.each_state(fold, namespace, stream, projections, skip=skip)
        try:
            while (
                state := await anyio.to_thread.run_sync(next, steps, None, limiter=self._readers)
            ) is not None:
                yield state
        finally:
            steps.close()

    async def history(
        self, namespace: str, stream: str, *, from_version: int = 1, limit: int | None = None, **cutoff: Any
    ) -> list[HistoryEntry]:
        """The session's events, each with its version, position, type, time, metadata and a one-line
        summary. `cutoff` as for `read_stream` (`to_version`, `until`, `types`)."""
        found = await self.read_stream(namespace, stream, from_version=from_version, limit=limit, **cutoff)
        return [history.entry(event) for event in found]

    async def diff(self, namespace: str, stream: str, a: Point, b: Point) -> StateDiff:
        """What changed in the session from point `a` to point `b` (a version, or an instant)."""
        _comparable(namespace, stream)
        points = [_point("a", a), _point("b", b)]
        before, after = await self._states_at(namespace, stream, points)
        return inspect_diff(before, after)

    async def sessions(
        self,
        namespace: str | None = None,
        *,
        after: int | None = None,
        limit: int = 100,
        prefix: str | None = None,
    ) -> SessionsPage:
        """Sessions (streams) newest activity first, a page at a time: `after` is the previous
        page's `next_after`. `namespace` None: every namespace. `prefix`: only sessions whose id
        starts with it (case and every character as given)."""
        _comparable(namespace, prefix)
        check_bigint("after", after)
        check_integer("limit", limit)
        if limit < 1:
            raise ValidationFailed("limit must be at least 1")
        if prefix:
            check_id("prefix", prefix)

        def page(connection: Connection) -> SessionsPage:
            starting = prefix and partial(self.backend.starts_with, prefix=prefix, connection=connection)
            return history.sessions(connection, namespace, after, limit, starting or None)

        return await self.read(page)

    async def _states_at(
        self,
        namespace: str,
        stream: str,
        points: list[Point],
        *,
        to_position: int | None = None,
        remember: bool = False,
    ) -> list[SessionState]:
        """The session's states at the points, folded once from the newest usable snapshot; the
        snapshots the fold left (`travel.states_at`) are stored after the answer is made."""
        now = as_utc(self.clock.now())
        projections = list(self.projections)

        def fold(connection: Connection) -> travel.Travelled:
            plan = travel.plan(
                connection,
                self.backend,
                self.registry,
                projections,
                namespace,
                stream,
                points,
                to_position=to_position,
                live=True,
            )
            return travel.states_at(plan, namespace, stream, projections, points, now, remember=remember)

        travelled = await self.read(fold)
        if travelled.taken:
            await self._keep_snapshots(namespace, stream, travelled.taken, pinned=False)
        return travelled.states

    # -- snapshots (specs/audit.md, "Snapshots") ----------------------------------------------
    async def take_snapshot(
        self, namespace: str, stream: str, version: int | None = None, *, pinned: bool = True
    ) -> SnapshotInfo:
        """Store the session's state after `version` (default: its current version) as a snapshot.

        Pinned (the default), it is a retention base: the state at `version` and after it, and the
        current state, stay exact once the log's events up to `version` are deleted; it is kept
        until `drop_snapshots`. Raises `NotFound` for a session with no event at `version`."""
        _comparable(namespace, stream)
        check_integer("version", version)
        point = version if version is not None else travel.LAST
        now = as_utc(self.clock.now())
        projections = list(self.projections)

        def fold(connection: Connection) -> travel.Travelled:
            plan = travel.plan(
                connection, self.backend, self.registry, projections, namespace, stream, [point]
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

        travelled = await self.read(fold)
        [taken] = travelled.taken
        await self._keep_snapshots(namespace, stream, travelled.taken, pinned=pinned)
        return SnapshotInfo(namespace, stream, taken.version, taken.position, taken.recorded_at, pinned)

    async def drop_snapshots(self, namespace: str, stream: str) -> int:
        """Delete every snapshot of a session, pinned ones included (erasure). Returns how many."""
        _comparable(namespace, stream)

        def drop(connection: Connection) -> int:
            with connection.begin():
                return snapshots.drop(connection, namespace, stream)

        return await self._snapshot_job(drop)

    async def flush_snapshots(self) -> None:
        """Wait until the snapshots that reads have left so far are stored (they are stored in the
        background, after the read has answered), and the grid snapshots due now (`GridKeeper`)."""
        await anyio.to_thread.run_sync(self._grid.catch_up, limiter=self._readers)
        await self._snapshot_job(lambda connection: None)

    async def _keep_snapshots(
        self, namespace: str, stream: str, taken: list[Taken], *, pinned: bool
    ) -> list[int]:
        """Store snapshots: a pinned one before answering; those a read left in the background, so
        the read does not wait for them (a cache: one not stored is only a later miss)."""
        now = as_utc(self.clock.now())
        projections = list(self.projections)

        def save(connection: Connection) -> list[int]:
            with connection.begin():
                return snapshots.save(
                    connection, namespace, stream, projections, taken, pinned=pinned, now=now
                )

        if pinned:
            return await self._snapshot_job(save)
        self._snapshot_queue().submit(self._write_snapshots, save).add_done_callback(_warn_if_failed)
        return []

    def _snapshot_queue(self) -> ThreadPoolExecutor:
        """One thread stores, drops and waits for snapshots in the order asked: a drop (erasure)
        runs after every store queued before it."""
        if self._snapshot_saves is None:
            self._snapshot_saves = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshots")
        return self._snapshot_saves

    async def _snapshot_job(self, function: Callable[[Connection], T]) -> T:
        done = self._snapshot_queue().submit(self._write_snapshots, function)
        return await anyio.to_thread.run_sync(done.result)

    def _write_snapshots(self, function: Callable[[Connection], T]) -> T:
        """Snapshots are written on a connection of their own, never the committer's: off the
        append path (on SQLite they take the write lock for one short transaction)."""
        if self._snapshot_writer is None:
            self._snapshot_writer = self.backend.create_engine(writer=True)
        with self._snapshot_writer.connect() as connection:
            return function(connection)

    async def rebuild(
        self,
        names: Iterable[str] | None = None,
        *,
        progress: Callable[[int], None] | None = None,
        live: bool = True,
    ) -> int:
        """Rebuild projections from the log. Returns events applied.

        `live` (the default): into a scratch copy while writers go on, then swapped in under the log
        lock (`rebuild_live`). Otherwise emptied and replayed in place in one transaction, which
        holds the log lock throughout: cheaper on a database nobody writes to."""
        if live:
            return (await self.rebuild_live(names, progress=progress)).applied
        projections = self.projections.named(names)

        def run(connection: Connection) -> int:
            return rebuild_in_place(connection, self.backend, self.registry, projections, progress=progress)

        return await self._committer.exclusive(run)

    async def rebuild_live(
        self,
        names: Iterable[str] | None = None,
        *,
        progress: Callable[[int], None] | None = None,
        locked_tail: int = live_rebuild.LOCKED_TAIL,
    ) -> LiveRebuild:
        """Rebuild projections into a scratch copy from a snapshot of the log while writers go on,
        catch the copy up with what they wrote, then replay the last tail and swap the copy in under
        the log lock, in one short transaction (specs/audit.md, "Live rebuild"). Where the backend
        swaps by renaming (SQLite), the copy is first moved beside the live tables, a batch per
        transaction. `locked_tail`: the longest tail left for the swap to replay under the lock."""
        backend = self.backend
        projections = self.projections.named(names)  # with those they depend on
        holds = live_rebuild.Holds()

        async def exclusive(work: Callable[[Connection], T]) -> T:
            return await self._committer.exclusive(holds.timed(work))

        stack = contextlib.ExitStack()
        scratch = await anyio.to_thread.run_sync(stack.enter_context, scratch_copy(backend, projections))
        shadows = scratch.shadows([table.name for projection in projections for table in projection.tables])
        try:
            copy = live_rebuild.Copy(scratch, backend, self.registry, projections, progress)

            def fill_from(after: int) -> tuple[int, int]:
                with self._reader.connect() as source:
                    return copy.fill(backend.one_snapshot(source), after=after)

            async def catch_up(covered: int, applied: int) -> tuple[int, int]:
                """Lock-free rounds while the log is more than `locked_tail` ahead of the copy
                (each round's changes moved into the shadows, where there are any)."""
                for _ in range(live_rebuild.CATCH_UP_ROUNDS):
                    if await self.head() - covered <= locked_tail:
                        break
                    covered, more = await anyio.to_thread.run_sync(fill_from, covered, limiter=self._readers)
                    applied += more
                    while shadows is not None and await exclusive(shadows.apply):
                        pass
                return covered, applied

            first, applied = await anyio.to_thread.run_sync(fill_from, 0, limiter=self._readers)
            covered, applied = await catch_up(first, applied)
            try:
                if shadows is None:
                    await anyio.to_thread.run_sync(scratch.analyze)
                    upto, tail = await exclusive(functools.partial(copy.swap, after=covered))
                else:
                    await self._move_into_shadows(scratch, shadows, exclusive)
                    covered, applied = await catch_up(covered, applied)
                    upto, tail = await exclusive(
                        functools.partial(copy.rename, shadows=shadows, after=covered)
                    )
            except BaseException:
                if shadows is not None:
                    with anyio.CancelScope(shield=True):
                        await exclusive(shadows.abandon)
                raise
            with anyio.CancelScope(shield=True):  # swapped: the replaced tables go, cancelled or not
                while shadows is not None and await exclusive(shadows.discard):
                    pass
        finally:
            await anyio.to_thread.run_sync(stack.close)
        return LiveRebuild(
            upto=upto,
            applied=applied + tail,
            caught_up=upto - first,
            locked=upto - covered,
            projections=[projection.name for projection in projections],
            longest_hold=holds.longest,
        )

    async def _move_into_shadows(
        self,
        scratch: Scratch,
        shadows: Shadows,
        exclusive: Callable[[Callable[[Connection], Any]], Awaitable[Any]],
    ) -> None:
        """Create shadows beside the live tables, note the copy's changes from now on, and move its
        rows into them, one short writer transaction per batch (writers wait at most a batch)."""

        def track() -> None:
            with scratch.connect() as connection:
                shadows.track(connection)

        await exclusive(shadows.prepare)
        await anyio.to_thread.run_sync(track)
        while await exclusive(shadows.copy):
            pass

    async def verify(
        self, names: Iterable[str] | None = None, *, progress: Callable[[int], None] | None = None
    ) -> list[Difference]:
        """Rebuild into a scratch copy and return every difference from the live read models."""
        projections = self.projections.named(names)
        return await anyio.to_thread.run_sync(self._verify_sync, projections, progress)

    def _verify_sync(
        self, projections: list[Projection], progress: Callable[[int], None] | None
    ) -> list[Difference]:
        with scratch_copy(self.backend, projections) as scratch, self._reader.connect() as live:
            # One snapshot for the whole comparison: writers go on, verification sees one state.
            live = self.backend.one_snapshot(live)
            upto = reads.head(live)
            with scratch.connect() as target:
                replay(live, target, self.backend, self.registry, projections, upto=upto, progress=progress)
            with scratch.connect() as target:
                return diff_projections(live, target, self.backend, projections)

    async def verify_snapshots(self) -> list[SnapshotProblem]:
        """Fold every snapshotted session again and return each snapshot that disagrees with it, is
        damaged, or was taken after another event than the log's (specs/audit.md, "Snapshots")."""
        await self.flush_snapshots()
        projections = list(self.projections)

        def run(connection: Connection) -> list[SnapshotProblem]:
            return snapshot_check.check_all(
                self.backend.one_snapshot(connection), self.backend, self.registry, projections
            )

        return await anyio.to_thread.run_sync(self._read_sync, run)

    async def backup(self, target: str | Path) -> None:
        """Copy the database into the new file `target` while writers go on (SQLite's online backup).
        Raises `BackupUnsupported`, naming the database's own tools, where there is no file backup."""
        path = Path(target)
        if path.exists():
            raise ValidationFailed(f"{path} exists: a backup never overwrites a file")
        await anyio.to_thread.run_sync(self.backend.backup, self._reader, path)

    async def verify_chain(
        self, *, at: int | None = None, progress: Callable[[int], None] | None = None
    ) -> ChainCheck:
        """Recompute the log's hash chain from the stored events (specs/audit.md): the head it
        reached, its hash, and the first position that breaks it, if any. `at`: also give the hash
        at that position (to compare with one an auditor recorded)."""

        def run(connection: Connection) -> ChainCheck:
            return check_chain(connection, self.backend, at=at, progress=progress)

        return await anyio.to_thread.run_sync(self._read_sync, run)

    async def export(
        self,
        out: IO[bytes],
        *,
        progress: Callable[[int], None] | None = None,
        scope: transfer.ExportScope = transfer.WHOLE_LOG,
    ) -> int:
        """Write the log (or the part `scope` names: a namespace, a session, a time range) as JSON
        Lines, as stored, with each event's chain hash. Returns the number of events; `progress`
        hears of them as they are written."""
        _comparable(scope.namespace, scope.stream)
        since, until = _instant("since", scope.since), _instant("until", scope.until)
        scope = transfer.ExportScope(scope.namespace, scope.stream, since, until)
        return await anyio.to_thread.run_sync(
            self._read_sync, lambda c: transfer.write_export(c, out, progress, scope)
        )

    async def import_(self, lines: Iterable[bytes], *, progress: Callable[[int], None] | None = None) -> int:
        """Load an export into an empty log, rebuild every projection from it. Returns events imported.

        Refuses (`ValidationFailed`, naming the line) a file whose hash chain is broken; nothing is
        then imported."""

        def run(connection: Connection) -> int:
            self.backend.lock_log(connection)
            count = transfer.import_lines(connection, lines, progress)
            rebuild_in_place(connection, self.backend, self.registry, list(self.projections))
            self.hub.head = max(self.hub.head, count)
            self._committer.forget_state()
            return count

        return await self._committer.exclusive(run)

    async def retain(
        self, policies: Iterable[RetentionPolicy] | None = None, *, dry_run: bool = False
    ) -> list[RetentionReport]:
        """Apply retention policies (default: the engine's own, `Engine.open(retention=...)`), one
        namespace at a time, each run one recorded act (specs/lifecycle.md, "Retention"). With
        `dry_run`, report what would go and change nothing."""
        chosen = list(self.retention if policies is None else policies)
        return [await self._retain_one(policy, dry_run) for policy in chosen]

    async def _retain_one(self, policy: RetentionPolicy, dry_run: bool) -> RetentionReport:
        if dry_run:
            now = as_utc(self.clock.now())
            report = await self.read(lambda c: retention_run.preview(c, policy, now))
            if policy.purge_expired:
                report.values_purged = await self.read(lambda c: count_expired(c, policy.namespace, now))
            return report
        purged = 0
        if policy.purge_expired:
            while done := await self.values.purge_expired(policy.namespace, metadata=retention_run.ACTOR):
                purged += done
        cuts = await self.read(lambda c: retention_run.sessions_to_cut(c, policy))
        bases: dict[str, int] = {}
        for cut in cuts:  # off the lock: the events up to the cut never change
            with contextlib.suppress(NotFound):
                bases[cut.stream] = (
                    await self.take_snapshot(policy.namespace, cut.stream, cut.through)
                ).version
        projections = list(self.projections)
        return await self._committer.exclusive_unit(
            lambda unit: retention_run.run(unit, policy, projections, purged, bases)
        )

    @property
    def stats(self) -> dict[str, int]:
        return {"batches": self._committer.batches, "commands": self._committer.commands}


def _warn_if_failed(stored: Future[Any]) -> None:
    error = stored.exception()
    if error is not None:  # a cache: the answer stood without it
        log.warning("a snapshot was not stored: %s", error)


def _instant(name: str, at: datetime | None) -> datetime | None:
    try:
        return as_utc(at) if at is not None else None
    except OverflowError:  # e.g. year 1 at +05:00: before the first instant UTC can hold
        raise ValidationFailed("the instant is outside the range of UTC instants") from None


def _point(name: str, point: Point) -> Point:
    """A diff's point: a version (checked) or an instant (in UTC)."""
    if isinstance(point, datetime):
        return _instant(name, point)  # type: ignore[return-value]
    check_integer(name, point)
    return point


def _comparable(*values: str | None) -> None:
    """Strings a read compares with stored ones: PostgreSQL text cannot hold NUL, so a query with
    one would fail in the driver (and find nothing on SQLite). Refused alike on both."""
    if any(value is not None and "\x00" in value for value in values):
        raise ValidationFailed("ids and event types must not contain NUL (U+0000) characters")
