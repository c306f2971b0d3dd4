"""Folding one session's events into its states at several points, in one pass, from a snapshot.

A point is a version (an int) or an instant (a datetime). The fold starts from the newest snapshot
at or before the earliest point (`engine.projections.snapshots`), else from nothing; the events
after it are applied once, in order, to one in-memory copy of the session's read models
(`SessionAsOf.advance`), and the state is read at each point on the way: stepping through a session
or diffing two points never refolds from the start. A fold that crosses a multiple of
`snapshots.GRID` leaves a snapshot there, and a state asked for alone is kept with its snapshot
(`Travelled.taken`: the caller stores them, off the read).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.backends import Backend, Prepared
from session_engine.engine.errors import StateUnavailable
from session_engine.engine.events import EventRegistry
from session_engine.engine.inspect import head, kept
from session_engine.engine.inspect.state import SessionState, ValueState, read_state
from session_engine.engine.lifecycle import SESSION_EXPIRED
from session_engine.engine.log import reads
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.log.schema import events as log_events
from session_engine.engine.projections import snapshots
from session_engine.engine.projections.asof import SessionAsOf
from session_engine.engine.projections.base import Projection
from session_engine.engine.projections.snapshots import Snapshot, Taken

log = logging.getLogger("session_engine")

Point = int | datetime
"""A version (0: before the first event) or an instant (the events recorded by then)."""
LAST = 2**31 - 1
"""A version point past any session's end: as far as the other cut-offs (a position) go."""


def reached(start: int, events: Sequence[RecordedEvent], point: Point) -> int:
    """The version a point takes a session to, from version `start` and the events after it."""
    if isinstance(point, datetime):
        version = start
        for event in events:  # recorded times never decrease along the log
            if event.recorded_at > point:
                break
            version = event.version
        return version
    end = events[-1].version if events else start
    return max(start, min(point, end))


@dataclass
class Fold:
    """Where a fold starts (a snapshot, or nothing) and the session's events after it."""

    snapshot: Snapshot | None
    events: list[RecordedEvent]
    origin: int = 0
    """With no snapshot, the version the empty read models stand for: 0, or the version before a
    `session_expired` marker that opens the session's kept history (`restarts_at`)."""
    live: SessionState | None = None
    """The answer itself: read off the live read models at the session's head (`engine.inspect.head`),
    or a snapshot's kept state at its own version, copied from memory (`kept_state`)."""

    @property
    def start(self) -> int:
        return self.snapshot.version if self.snapshot is not None else self.origin

    def open(self, namespace: str, stream: str, projections: list[Projection]) -> SessionAsOf:
        if self.snapshot is not None:
            return SessionAsOf(namespace, stream, [], projections, base=self.snapshot.base)
        return SessionAsOf(namespace, stream, [], projections, after=self.origin)

    def upto(self, version: int) -> list[RecordedEvent]:
        """The events after `start` up to `version`."""
        return self.events[: max(version - self.start, 0)]


_first_version = Prepared(
    sa.select(sa.func.min(log_events.c.version)).where(
        log_events.c.namespace == sa.bindparam("ns"), log_events.c.stream == sa.bindparam("stream")
    )
)


def horizon(connection: Connection, backend: Backend, namespace: str, stream: str) -> int:
    """The last version whose event was deleted from the front of the session (retention); 0 when
    the session's history is whole. With no events left, the newest pinned snapshot says it."""
    [(first,)] = backend.rows(connection, _first_version, {"ns": namespace, "stream": stream})
    if first is not None:
        return int(first) - 1
    pinned = snapshots.pinned_versions(connection, namespace, stream)
    return pinned[-1] if pinned else 0


_type_at = Prepared(
    sa.select(log_events.c.type).where(
        log_events.c.namespace == sa.bindparam("ns"),
        log_events.c.stream == sa.bindparam("stream"),
        log_events.c.version == sa.bindparam("version"),
    )
)


def restarts_at(connection: Connection, backend: Backend, namespace: str, stream: str, cut: int) -> bool:
    """Whether the session's kept history, after the `cut` (`horizon`), opens with retention's
    `session_expired` marker. Retention forgot every row of the session when it recorded it, so
    the marker applied to empty read models is the session's state there: a fold needs no snapshot
    (a dropped session recreated later stays foldable, and `keep_last` can shorten it). The state
    before the marker is gone with its events."""
    if cut <= 0:
        return False
    found = backend.rows(connection, _type_at, {"ns": namespace, "stream": stream, "version": cut + 1})
    return bool(found) and found[0][0] == SESSION_EXPIRED


def plan(
    connection: Connection,
    backend: Backend,
    registry: EventRegistry,
    projections: list[Projection],
    namespace: str,
    stream: str,
    points: Sequence[Point],
    *,
    to_position: int | None = None,
    live: bool = False,
) -> Fold:
    """The snapshot to start from for these points and the events to fold after it.

    `live`: only the state at the point is wanted. One point at the session's head is answered off
    the live read models when they hold it exactly, one at a snapshot whose state is kept in memory
    from it (`Fold.live`, nothing to fold). Raises `StateUnavailable` for a point before the
    session's retention horizon, or when the snapshot there was written by projections of another
    shape."""
    fp = snapshots.fingerprint(projections)
    versions = [p for p in points if not isinstance(p, datetime)]
    instants = [p for p in points if isinstance(p, datetime)]
    low_version = min(versions) if versions else None
    low_instant = min(instants) if instants else None
    at_head: head.LiveSession | None = None
    if live and len(points) == 1 and not connection.in_transaction():
        connection = backend.one_snapshot(connection)  # the head and the rows read at it agree
        connection.begin()
        at_head = head.live_session(connection, backend, projections, namespace, stream)
        if at_head is not None and head.reaches(at_head, points[0], to_position):
            return Fold(None, [], live=head.state_at_head(at_head, points[0]))
    if not connection.in_transaction():
        connection.begin()  # one read snapshot for the snapshot and the events after it
    # A live session's first event is in the log (`head.live_session` checked it in this snapshot).
    cut = 0 if at_head is not None else horizon(connection, backend, namespace, stream)
    below = low_version if low_version != LAST else None
    while True:
        snapshot = snapshots.find(
            connection,
            backend,
            namespace,
            stream,
            fp.code,
            to_version=below,
            to_position=to_position,
            until=low_instant,
            at_least=cut,
        )
        if snapshot is None:
            break
        if live and len(points) == 1 and points[0] == snapshot.version and snapshot.state is not None:
            # Only the answer is wanted (not the row's tables, which a snapshot taken or laid from
            # this fold would store): its content was checked against this digest when it was kept.
            answer = kept.copy(_kept_key(snapshot, snapshot.recorded_at))
            if answer is not None:
                return Fold(snapshot, [], live=answer)
        if snapshot.digest == snapshot.expected_digest():
            break
        log.warning("snapshot %s/%s at %d is damaged; not used", namespace, stream, snapshot.version)
        below = snapshot.version - 1  # a damaged one is never served (verify reports it)
    origin = 0
    if snapshot is None and restarts_at(connection, backend, namespace, stream, cut):
        origin = cut
        if low_version is not None and low_version <= cut:
            raise _before_marker(namespace, stream, cut)
    elif snapshot is None and cut > 0:
        snapshot = snapshots.pinned_base(connection, namespace, stream, fp.shape, cut)
        if snapshot is None or snapshot.digest != snapshot.expected_digest():
            raise StateUnavailable(
                f"session {namespace}/{stream}: its events up to version {cut} were deleted and no "
                "sound snapshot of today's projections holds its state there"
            )
        if (
            (low_version is not None and low_version < cut)
            or (low_instant is not None and low_instant < snapshot.recorded_at)
            or (to_position is not None and to_position < snapshot.position)
        ):
            raise StateUnavailable(
                f"session {namespace}/{stream}: its events up to version {cut} were deleted; "
                f"its state is known from version {cut} on"
            )
    start = snapshot.version if snapshot is not None else origin
    high_version = max(versions) if versions and not instants else None
    if high_version is not None and high_version <= start:
        return Fold(snapshot, [], origin)  # every point is the snapshot's own version: no event to fold
    found = reads.read_stream(
        connection,
        backend,
        registry,
        namespace,
        stream,
        from_version=start + 1,
        to_version=high_version if high_version != LAST else None,
        to_position=to_position,
        until=max(instants) if instants and not versions else None,
    )
    if origin and (not found or found[0].version != origin + 1 or _before(found[0], low_instant)):
        raise _before_marker(namespace, stream, origin)  # an instant or position before the marker
    return Fold(snapshot, found, origin)


def _before(marker: RecordedEvent, instant: datetime | None) -> bool:
    return instant is not None and instant < marker.recorded_at


def _before_marker(namespace: str, stream: str, cut: int) -> StateUnavailable:
    return StateUnavailable(
        f"session {namespace}/{stream}: its events up to version {cut} were deleted (retention"
        f" dropped it); its state is known from version {cut + 1} on"
    )


@dataclass
class Travelled:
    states: list[SessionState]
    taken: list[Taken] = field(default_factory=list)


def states_at(
    fold: Fold,
    namespace: str,
    stream: str,
    projections: list[Projection],
    points: Sequence[Point],
    now: datetime,
    *,
    remember: bool = False,
) -> Travelled:
    """The session's state at each point, in the order given. Expiry is judged at the point's
    instant, else at the last event applied, else at `now`. `remember`: keep the state read (one
    point) with a snapshot of it, unless it came from one."""
    if fold.live is not None:
        return Travelled([fold.live])
    start, found = fold.start, fold.events
    targets = [reached(start, found, point) for point in points]
    snapshot = fold.snapshot
    if len(points) == 1 and snapshot is not None and snapshot.state is not None and targets[0] == start:
        point = points[0]
        as_of = point if isinstance(point, datetime) else snapshot.recorded_at
        return Travelled([kept_state(snapshot, snapshot.state, as_of)])
    travelled = Travelled([])
    answers: dict[int, SessionState] = {}
    with fold.open(namespace, stream, projections) as state:
        for index in sorted(range(len(points)), key=lambda i: targets[i]):
            _advance(state, fold, targets[index], travelled.taken)
            point = points[index]
            as_of = point if isinstance(point, datetime) else state.at or now
            answers[index] = read_state(state, as_of)
        if remember and len(points) == 1 and state.version > start:
            kept = [t for t in travelled.taken if t.version != state.version]
            image = state.dump()
            kept.append(Taken(state.version, state.position, _at(state), image, encode_state(answers[0])))
            travelled.taken = kept
    travelled.states = [answers[i] for i in range(len(points))]
    return travelled


def _at(state: SessionAsOf) -> datetime:
    assert state.at is not None  # a state past version 0 has applied an event
    return state.at


def _advance(state: SessionAsOf, fold: Fold, version: int, taken: list[Taken]) -> None:
    """Apply events up to `version`, leaving a snapshot at each multiple of the grid on the way."""
    grid = snapshots.GRID
    while state.version < version:
        stop = min((state.version // grid + 1) * grid, version)
        state.advance(fold.events[state.version - fold.start : stop - fold.start])
        if stop % grid == 0:
            taken.append(Taken(stop, state.position, _at(state), state.dump()))


def grid_images(state: SessionAsOf, fold: Fold, version: int) -> list[Taken]:
    """The snapshots a fold up to `version` leaves at each multiple of the grid on the way, with no
    state read (the background keeper's work, `engine.inspect.grid`). `state` is the fold's open
    state (`Fold.open`, or one carried from an earlier fold at `fold.start`); it is left open at
    `version`, so the keeper can carry it on to the next grid point."""
    taken: list[Taken] = []
    _advance(state, fold, reached(fold.start, fold.events, version), taken)
    return taken


def each_state(
    fold: Fold, namespace: str, stream: str, projections: list[Projection], *, skip: int = 0
) -> Generator[SessionState]:
    """The state after each event in turn from version `skip` on (the events before it applied at
    once, unread). Each state's expiry is judged at its last event's time."""
    with fold.open(namespace, stream, projections) as state:
        state.advance(fold.upto(skip))
        for event in fold.events[max(skip - fold.start, 0) :]:
            state.advance([event])
            yield read_state(state, event.recorded_at)


# -- a state kept with its snapshot ----------------------------------------------------------------
def encode_state(state: SessionState) -> bytes:
    """The state without its `as_of` (expiry is judged again when it is read)."""
    return state.model_dump_json(exclude={"as_of"}).encode()


def kept_state(snapshot: Snapshot, stored: bytes, as_of: datetime) -> SessionState:
    """A snapshot's kept state (`stored`) as of `as_of`, decoded once per process and then copied
    from memory (`engine.inspect.kept`). The key is the snapshot's digest, which covers its session,
    version, event hash and content: `plan` checks a row's digest before its content is decoded, and
    a row whose digest names a state in memory is answered from it without reading its content."""
    return kept.state(_kept_key(snapshot, as_of), lambda: decode_state(stored, as_of))


def _kept_key(snapshot: Snapshot, as_of: datetime) -> tuple[str, bytes, datetime]:
    return ("snapshot", snapshot.digest, as_of)


def decode_state(stored: bytes, as_of: datetime) -> SessionState:
    """A kept state as of `as_of`: each value's `expired` judged again at that instant.

    Validated straight from its JSON (the stored object, given its `as_of` first): a third of
    decoding it to Python objects and validating those."""
    text = zlib.decompress(stored)
    state = SessionState.model_validate_json(b'{"as_of":' + orjson.dumps(as_of) + b"," + text[1:])
    values, parts = _judged(state.values, as_of), _judged(state.user_parts, as_of)
    if values is None and parts is None:
        return state
    return state.model_copy(
        update={"values": values or state.values, "user_parts": parts or state.user_parts}
    )


def _judged(values: dict[str, ValueState], as_of: datetime) -> dict[str, ValueState] | None:
    """The values with `expired` judged at `as_of`; None when every one is judged so already."""
    changed = {
        key: value.model_copy(update={"expired": expired})
        for key, value in values.items()
        if (expired := value.expires_at is not None and value.expires_at <= as_of) != value.expired
    }
    return {**values, **changed} if changed else None
