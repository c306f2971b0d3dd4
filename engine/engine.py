"""The Engine: one object that opens the database, runs the write path and serves reads.

async with Engine.open("sqlite:///app.db") as engine:
    await engine.append("ns", "session-1", [NewEvent("noted", {"text": "hi"})])
    async for event in engine.subscribe(after=0): ...
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import anyio
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError

from session_engine.engine.backends import Backend, Durability
from session_engine.engine.backends.base import Listener
from session_engine.engine.batches import Batches
from session_engine.engine.clock import Clock, SystemClock, as_utc
from session_engine.engine.commands import AppendEvents, Command, CommandHandlers, Outcome
from session_engine.engine.erasure import Erasure
from session_engine.engine.errors import ValidationFailed
from session_engine.engine.events import DomainEvent, EventRegistry
from session_engine.engine.facade import forgetting, maintenance, snapshotting, time_travel
from session_engine.engine.facade.arguments import comparable
from session_engine.engine.facade.snapshotting import SnapshotWriter
from session_engine.engine.inspect.diff import StateDiff
from session_engine.engine.inspect.grid import GridKeeper
from session_engine.engine.inspect.history import HistoryEntry, SessionsPage
from session_engine.engine.inspect.snapshot_check import SnapshotProblem
from session_engine.engine.inspect.state import SessionState
from session_engine.engine.inspect.travel import Point
from session_engine.engine.log import reads, transfer
from session_engine.engine.log.bounds import check_bigint, check_integer
from session_engine.engine.log.chain import ChainCheck
from session_engine.engine.log.records import (
    ANY,
    AppendResult,
    ExpectedVersion,
    Metadata,
    NewEvent,
    RecordedEvent,
)
from session_engine.engine.log.subscriptions import EventFilter, SubscriptionHub
from session_engine.engine.modules import Domain, domains
from session_engine.engine.objects.service import ObjectsService
from session_engine.engine.parking import ParkedSessions
from session_engine.engine.projections import live as live_rebuild
from session_engine.engine.projections.live import LiveRebuild
from session_engine.engine.projections.rebuild import catch_up, create_tables
from session_engine.engine.projections.registry import ProjectionSet, read_checkpoints
from session_engine.engine.projections.snapshots import SnapshotInfo
from session_engine.engine.projections.verify import Difference
from session_engine.engine.records.service import RecordsService
from session_engine.engine.retention import RetentionPolicy, RetentionReport
from session_engine.engine.upgrade import upgrade
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
        inline_lone_writes: bool = True,
        encrypted_namespaces: Iterable[str] = (),
        retention: Sequence[RetentionPolicy] = (),
        snapshot_grid: bool = False,
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
        batches = Batches(
            self.backend,
            self._writer,
            self.registry,
            self.projections,
            self.handlers,
            self.clock,
            self.encrypted_namespaces,
        )
        # Inline only where the log lock can be taken without waiting (`Backend.begin_writes_now`:
        # SQLite); on by default, `inline_lone_writes=False` keeps every command on the writer
        # thread (specs/engine-core.md says when each wins).
        self._committer = Committer(
            batches, self.hub.published, max_batch=max_batch, inline_lone=inline_lone_writes
        )
        self._listener: Listener | None = None
        self._snapshots = SnapshotWriter(self.backend)
        self._grid = (
            GridKeeper(
                self._reader,
                self.backend,
                self.registry,
                lambda: list(self.projections),
                self._snapshots.later,
                lambda: as_utc(self.clock.now()),
            )
            if snapshot_grid
            else None
        )
        """`snapshot_grid`: a thread lays a snapshot at every multiple of the grid a session crosses,
        so a first read never folds far; it costs CPU per append (specs/audit.md, "Snapshots")."""
        self._lookup_connection: Connection | None = None
        self.values = ValuesService(self)
        self.objects = ObjectsService(self)
        self.records = RecordsService(self)
        self.parking = ParkedSessions(self._committer.exclusive, self.read, self.clock)
        """Connection-bound sessions waiting for their client, shared by every process (`engine.parking`)."""

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
            if engine._grid is not None:
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
        if self._grid is not None:
            self._grid.stop()  # before the snapshot queue it stores through
        if self._lookup_connection is not None:
            self._lookup_connection.close()
        self._writer.dispose()
        self._reader.dispose()
        self._snapshots.close()  # the snapshots reads left are stored first

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
        return await forgetting.erase(self, namespace, session, reason=reason, metadata=metadata)

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
        comparable(namespace, stream, *(cutoff.get("types") or ()))
        check_integer("from_version", from_version)
        check_integer("to_version", cutoff.get("to_version"))
        check_bigint("to_position", cutoff.get("to_position"))
        check_integer("limit", limit)
        # `alone`: the read is this connection's only statement (no transaction of its own).
        options: dict[str, Any] = {"from_version": from_version, "limit": limit, "alone": True, **cutoff}
        return await self.read(
            lambda c: reads.read_stream(c, self.backend, self.registry, namespace, stream, **options)
        )

    async def read_all(self, *, after: int = 0, limit: int = 1000, **filters: Any) -> list[RecordedEvent]:
        """One page of the whole log, strictly after position `after`."""
        comparable(filters.get("namespace"), filters.get("stream"), *(filters.get("types") or ()))
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
        comparable(namespace, stream, *(wanted or ()))
        check_bigint("after", after)
        event_filter = EventFilter(namespace, stream, wanted)
        return self.hub.follow(after, event_filter)

    # -- history, replay, verification (engine/facade/time_travel.py, maintenance.py) --------------
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
        return await time_travel.state_as_of(
            self, namespace, stream, version=version, position=position, at=at
        )

    def states(
        self, namespace: str, stream: str, *, from_version: int = 1, to_version: int | None = None
    ) -> AsyncIterator[SessionState]:
        """The session's state after each of its events in turn, folded once (not from the start
        at each step), from the newest snapshot before `from_version`. The events before
        `from_version` are applied without a state read."""
        return time_travel.states(self, namespace, stream, from_version=from_version, to_version=to_version)

    async def history(
        self, namespace: str, stream: str, *, from_version: int = 1, limit: int | None = None, **cutoff: Any
    ) -> list[HistoryEntry]:
        """The session's events, each with its version, position, type, time, metadata and a one-line
        summary. `cutoff` as for `read_stream` (`to_version`, `until`, `types`)."""
        return await time_travel.history(
            self, namespace, stream, from_version=from_version, limit=limit, **cutoff
        )

    async def diff(self, namespace: str, stream: str, a: Point, b: Point) -> StateDiff:
        """What changed in the session from point `a` to point `b` (a version, or an instant)."""
        return await time_travel.diff(self, namespace, stream, a, b)

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
        return await time_travel.sessions(self, namespace, after=after, limit=limit, prefix=prefix)

    # -- snapshots (specs/audit.md, "Snapshots"; engine/facade/snapshotting.py) -----------------
    async def take_snapshot(
        self, namespace: str, stream: str, version: int | None = None, *, pinned: bool = True
    ) -> SnapshotInfo:
        """Store the session's state after `version` (default: its current version) as a snapshot.

        Pinned (the default), it is a retention base: the state at `version` and after it, and the
        current state, stay exact once the log's events up to `version` are deleted; it is kept
        until `drop_snapshots`. Raises `NotFound` for a session with no event at `version`."""
        return await snapshotting.take(self, namespace, stream, version, pinned=pinned)

    async def drop_snapshots(self, namespace: str, stream: str) -> int:
        """Delete every snapshot of a session, pinned ones included (erasure). Returns how many."""
        return await snapshotting.drop(self, namespace, stream)

    async def flush_snapshots(self) -> None:
        """Wait until the snapshots that reads have left so far are stored (they are stored in the
        background, after the read has answered), and the grid snapshots due now (`snapshot_grid`)."""
        if self._grid is not None:
            await anyio.to_thread.run_sync(self._grid.catch_up, limiter=self._readers)
        await self._snapshots.flush()

    # -- maintenance (engine/facade/maintenance.py) ---------------------------------------------
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
        return await maintenance.rebuild(self, names, progress=progress, live=live)

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
        return await maintenance.rebuild_live(self, names, progress=progress, locked_tail=locked_tail)

    async def verify(
        self, names: Iterable[str] | None = None, *, progress: Callable[[int], None] | None = None
    ) -> list[Difference]:
        """Rebuild into a scratch copy and return every difference from the live read models."""
        return await maintenance.verify(self, names, progress=progress)

    async def verify_snapshots(self) -> list[SnapshotProblem]:
        """Fold every snapshotted session again and return each snapshot that disagrees with it, is
        damaged, or was taken after another event than the log's (specs/audit.md, "Snapshots")."""
        return await maintenance.verify_snapshots(self)

    async def backup(self, target: str | Path) -> None:
        """Copy the database into the new file `target` while writers go on (SQLite's online backup).
        Raises `BackupUnsupported`, naming the database's own tools, where there is no file backup."""
        await maintenance.backup(self, target)

    async def verify_chain(
        self, *, at: int | None = None, progress: Callable[[int], None] | None = None
    ) -> ChainCheck:
        """Recompute the log's hash chain from the stored events (specs/audit.md): the head it
        reached, its hash, and the first position that breaks it, if any. `at`: also give the hash
        at that position (to compare with one an auditor recorded)."""
        return await maintenance.verify_chain(self, at=at, progress=progress)

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
        return await maintenance.export(self, out, progress=progress, scope=scope)

    async def import_(self, lines: Iterable[bytes], *, progress: Callable[[int], None] | None = None) -> int:
        """Load an export into an empty log, rebuild every projection from it. Returns events imported.

        Refuses (`ValidationFailed`, naming the line) a file whose hash chain is broken; nothing is
        then imported."""
        return await maintenance.import_(self, lines, progress=progress)

    # -- retention (specs/lifecycle.md, "Retention"; engine/facade/forgetting.py) ---------------
    async def retain(
        self, policies: Iterable[RetentionPolicy] | None = None, *, dry_run: bool = False
    ) -> list[RetentionReport]:
        """Apply retention policies (default: the engine's own, `Engine.open(retention=...)`), one
        namespace at a time, each run one recorded act (specs/lifecycle.md, "Retention"). With
        `dry_run`, report what would go and change nothing."""
        return await forgetting.retain(self, policies, dry_run=dry_run)

    @property
    def stats(self) -> dict[str, int]:
        return {"batches": self._committer.batches, "commands": self._committer.commands}
