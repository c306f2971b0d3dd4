"""Purging expired values: the rows go, by recorded events; nothing a client sees changes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from session_engine.engine import Engine, ManualClock, ValidationFailed
from session_engine.engine.values.tables import value_entries

pytestmark = pytest.mark.anyio
NS = "tenant"


async def rows(engine: Engine, namespace: str = NS) -> list[tuple[str, str]]:
    query = sa.select(value_entries.c.session_id, value_entries.c.key).where(
        value_entries.c.namespace == namespace
    )
    return sorted(tuple(row) for row in await engine.read(lambda c: list(c.execute(query))))


async def test_expired_rows_go_by_one_event_per_session(engine: Engine, clock: ManualClock) -> None:
    await engine.values.set(NS, "s1", "short", 1, ttl_seconds=5)
    await engine.values.set(NS, "s1", "long", 2, ttl_seconds=500)
    await engine.values.set(NS, "s1", "forever", 3)
    await engine.values.set(NS, "s2", "short", 4, ttl_seconds=5)
    await engine.values.set("other", "s1", "short", 5, ttl_seconds=5)
    clock.advance(5)  # at the instant of expiry a value is expired
    listed = await engine.values.list_sessions(NS)
    head = await engine.head()

    assert await engine.values.purge_expired(NS) == 2
    assert await rows(engine) == [("s1", "forever"), ("s1", "long")]
    assert await rows(engine, "other") == [("s1", "short")]  # another namespace: untouched
    assert await engine.values.get_all(NS, "s1") == {"forever": 3, "long": 2}
    assert await engine.values.list_sessions(NS) == listed  # nothing visible changed, not even times
    purges = [e for e in await engine.read_all(after=head) if e.type == "values_expired"]
    assert sorted((e.stream, e.data["keys"]) for e in purges) == [("s1", ["short"]), ("s2", ["short"])]
    assert await engine.values.purge_expired(NS) == 0  # nothing left: nothing recorded
    assert await engine.head() == head + 2
    assert await engine.verify() == []
    state = await engine.state_as_of(NS, "s1", position=head)  # history still has the value
    assert sorted(state.values) == ["forever", "long", "short"]


async def test_purge_of_every_namespace_and_in_portions(engine: Engine, clock: ManualClock) -> None:
    for namespace in ("a", "b"):
        for i in range(3):
            await engine.values.set(namespace, f"s{i}", "k", i, ttl_seconds=1)
    clock.advance(2)
    assert await engine.values.purge_expired(sessions=4) == 4
    assert await engine.values.purge_expired(sessions=4) == 2
    assert await engine.values.purge_expired() == 0
    assert await rows(engine, "a") == [] and await rows(engine, "b") == []
    with pytest.raises(ValidationFailed):
        await engine.values.purge_expired(sessions=0)
    with pytest.raises(ValidationFailed):
        await engine.values.purge_expired("")


async def test_a_purge_and_a_write_of_the_key_in_one_batch(engine: Engine, clock: ManualClock) -> None:
    """A key rewritten just before the purge runs is live again: the purge leaves it alone."""
    import anyio

    await engine.values.set(NS, "s1", "k", "old", ttl_seconds=1)
    clock.advance(1)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(engine.values.set, NS, "s1", "k", "new")
        tasks.start_soon(engine.values.purge_expired, NS)
    assert await engine.values.get_all(NS, "s1") == {"k": "new"}
    assert await rows(engine) == [("s1", "k")]
    assert await engine.verify() == []
