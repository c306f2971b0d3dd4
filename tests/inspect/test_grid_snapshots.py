"""Grid snapshots laid in the background (engine/inspect/grid.py): every multiple of the grid a
session crosses gets its snapshot without anyone reading it, so a first read at any version folds
fewer than a grid's events; an erased session gets none back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from session_engine.engine import Engine, ManualClock
from session_engine.engine.inspect import travel
from session_engine.engine.inspect.state import read_state
from session_engine.engine.projections import snapshots
from session_engine.engine.projections.asof import SessionAsOf
from tests.records.helpers import NS

S = "session-1"
GRID = 4
pytestmark = pytest.mark.anyio


@pytest.fixture
def small_grid(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(snapshots, "GRID", GRID)
    yield


async def _stored(engine: Engine) -> list[tuple[int, bool]]:
    await engine.flush_snapshots()
    found = await engine.read(lambda c: snapshots.stored(c, NS, S))
    return [(s.version, s.pinned) for s in found]


async def test_without_the_keeper_no_grid_snapshot_is_laid(engine: Engine, small_grid: None) -> None:
    """`snapshot_grid` is off by default (it costs the writers CPU): only reads leave snapshots."""
    for i in range(10):
        await engine.values.set(NS, S, f"k{i % 3}", i)
    assert await _stored(engine) == []


async def test_each_grid_point_gets_a_snapshot_without_a_read(
    database_url: str, clock: ManualClock, small_grid: None
) -> None:
    async with Engine.open(database_url, migrate=False, clock=clock, snapshot_grid=True) as engine:
        await _each_grid_point_gets_a_snapshot(engine)


async def _each_grid_point_gets_a_snapshot(engine: Engine) -> None:
    for i in range(10):
        await engine.values.set(NS, S, f"k{i % 3}", i)
    assert await _stored(engine) == [(4, False), (8, False)]
    projections = list(engine.projections)
    found = await engine.read_stream(NS, S)
    for version in range(1, 11):

        def fold(connection: sa.Connection, version: int = version) -> travel.Fold:
            return travel.plan(connection, engine.backend, engine.registry, projections, NS, S, [version])

        planned = await engine.read(fold)
        assert len(planned.upto(version)) < GRID  # a first read folds less than a grid's events
        with SessionAsOf(NS, S, found[:version], projections) as state:
            expected = read_state(state, found[version - 1].recorded_at)
        assert await engine.state_as_of(NS, S, version=version) == expected


async def test_a_session_erased_gets_no_grid_snapshot_back(
    database_url: str, clock: ManualClock, small_grid: None
) -> None:
    options = {"encrypted_namespaces": [NS], "snapshot_grid": True}
    async with Engine.open(database_url, migrate=False, clock=clock, **options) as engine:
        for i in range(3):
            await engine.values.set(NS, S, "k", i)
        erased = await engine.erase(NS, S)  # its `session_erased` event is at version 4: a grid point
        assert erased.version == GRID
        assert await _stored(engine) == []


async def test_the_keeper_carries_a_fold_from_one_look_to_the_next(
    database_url: str, clock: ManualClock, small_grid: None
) -> None:
    """Each look folds only the events since the grid point it laid before (`grid.CARRIED`), and
    what it lays equals the fold from the first event."""
    async with Engine.open(database_url, migrate=False, clock=clock, snapshot_grid=True) as engine:
        for i in range(1, 15):
            await engine.values.set(NS, S, f"k{i % 3}", i, ttl_seconds=60 if i % 2 else None)
            if i % 5 == 0:
                await engine.objects.upload(NS, S, f"o{i}", {"type": "thread", "thread": {}})
                await _stored(engine)  # a look between the grid points
        assert await _stored(engine) == [(4, False), (8, False), (12, False), (16, False)]
        assert await engine.verify_snapshots() == []
        found = await engine.read_stream(NS, S)
        projections = list(engine.projections)
        for version in range(1, len(found) + 1):
            with SessionAsOf(NS, S, found[:version], projections) as state:
                expected = read_state(state, found[version - 1].recorded_at)
            assert await engine.state_as_of(NS, S, version=version) == expected


async def test_a_session_erased_between_looks_gets_no_grid_snapshot_back(
    database_url: str, clock: ManualClock, small_grid: None
) -> None:
    """The fold the keeper carries for a session holds its plaintext: once the session is erased it
    is not carried on, and nothing it folded is stored."""
    options = {"encrypted_namespaces": [NS], "snapshot_grid": True}
    async with Engine.open(database_url, migrate=False, clock=clock, **options) as engine:
        for i in range(5):
            await engine.values.set(NS, S, "k", i)
        assert await _stored(engine) == [(4, False)]  # and the fold at 4 carried
        await engine.erase(NS, S)  # version 6; its snapshots dropped
        for i in range(3):
            await engine.values.set(NS, S, "k", i, recreate=True)  # past the grid point at 8
        assert await _stored(engine) == []
        assert await engine.verify_snapshots() == []
