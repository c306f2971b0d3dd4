"""Time travel: a session's state as of a point, its states step by step, its history, diffs
between two points, and the sessions list (`Engine.state_as_of`, `states`, `history`, `diff`,
`sessions`).

The folds themselves are pure (engine/inspect/travel.py); here they run on the engine's read
connections, and the snapshots a fold leaves are handed to `snapshotting.keep`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
from sqlalchemy.engine import Connection

from session_engine.engine.clock import as_utc
from session_engine.engine.errors import ValidationFailed
from session_engine.engine.facade import snapshotting
from session_engine.engine.facade.arguments import comparable, instant, point
from session_engine.engine.ids import check_id
from session_engine.engine.inspect import history as inspect_history
from session_engine.engine.inspect import travel
from session_engine.engine.inspect.diff import StateDiff
from session_engine.engine.inspect.diff import diff as inspect_diff
from session_engine.engine.inspect.history import HistoryEntry, SessionsPage
from session_engine.engine.inspect.state import SessionState
from session_engine.engine.inspect.travel import Point
from session_engine.engine.log.bounds import check_bigint, check_integer

if TYPE_CHECKING:
    from session_engine.engine.engine import Engine


async def state_as_of(
    engine: Engine,
    namespace: str,
    stream: str,
    *,
    version: int | None,
    position: int | None,
    at: datetime | None,
) -> SessionState:
    """`Engine.state_as_of`: exactly one of version, position or at."""
    if sum(x is not None for x in (version, position, at)) != 1:
        raise ValidationFailed("give exactly one of version, position or at")
    check_integer("version", version)
    check_bigint("position", position)
    comparable(namespace, stream)
    until = instant("at", at)
    chosen: Point = until if until is not None else (version if version is not None else travel.LAST)
    [state] = await states_at(engine, namespace, stream, [chosen], to_position=position, remember=True)
    return state


async def states(
    engine: Engine, namespace: str, stream: str, *, from_version: int, to_version: int | None
) -> AsyncIterator[SessionState]:
    """`Engine.states`: one fold, read after each event from `from_version` on."""
    check_integer("from_version", from_version)
    check_integer("to_version", to_version)
    comparable(namespace, stream)
    skip = max(from_version - 1, 0)
    projections = list(engine.projections)
    fold = await engine.read(
        lambda c: travel.plan(
            c,
            engine.backend,
            engine.registry,
            projections,
            namespace,
            stream,
            [skip, to_version or travel.LAST],
        )
    )
    steps = travel.each_state(fold, namespace, stream, projections, skip=skip)
    try:
        while (
            state := await anyio.to_thread.run_sync(next, steps, None, limiter=engine._readers)
        ) is not None:
            yield state
    finally:
        steps.close()


async def history(
    engine: Engine, namespace: str, stream: str, *, from_version: int, limit: int | None, **cutoff: Any
) -> list[HistoryEntry]:
    """`Engine.history`: the stream's events, each summed up in one line."""
    found = await engine.read_stream(namespace, stream, from_version=from_version, limit=limit, **cutoff)
    return [inspect_history.entry(event) for event in found]


async def diff(engine: Engine, namespace: str, stream: str, a: Point, b: Point) -> StateDiff:
    """`Engine.diff`: both states from one fold."""
    comparable(namespace, stream)
    points = [point("a", a), point("b", b)]
    before, after = await states_at(engine, namespace, stream, points)
    return inspect_diff(before, after)


async def sessions(
    engine: Engine, namespace: str | None, *, after: int | None, limit: int, prefix: str | None
) -> SessionsPage:
    """`Engine.sessions`: a page of sessions, newest activity first."""
    comparable(namespace, prefix)
    check_bigint("after", after)
    check_integer("limit", limit)
    if limit < 1:
        raise ValidationFailed("limit must be at least 1")
    if prefix:
        check_id("prefix", prefix)

    def page(connection: Connection) -> SessionsPage:
        starting = prefix and partial(engine.backend.starts_with, prefix=prefix, connection=connection)
        return inspect_history.sessions(connection, namespace, after, limit, starting or None)

    return await engine.read(page)


async def states_at(
    engine: Engine,
    namespace: str,
    stream: str,
    points: list[Point],
    *,
    to_position: int | None = None,
    remember: bool = False,
) -> list[SessionState]:
    """The session's states at the points, folded once from the newest usable snapshot; the
    snapshots the fold left (`travel.states_at`) are stored after the answer is made."""
    now = as_utc(engine.clock.now())
    projections = list(engine.projections)

    def fold(connection: Connection) -> travel.Travelled:
        plan = travel.plan(
            connection,
            engine.backend,
            engine.registry,
            projections,
            namespace,
            stream,
            points,
            to_position=to_position,
            live=True,
        )
        return travel.states_at(plan, namespace, stream, projections, points, now, remember=remember)

    travelled = await engine.read(fold)
    if travelled.taken:
        await snapshotting.keep(engine, namespace, stream, travelled.taken, pinned=False)
    return travelled.states
