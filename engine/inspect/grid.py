"""Grid snapshots laid in the background as sessions grow, so a first read never folds far.

A fold that crosses a multiple of `snapshots.GRID` already leaves a snapshot there
(`travel.states_at`), but only for sessions someone travelled in: the first read of a long session
folded it from its first event. The keeper follows the log instead. Every `INTERVAL` seconds, on a
thread of its own, it finds the events committed since its last look whose version is a multiple
of the grid (a range of the log's primary key: by any process), folds each such session from its
state at the grid point it laid before, kept in memory (`CARRIED`), else from its newest snapshot
below that version (at most a grid's events once the session has one), and stores the images
through the engine's snapshot queue - the one thread that stores and drops snapshots in order (an
erasure's drop comes after any store queued before it; a store after it finds the session erased
and stores nothing). The append path is not touched: no statement, no callback; the cost is this
thread's folds, one grid's events per grid crossed. Bounded per session like every cached snapshot
(`snapshots.MAX_PER_SESSION`, `MAX_BYTES`). specs/audit.md, "Snapshots".
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.backends import Backend, Prepared
from session_engine.engine.errors import EngineError
from session_engine.engine.events import EventRegistry
from session_engine.engine.inspect import travel
from session_engine.engine.lifecycle import SESSION_EXPIRED
from session_engine.engine.log import reads
from session_engine.engine.log.schema import events, session_keys
from session_engine.engine.projections import snapshots
from session_engine.engine.projections.asof import SessionAsOf
from session_engine.engine.projections.base import Projection
from session_engine.engine.projections.snapshots import Taken

log = logging.getLogger("session_engine")

INTERVAL = 1.0
"""Seconds between two looks at the log (a look at an idle log is one `max(position)`)."""
BATCH = 256
"""Grid points read from the log at a time."""
STORED_TOGETHER = 16
"""Grid points stored in one transaction: one commit for many, while a write lock held by the
snapshot thread (SQLite) stays short for the appends waiting on it."""
CARRIED = 16
"""Sessions whose fold is carried from one grid point to the next, in memory (each an in-memory
database of its read models): the sessions laid most recently."""
CARRIED_BYTES = 4 * 1024 * 1024
"""A session whose read models are larger than this is not carried: its next point loads its
snapshot instead (memory stays within `CARRIED` times this)."""

_e = events.c
_head = Prepared(sa.select(sa.func.max(_e.position)))
_due = Prepared(
    sa.select(_e.position, _e.namespace, _e.stream, _e.version)
    .where(
        _e.position > sa.bindparam("after"),
        _e.position <= sa.bindparam("upto"),
        _e.version % sa.bindparam("grid") == 0,
    )
    .order_by(_e.position)
    .limit(sa.bindparam("limit"))
)
_erased = Prepared(
    sa.select(sa.func.count()).where(
        session_keys.c.namespace == sa.bindparam("ns"),
        session_keys.c.stream == sa.bindparam("stream"),
        session_keys.c.erased_at.is_not(None),
    )
)


@dataclass(frozen=True)
class GridPoint:
    """A session reached a multiple of the grid at this version."""

    namespace: str
    stream: str
    version: int


def due(
    connection: Connection, backend: Backend, after: int, upto: int, limit: int = BATCH
) -> tuple[list[GridPoint], int]:
    """The grid points of the events in (`after`, `upto`], at most `limit`, and the position read
    up to (where the next look starts)."""
    rows = backend.rows(
        connection, _due, {"after": after, "upto": upto, "grid": snapshots.GRID, "limit": limit}
    )
    points = [GridPoint(ns, stream, int(version)) for _, ns, stream, version in rows]
    return points, (int(rows[-1][0]) if len(rows) == limit else upto)


def images(
    connection: Connection,
    backend: Backend,
    registry: EventRegistry,
    projections: list[Projection],
    point: GridPoint,
    carried: SessionAsOf | None = None,
) -> tuple[list[Taken], SessionAsOf | None]:
    """The snapshots to store for a grid point (none when one is there already), and the fold's
    state at the point, open, to carry on to the session's next one.

    `carried`: the session's state at an earlier grid point (closed here when it cannot be used):
    the fold goes on from it with the events since, instead of loading the snapshot below the point
    and folding from there. It goes on only while those events are all in the log and the session
    was neither erased nor dropped by retention since (its `session_expired` marker restarts it
    from empty read models): otherwise the fold starts over from the newest usable snapshot."""
    ns, stream = point.namespace, point.stream
    if carried is not None:
        try:
            fold = _since(connection, backend, registry, carried, point)
            if fold is not None:
                return travel.grid_images(carried, fold, point.version), carried
        except BaseException:
            carried.close()
            raise
        carried.close()
    try:
        fold = travel.plan(connection, backend, registry, projections, ns, stream, [point.version])
    except EngineError:  # its events before the point were deleted (retention): nothing to lay
        return [], None
    if fold.start >= point.version:
        return [], None
    state = fold.open(ns, stream, projections)
    try:
        return travel.grid_images(state, fold, point.version), state
    except BaseException:
        state.close()
        raise


def _since(
    connection: Connection, backend: Backend, registry: EventRegistry, carried: SessionAsOf, point: GridPoint
) -> travel.Fold | None:
    """The events after a carried state up to the point, when the fold may go on from it."""
    ns, stream = point.namespace, point.stream
    if carried.version >= point.version:
        return None
    with connection.begin():  # one read snapshot for the events and the erasure mark
        found = reads.read_stream(
            connection,
            backend,
            registry,
            ns,
            stream,
            from_version=carried.version + 1,
            to_version=point.version,
        )
        [(erased,)] = backend.rows(connection, _erased, {"ns": ns, "stream": stream})
    whole = bool(found) and found[0].version == carried.version + 1 and found[-1].version == point.version
    if erased or not whole or any(event.type == SESSION_EXPIRED for event in found):
        return None
    return travel.Fold(None, found, carried.version)


def store(
    connection: Connection,
    backend: Backend,
    projections: list[Projection],
    laid: list[tuple[GridPoint, list[Taken]]],
    now: datetime,
) -> list[int]:
    """Store grid points' snapshots (on the snapshot queue's connection) in one transaction, unless
    a session was erased meanwhile: its plaintext must not come back after the erasure dropped its
    snapshots."""
    done: list[int] = []
    with connection.begin():
        for point, taken in laid:
            [(erased,)] = backend.rows(connection, _erased, {"ns": point.namespace, "stream": point.stream})
            if not erased:
                done += snapshots.save(connection, point.namespace, point.stream, projections, taken, now=now)
    return done


class GridKeeper:
    """The thread that lays grid snapshots (`start`, `stop`); `catch_up` lays every one due now."""

    def __init__(
        self,
        reader: sa.Engine,
        backend: Backend,
        registry: EventRegistry,
        projections: Callable[[], list[Projection]],
        queue: Callable[[Callable[[Connection], Any]], None],
        now: Callable[[], datetime],
        *,
        interval: float = INTERVAL,
    ) -> None:
        self._reader = reader
        self._backend = backend
        self._registry = registry
        self._projections = projections
        self._queue = queue
        self._now = now
        self._interval = interval
        self._after: int | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._carried: OrderedDict[tuple[str, str], tuple[str, SessionAsOf]] = OrderedDict()
        """The state of each session at its last grid point laid, by the projections' fingerprint,
        the session laid last at the end."""

    def start(self) -> None:
        """Start following the log from its head now (sessions grown before are laid by reads)."""
        self._after = self._log_head()
        self._thread = threading.Thread(target=self._run, name="grid-snapshots", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            self._drop_carried()

    def _run(self) -> None:
        try:  # the projections' fingerprint and empty read models, made once: not on a first read
            snapshots.fingerprint(self._projections())
        except Exception:
            log.warning("grid snapshots: the projections' fingerprint failed", exc_info=True)
        while not self._stopping.wait(self._interval):
            try:
                self.catch_up()
            except Exception:  # a cache: a look that failed (a busy database) is tried again next time
                log.warning("grid snapshots: a look at the log failed", exc_info=True)

    def _log_head(self) -> int:
        with self._reader.connect() as connection:
            [(position,)] = self._backend.rows(connection, _head)
            return int(position or 0)

    def catch_up(self) -> int:
        """Lay every grid snapshot due up to the log's head now: fold them and queue their stores
        (`flush_snapshots` then waits for the queue); how many grid points were queued."""
        with self._lock:
            if self._after is None:
                return 0
            laid = 0
            upto = self._log_head()
            while self._after < upto and not self._stopping.is_set():
                with self._reader.connect() as connection:
                    points, self._after = due(connection, self._backend, self._after, upto)
                for start in range(0, len(points), STORED_TOGETHER):
                    laid += self._lay(points[start : start + STORED_TOGETHER])
            return laid

    def _lay(self, points: list[GridPoint]) -> int:
        """Fold the points' snapshots and queue their store, in one transaction."""
        projections = self._projections()
        code = snapshots.fingerprint(projections).code
        laid: list[tuple[GridPoint, list[Taken]]] = []
        for point in points:
            key = (point.namespace, point.stream)
            carried = self._carried.pop(key, None)
            with self._reader.connect() as connection:
                taken, state = images(
                    connection,
                    self._backend,
                    self._registry,
                    projections,
                    point,
                    carried[1] if carried is not None and carried[0] == code else None,
                )
            if carried is not None and carried[0] != code:
                carried[1].close()  # folded by other projections: of no use now
            if state is not None and state.size() <= CARRIED_BYTES:
                self._carry(key, code, state)
            elif state is not None:
                state.close()
            if taken:
                laid.append((point, taken))
        if laid:
            now = self._now()
            self._queue(lambda c: store(c, self._backend, projections, laid, now))
        return len(laid)

    def _carry(self, key: tuple[str, str], code: str, state: SessionAsOf) -> None:
        self._carried[key] = (code, state)
        while len(self._carried) > CARRIED:
            _, (_, oldest) = self._carried.popitem(last=False)
            oldest.close()

    def _drop_carried(self) -> None:
        while self._carried:
            _, (_, state) = self._carried.popitem()
            state.close()
