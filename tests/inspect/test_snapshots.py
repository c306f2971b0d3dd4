"""Snapshots by example: a retention base keeps later states exact once the events before it are
deleted, drops remove them, stale ones are never served, verify finds a damaged one."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from session_engine.engine import Engine, ManualClock
from session_engine.engine.errors import NotFound, StateUnavailable
from session_engine.engine.log.schema import events, snapshots
from tests.inspect.test_time_travel import _history
from tests.records.helpers import NS

S = "session-1"
pytestmark = pytest.mark.anyio


async def _delete_events_upto(engine: Engine, version: int) -> None:
    """What retention does to the log: the session's events up to `version` are gone."""

    def delete(connection: sa.Connection) -> None:
        connection.execute(
            events.delete().where(events.c.namespace == NS, events.c.stream == S, events.c.version <= version)
        )

    await engine._committer.exclusive(delete)


async def _stored(engine: Engine) -> list[tuple[int, int]]:
    query = sa.select(snapshots.c.version, snapshots.c.pinned).order_by(snapshots.c.version)
    return await engine.read(lambda c: [(int(v), int(p)) for v, p in c.execute(query)])


async def test_a_pinned_snapshot_keeps_later_states_exact_after_the_events_before_it_are_deleted(
    engine: Engine, clock: ManualClock
) -> None:
    await _history(engine, clock)
    expected = {v: await engine.state_as_of(NS, S, version=v) for v in (6, 9, 12)}
    await engine.drop_snapshots(NS, S)  # the reads above left cached ones; the base must do alone
    taken = await engine.take_snapshot(NS, S, 6)
    assert (taken.version, taken.pinned) == (6, True)
    await _delete_events_upto(engine, 6)

    for version, state in expected.items():
        assert await engine.state_as_of(NS, S, version=version) == state
    assert await engine.state_as_of(NS, S, at=clock.now()) == expected[12].model_copy(
        update={"as_of": clock.now()}
    )
    diff = await engine.diff(NS, S, 6, 12)
    assert diff.apply(expected[6]) == expected[12]
    stepped = [state async for state in engine.states(NS, S, from_version=7)]
    assert [s.version for s in stepped] == list(range(7, 13))
    assert stepped[-1] == expected[12]
    with pytest.raises(StateUnavailable):
        await engine.state_as_of(NS, S, version=5)


async def test_every_event_deleted_leaves_the_state_of_the_pinned_snapshot(
    engine: Engine, clock: ManualClock
) -> None:
    await _history(engine, clock)
    current = await engine.state_as_of(NS, S, version=12)
    await engine.take_snapshot(NS, S)
    await _delete_events_upto(engine, 12)
    assert await engine.state_as_of(NS, S, version=12) == current
    with pytest.raises(StateUnavailable):
        await engine.state_as_of(NS, S, version=11)


async def test_a_deleted_history_without_a_snapshot_is_refused_not_guessed(
    engine: Engine, clock: ManualClock
) -> None:
    await _history(engine, clock)
    await _delete_events_upto(engine, 6)
    await engine.drop_snapshots(NS, S)
    with pytest.raises(StateUnavailable):
        await engine.state_as_of(NS, S, version=12)


async def test_drop_snapshots_removes_pinned_and_cached_ones(engine: Engine, clock: ManualClock) -> None:
    await _history(engine, clock)
    await engine.state_as_of(NS, S, version=10)  # a read keeps its state with a snapshot
    await engine.take_snapshot(NS, S, 4)
    assert await _stored(engine) == [(4, 1), (10, 0)]
    assert await engine.drop_snapshots(NS, S) == 2
    assert await _stored(engine) == []
    assert await engine.drop_snapshots(NS, S) == 0


async def test_a_snapshot_of_a_version_the_session_has_not_reached_is_refused(
    engine: Engine, clock: ManualClock
) -> None:
    await _history(engine, clock)
    with pytest.raises(NotFound):
        await engine.take_snapshot(NS, S, 13)
    with pytest.raises(NotFound):
        await engine.take_snapshot(NS, "never-written")
    assert await _stored(engine) == []
