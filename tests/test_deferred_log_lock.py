"""A write batch begun before it takes the log lock (engine/pending_lock.py, PostgreSQL).

Once a process has written the head, its batches send BEGIN, the lock, a check of the head and
their writes in one round trip. These tests have another engine (as another process would) append
between two batches of the first: every decision must still see the other's events, the positions
stay gap-free and the chain whole. On SQLite the lock is always taken first; the same rules hold.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from session_engine.engine import Engine, NewEvent, WrongExpectedVersion
from session_engine.engine.backends import Backend
from session_engine.engine.projections.base import ProjectionContext

pytestmark = pytest.mark.anyio


async def warm(engine: Engine, stream: str, count: int = 3) -> None:
    """A few batches of this engine's own: it now knows the head it wrote."""
    for i in range(count):
        await engine.append("ns", stream, [NewEvent("noted", {"i": i})])


async def test_an_append_after_another_process_lands_after_its_events(database_url: str) -> None:
    async with (
        Engine.open(database_url, migrate=False) as first,
        Engine.open(database_url, migrate=False) as second,
    ):
        await warm(first, "a")
        await second.append("ns", "a", [NewEvent("noted", {"i": 3})], expected_version=3)
        # `first` still believes the stream is at version 3 and the head at 3.
        with pytest.raises(WrongExpectedVersion):
            await first.append("ns", "a", [NewEvent("noted", {"i": 99})], expected_version=3)
        result = await first.append("ns", "a", [NewEvent("noted", {"i": 4})], expected_version=4)
        assert (result.first_version, result.first_position) == (5, 5)
        await second.append("ns", "b", [NewEvent("noted", {})])
        unconditional = await first.append("ns", "a", [NewEvent("noted", {"i": 5})])
        assert (unconditional.first_version, unconditional.first_position) == (6, 7)
        log = await first.read_all(after=0, limit=100)
        assert [e.position for e in log] == list(range(1, 8))
        assert [e.data["i"] for e in await second.read_stream("ns", "a")] == list(range(6))
        checked = await first.verify_chain()
        assert checked.ok and checked.head == 7, checked.reason


async def test_a_refusal_from_a_stale_version_is_decided_again(database_url: str) -> None:
    """`first` would refuse from its cached version (3) an expected version that is right (4): the
    refusal is a decision like any other, checked under the lock before it is answered."""
    async with (
        Engine.open(database_url, migrate=False) as first,
        Engine.open(database_url, migrate=False) as second,
    ):
        await warm(first, "a")
        await second.append("ns", "a", [NewEvent("noted", {"i": 3})])
        result = await first.append("ns", "a", [NewEvent("noted", {"i": 4})], expected_version=4)
        assert (result.first_version, result.first_position) == (5, 5)


async def test_a_decision_that_reads_sees_the_other_process_write(database_url: str) -> None:
    """A value set reads the session's entry first: the lock goes with that read, and the read
    sees what the other engine set; the read models stay what a replay makes."""
    async with (
        Engine.open(database_url, migrate=False) as first,
        Engine.open(database_url, migrate=False) as second,
    ):
        for n in range(3):
            await first.values.set("ns", "s", "k", {"n": n})
        await second.values.set("ns", "s", "k", {"n": "second"})
        await second.values.set("ns", "s", "other", {"n": 1})
        await first.values.set("ns", "s", "k", {"n": "first"})
        found = await second.values.get("ns", "s", "k")
        assert found is not None and found.value == {"n": "first"}
        assert set(await first.values.get_all("ns", "s")) == {"k", "other"}
        assert await first.verify() == []
        assert (await first.verify_chain()).ok


async def test_an_idempotent_retry_after_another_process_appended_is_answered_once(database_url: str) -> None:
    async with (
        Engine.open(database_url, migrate=False) as first,
        Engine.open(database_url, migrate=False) as second,
    ):
        await warm(first, "a")
        done = await first.append("ns", "a", [NewEvent("noted", {"i": 3})], idempotency_key="k1")
        await second.append("ns", "b", [NewEvent("noted", {})])
        again = await first.append("ns", "a", [NewEvent("noted", {"i": 3})], idempotency_key="k1")
        assert again.repeated and again.first_position == done.first_position
        assert await first.head() == 5


def test_projection_writes_keep_their_order_across_statements(database_url: str) -> None:
    """Writes of different statements wait for one flush; they run in the order they were queued
    (a re-insert after a delete would otherwise conflict)."""
    backend = Backend.for_url(database_url)
    engine = backend.create_engine(writer=True)
    table = sa.Table(
        "ordered", sa.MetaData(), sa.Column("k", sa.Integer, primary_key=True), sa.Column("v", sa.Integer)
    )
    try:
        with engine.begin() as connection:
            table.create(connection)
            context = ProjectionContext(connection, backend)
            delete = table.delete().where(table.c.k == sa.bindparam("key"))
            context.execute(table.insert(), {"k": 1, "v": 1})
            context.execute(table.insert(), {"k": 2, "v": 1})
            context.execute(delete, {"key": 1})
            context.execute(table.insert(), {"k": 1, "v": 2})
            context.execute_sql(f"UPDATE ordered SET v = v + 10 WHERE k = {backend.mark}", (2,))
            context.execute(delete, {"key": 2})
            assert not context.holds_driver_sql
            rows = context.read(sa.select(table.c.k, table.c.v).order_by(table.c.k))
        assert list(rows) == [(1, 2)]
    finally:
        engine.dispose()
