"""Checkpoints that follow the log's head (`LEVEL_WITH_HEAD`, specs/engine-core.md "Projections"):
a writer's projections need no checkpoint write per commit, and a projection that some writer does
not maintain is still caught up on the events it missed."""

from __future__ import annotations

import anyio
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from session_engine.engine import Engine, ManualClock, NewEvent
from session_engine.engine.catalog import catalog_domain, streams
from session_engine.engine.log.schema import checkpoints
from session_engine.engine.projections.registry import LEVEL_WITH_HEAD


def stored_checkpoints(url: str) -> dict[str, int]:
    """The checkpoints' positions as stored, read below the engine."""
    direct = sa.create_engine(url)
    try:
        with direct.connect() as connection:
            rows = connection.execute(sa.select(checkpoints.c.name, checkpoints.c.position)).all()
    finally:
        direct.dispose()
    return {name: int(position) for name, position in rows}


@pytest.mark.anyio
async def test_a_writers_checkpoints_follow_the_head_and_read_as_it(database_url: str) -> None:
    """After commits, every checkpoint of the writer's projections is stored as following the
    head, and every reader of checkpoints (status, lag) sees the head there."""
    async with Engine.open(database_url, migrate=False) as engine:
        for n in range(3):
            await engine.append("ns", f"s{n}", [NewEvent("noted", {"n": n})])
        await engine.values.set("ns", "s0", "k", 1)
        stored = stored_checkpoints(database_url)
        assert stored and set(stored.values()) == {LEVEL_WITH_HEAD}
        status = await engine.status()
        assert {c["position"] for c in status["projections"].values()} == {4}
        assert set((await engine.projection_lag()).values()) == {0}


@pytest.mark.anyio
async def test_a_rebuilt_checkpoint_follows_the_head_again_at_the_next_commit(database_url: str) -> None:
    async with Engine.open(database_url, migrate=False) as engine:
        await engine.values.set("ns", "s", "k", 1)
        await engine.rebuild(["values"], live=False)
        assert stored_checkpoints(database_url)["values"] == 1
        await engine.values.set("ns", "s", "k", 2)
        assert stored_checkpoints(database_url)["values"] == LEVEL_WITH_HEAD
        assert (await engine.values.get("ns", "s", "k")).value == 2  # type: ignore[union-attr]
        assert await engine.verify() == []


@pytest.mark.anyio
async def test_a_domain_the_writer_lacks_catches_up_on_what_it_wrote(
    database_url: str, clock: ManualClock
) -> None:
    """An engine without the catalog appends after one with it: the catalog's checkpoint, left
    following the head, is pinned before those events, and the next engine with the catalog
    catches it up on them instead of taking it as level."""
    catalog = [catalog_domain]
    async with Engine.open(database_url, migrate=False, clock=clock, extra_domains=catalog) as engine:
        await engine.append("ns", "a", [NewEvent("noted", {}), NewEvent("noted", {})])
    assert stored_checkpoints(database_url)["streams"] == LEVEL_WITH_HEAD
    async with Engine.open(database_url, migrate=False, clock=clock) as engine:
        await engine.append("ns", "b", [NewEvent("noted", {})])
        await engine.append("ns", "a", [NewEvent("noted", {})])
    assert stored_checkpoints(database_url)["streams"] == 2
    async with Engine.open(database_url, migrate=False, clock=clock, extra_domains=catalog) as engine:
        rows = await engine.read(lambda c: c.execute(sa.select(streams).order_by(streams.c.stream)).all())
        assert [(r.stream, r.version, r.last_position) for r in rows] == [("a", 3, 4), ("b", 1, 3)]
        assert await engine.verify() == []


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(runs=st.lists(st.tuples(st.booleans(), st.integers(0, 3)), min_size=1, max_size=4))
def test_any_order_of_writers_with_and_without_a_domain_leaves_it_right(
    database_url: str, runs: list[tuple[bool, int]]
) -> None:
    """Engines with and without the catalog take turns appending (each a process's lifetime): an
    engine with the catalog then always finds it equal to a rebuild from the log."""

    async def scenario() -> None:
        for with_catalog, appends in runs:
            domains = [catalog_domain] if with_catalog else []
            async with Engine.open(database_url, migrate=False, extra_domains=domains) as engine:
                for n in range(appends):
                    await engine.append("ns", f"s{n % 2}", [NewEvent("noted", {"n": n})])
        async with Engine.open(database_url, migrate=False, extra_domains=[catalog_domain]) as engine:
            assert await engine.verify() == []
            stored = stored_checkpoints(database_url)
            head = await engine.head()
            assert all(p in (LEVEL_WITH_HEAD, head) for p in stored.values())

    anyio.run(scenario)
