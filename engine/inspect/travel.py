"""Folding one session's events into its states at several points, in one pass.

A point is a version (an int) or an instant (a datetime). The events are applied once, in order, to
one in-memory copy of the session's read models (`SessionAsOf.advance`), and the state is read at
each point on the way: stepping through a session or diffing two points never refolds from the
start.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from datetime import datetime

from session_engine.engine.inspect.state import SessionState, read_state
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.projections.asof import SessionAsOf
from session_engine.engine.projections.base import Projection

Point = int | datetime
"""A version (0: before the first event) or an instant (the events recorded by then)."""


def upto(events: Sequence[RecordedEvent], point: Point) -> int:
    """How many of a session's events (in version order) a point takes."""
    if isinstance(point, datetime):
        count = 0
        for event in events:  # recorded times never decrease along the log
            if event.recorded_at > point:
                break
            count += 1
        return count
    return min(point, len(events))


def states_at(
    namespace: str,
    stream: str,
    events: Sequence[RecordedEvent],
    projections: list[Projection],
    points: Sequence[Point],
    now: datetime,
) -> list[SessionState]:
    """The session's state at each point, in the order given. Expiry is judged at the point's
    instant, else at the last event applied, else at `now`."""
    wanted = sorted(range(len(points)), key=lambda i: upto(events, points[i]))
    found: dict[int, SessionState] = {}
    with SessionAsOf(namespace, stream, [], projections) as state:
        applied = 0
        for index in wanted:
            point = points[index]
            count = upto(events, point)
            state.advance(events[applied:count])
            applied = max(applied, count)
            as_of = point if isinstance(point, datetime) else state.at or now
            found[index] = read_state(state, as_of)
    return [found[i] for i in range(len(points))]


def each_state(
    namespace: str,
    stream: str,
    events: Sequence[RecordedEvent],
    projections: list[Projection],
    *,
    skip: int = 0,
) -> Generator[SessionState]:
    """The state after each event in turn, one event applied per step (the first `skip` events
    applied at once, unread). Each state's expiry is judged at its last event's time."""
    with SessionAsOf(namespace, stream, events[:skip], projections) as state:
        for event in events[skip:]:
            state.advance([event])
            yield read_state(state, event.recorded_at)
