"""A decision read answered from the rows the writer kept of it, checked under the log lock
(engine/stream_versions.py's `BatchReads`, engine/backends/postgres_guesses.py): PostgreSQL.

A replacing set then costs one round trip. Whatever changed the read's rows since (another
process, the clock, a write to the read models that moves no head), the answer and the state are
the ones a read under the lock gives: refusals included.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import strategies as st
from hypothesis.stateful import rule, run_state_machine_as_test
from psycopg import pq

from session_engine.engine import Engine, ManualClock
from session_engine.engine.backends import Backend
from session_engine.engine.values import DURABLE, Policies
from session_engine.engine.values.errors import SessionEnded, StoreOutOfEntries
from tests.harness import EngineHarness
from tests.values.machine import machine_settings
from tests.values.test_durable_machine import DurableMachine

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]
NS, SID = "tenant", "thread-1"


@pytest.fixture
def backend() -> str:
    return "postgres"


async def round_trips(engine: Engine, work: Callable[[], Awaitable[Any]], path: Path) -> int:
    """The round trips the writer connection made during `work`: its Syncs and simple queries,
    in libpq's trace."""
    held: Any = engine._committer._batches._held
    pgconn = held.connection.dbapi_connection.pgconn
    with path.open("w") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            await work()
        finally:
            pgconn.untrace()
    sent = [line.split("\t") for line in path.read_text().splitlines()]
    return sum(fields[0] == "F" and fields[2] in ("Sync", "Query") for fields in sent if len(fields) > 2)


@pytest.fixture
def read_models(database_url: str) -> Iterator[sa.Engine]:
    """Another connection to the database, writing the read models as no engine would."""
    engine = Backend.for_url(database_url).create_engine(writer=False)
    yield engine
    engine.dispose()


async def test_a_replacing_set_is_one_round_trip(database_url: str, tmp_path: Path) -> None:
    async with Engine.open(database_url, migrate=False, durability="off") as engine:
        await engine.values.set(NS, SID, "k", 0)
        await engine.values.set(NS, SID, "k", 1)
        for n in range(3):
            replace = lambda n=n: engine.values.set(NS, SID, "k", n)  # noqa: E731
            assert await round_trips(engine, replace, tmp_path / "t") == 1
        # A key no batch has read yet: its read goes with the lock, the writes after it.
        assert await round_trips(engine, lambda: engine.values.set(NS, SID, "new", 1), tmp_path / "t") == 2
        assert await round_trips(engine, lambda: engine.values.set(NS, SID, "new", 2), tmp_path / "t") == 1
        assert await engine.values.get_all(NS, SID) == {"k": 2, "new": 2}
        events = await engine.read_stream(NS, SID)
        assert [e.data["replaced"] for e in events] == [False, True, True, True, True, False, True]
        assert await engine.verify() == []


async def test_another_process_writing_the_key_between_two_sets(database_url: str) -> None:
    async with (
        Engine.open(database_url, migrate=False) as first,
        Engine.open(database_url, migrate=False) as second,
    ):
        for n in range(3):
            await first.values.set(NS, SID, "k", n)
        assert await second.values.delete(NS, SID, "k") is True
        await first.values.set(NS, SID, "k", "again")  # its kept rows say "k" is there: it is not
        await second.values.set(NS, SID, "k", "second")
        await first.values.set(NS, SID, "k", "first")
        events = await first.read_stream(NS, SID)
        assert [(e.type, e.data.get("replaced")) for e in events][-4:] == [
            ("value_deleted", None),
            ("value_set", False),
            ("value_set", True),
            ("value_set", True),
        ]
        assert await second.values.get_all(NS, SID) == {"k": "first"}
        assert await first.verify() == []


async def test_a_key_expiring_between_two_sets_is_judged_at_the_second(database_url: str) -> None:
    """The kept rows were read at the first set's instant; the second decides at its own. A
    refusal the kept rows would make (two live entries, the limit) is checked too: "a" expired."""
    clock = ManualClock()
    async with Engine.open(database_url, migrate=False, durability="off", clock=clock) as engine:
        engine.values.policies = Policies(durable=DURABLE.__class__(**{**DURABLE.__dict__, "max_entries": 2}))
        await engine.values.set(NS, SID, "a", 1, ttl_seconds=10)
        await engine.values.set(NS, SID, "b", 1)
        with pytest.raises(StoreOutOfEntries):
            await engine.values.set(NS, SID, "c", 1)
        with pytest.raises(StoreOutOfEntries):
            await engine.values.set(NS, SID, "c", 1)  # refused from kept rows, still right
        clock.advance(10)
        await engine.values.set(NS, SID, "c", 2)
        with pytest.raises(StoreOutOfEntries):
            await engine.values.set(NS, SID, "a", 2)  # "b" and "c" are live
        await engine.values.set(NS, SID, "b", 2, ttl_seconds=5)
        await engine.values.set(NS, SID, "b", 3, ttl_seconds=5)  # kept rows: "b" live, and it is
        clock.advance(5)
        await engine.values.set(NS, SID, "b", 4)  # kept rows: "b" live; it expired: adds a key
        assert await engine.values.get_all(NS, SID) == {"b": 4, "c": 2}
        events = await engine.read_stream(NS, SID)
        assert [(e.data["key"], e.data["replaced"]) for e in events] == [
            ("a", False),
            ("b", False),
            ("c", False),
            ("b", True),
            ("b", True),
            ("b", False),
        ]
        assert await engine.verify() == []


async def test_a_change_that_moves_no_head_is_caught(database_url: str, read_models: sa.Engine) -> None:
    """The read models changed without an append (as a rebuild or a restore might): a decision
    from kept rows, acceptance or refusal, is made again from what the read finds under the lock."""
    status = "UPDATE value_sessions SET status = %(status)s WHERE namespace = %(ns)s AND session_id = %(sid)s"
    async with Engine.open(database_url, migrate=False, durability="off") as engine:
        await engine.values.set(NS, SID, "k", 0)
        await engine.values.set(NS, SID, "k", 1)
        with read_models.begin() as connection:
            connection.exec_driver_sql(status, {"status": "ended", "ns": NS, "sid": SID})
        with pytest.raises(SessionEnded):
            await engine.values.set(NS, SID, "k", 2)
        with pytest.raises(SessionEnded):
            await engine.values.set(NS, SID, "k", 2)
        with read_models.begin() as connection:
            connection.exec_driver_sql(status, {"status": "active", "ns": NS, "sid": SID})
        await engine.values.set(NS, SID, "k", 3)  # the kept rows say "ended": it is active again
        assert await engine.values.get_all(NS, SID) == {"k": 3}
        assert await engine.verify() == []


class TwoEngines(DurableMachine):
    """The durable machine's sets, deletes, clears, purges and clock, each step run by one of two
    engines on one database (as two processes would): every answer and the state as the model's."""

    def __init__(self) -> None:
        super().__init__()
        harness = self.harness
        manager = harness._portal.wrap_async_context_manager(
            Engine.open(harness.url, migrate=False, clock=self.clock, durability="off")
        )
        second = harness._stack.enter_context(manager)
        second.values.policies = self.policies
        self.engines = [self.engine, second]

    @rule(which=st.sampled_from([0, 1]))
    def switch_engine(self, which: int) -> None:
        self.engine = self.engines[which]

    @rule(key=st.sampled_from(["a", "b"]), ttl=st.sampled_from([None, 1, 2]))
    def set_again(self, key: str, ttl: int | None) -> None:
        """The same few reads, often: most are answered from kept rows, some after an expiry."""
        self.write("thread-1", key, ttl, None if ttl is None else ("ttl", ttl))


def test_two_engines_interleaving_match_the_model(harness: Callable[..., EngineHarness]) -> None:
    class Machine(TwoEngines):
        make = staticmethod(harness)

    run_state_machine_as_test(Machine, settings=machine_settings())
