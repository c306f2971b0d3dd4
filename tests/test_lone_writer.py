"""A lone writer trusts what it knows of the log only while nobody else has committed
(`Batches._seen_version`, SQLite's `data_version`): then its batch reads no head, and runs no
checkpoint UPDATE where the last one left the checkpoints level (`Batches._level`). Another engine
on the same file, a rebuild or an import on this one, a rolled-back or crashed foreign transaction
must each leave every append where the log says.

Whatever a lone engine's commands do (write, write nothing, be refused, crash among others) and
whatever runs between them (rebuilds, erasures, retention, expiry purges, restarts), every
projection's checkpoint stays level with the log: `projection_lag` says 0 throughout, and after a
restart the projections equal a rebuild (`verify`). A checkpoint left behind the events it has
applied makes the next open apply them again (counts twice what a rebuild finds)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any
from unittest import mock

import anyio
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule, run_state_machine_as_test

from session_engine.engine import Engine, EngineError, ManualClock, NewEvent
from session_engine.engine.catalog import catalog_domain
from session_engine.engine.projections.registry import LEVEL_WITH_HEAD
from session_engine.engine.retention.policy import RetentionPolicy
from session_engine.engine.unit_of_work import UnitOfWork
from tests.harness import EngineHarness, EngineMachine, in_one_batch
from tests.records.helpers import record
from tests.test_level_checkpoints import stored_checkpoints
from tests.test_write_path import TEST_DOMAIN, Explode

DOMAINS = [catalog_domain]  # the catalog holds each stream's version and last position: a stale head shows

GHOSTS = (
    "INSERT INTO events (position, namespace, stream, version, type, schema_version, data, metadata,"
    " recorded_at) SELECT position + 1000000, namespace, 'ghost-' || position, version, type,"
    " schema_version, data, metadata, recorded_at FROM events"
)
"""A copy of every event into a stream of its own, far past the head: written, never committed."""


def sqlite_path(url: str) -> str:
    return sa.make_url(url).database or ""


async def traced(engine: Engine) -> list[str]:
    """The statements the writer connection runs from now on (the job that installs the trace
    runs on the writer connection: its next batch starts from what it does not know)."""
    seen: list[str] = []

    def install(connection: sa.Connection) -> None:
        connection.connection.dbapi_connection.set_trace_callback(seen.append)  # type: ignore[union-attr]

    await engine._committer.exclusive(install, transaction=False)
    return seen


def reads_head(statements: list[str]) -> bool:
    return any("max(events.position)" in s for s in statements)


def advances_checkpoints(statements: list[str]) -> bool:
    return any(s.startswith("UPDATE projection_checkpoints") for s in statements)


@pytest.mark.anyio
async def test_a_lone_writer_reads_the_head_only_after_someone_else_committed(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL reads the head with the log lock, in the same round trip")
    async with (
        Engine.open(database_url, migrate=False) as first,
        Engine.open(database_url, migrate=False) as second,
    ):
        seen = await traced(first)
        await first.append("ns", "a", [NewEvent("noted", {})])  # after a job: from the log
        assert reads_head(seen) and advances_checkpoints(seen)
        seen.clear()
        await first.append("ns", "a", [NewEvent("noted", {})])
        await first.values.set("ns", "v", "k", 1)
        assert seen and not reads_head(seen) and not advances_checkpoints(seen)
        await second.append("ns", "b", [NewEvent("noted", {})])
        result = await first.append("ns", "a", [NewEvent("noted", {})], expected_version=2)
        assert reads_head(seen) and advances_checkpoints(seen)
        assert (result.first_position, result.first_version) == (5, 3)
        assert await first.verify() == []


@pytest.mark.anyio
async def test_a_foreign_rollback_and_a_crash_mid_transaction_change_nothing(database_url: str) -> None:
    """Another process writes pages of an append and rolls back, or dies before its commit: the
    log did not change, and the writer goes on from the head it knows."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's data_version")
    path = sqlite_path(database_url)
    crash = (
        "import os, sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('PRAGMA cache_size=1')\n"  # the pages spill into the WAL before any commit
        "c.execute('BEGIN IMMEDIATE')\n"
        f"c.execute({GHOSTS!r})\n"
        "os._exit(0)\n"
    )
    async with Engine.open(database_url, migrate=False, extra_domains=DOMAINS) as engine:
        for n in range(200):
            await engine.append("ns", f"s{n % 3}", [NewEvent("noted", {"pad": "x" * 500})])
        await engine.append("ns", "s0", [NewEvent("noted", {})])
        foreign = await anyio.to_thread.run_sync(sa.create_engine, database_url)
        try:
            with foreign.connect() as connection:
                connection.exec_driver_sql(GHOSTS)
                connection.rollback()
        finally:
            foreign.dispose()
        await anyio.to_thread.run_sync(
            lambda: subprocess.run([sys.executable, "-c", crash, path], check=True)
        )
        result = await engine.append("ns", "s0", [NewEvent("noted", {})], expected_version=68)
        assert (result.first_position, result.first_version) == (202, 69)
        assert await engine.verify() == []


@pytest.mark.anyio
async def test_a_new_writer_connection_trusts_nothing_of_the_last_ones(database_url: str) -> None:
    """Each connection counts from its own start (a fresh one says 2 whatever was committed
    before it): after the writer connection is replaced (as after a failed rollback), the count
    seen on the old one proves nothing."""
    async with (
        Engine.open(database_url, migrate=False) as first,
        Engine.open(database_url, migrate=False) as second,
    ):
        for _ in range(2):
            await first.append("ns", "a", [NewEvent("noted", {})])
        batches = first._committer._batches  # its thread is idle between commands
        assert batches._held is not None
        batches._held.invalidate()  # a broken connection, which the pool does not hand out again
        batches.release_connection()
        await second.append("ns", "b", [NewEvent("noted", {})])
        result = await first.append("ns", "a", [NewEvent("noted", {})], expected_version=2)
        assert (result.first_position, result.first_version) == (4, 3)
        assert await first.verify() == []


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("append"), st.integers(0, 1), st.integers(0, 2), st.integers(1, 3)),
            st.tuples(st.just("set"), st.integers(0, 1), st.integers(0, 2), st.integers(0, 1)),
            st.tuples(st.just("both"), st.integers(0, 1), st.integers(0, 2), st.integers(1, 2)),
            st.tuples(st.just("rebuild"), st.integers(0, 1), st.just(0), st.just(0)),
            st.tuples(st.just("nothing"), st.integers(0, 1), st.just(0), st.just(0)),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_two_engines_on_one_file_never_append_on_a_stale_head(
    database_url: str, steps: list[tuple[str, int, int, int]]
) -> None:
    """Two engines (two processes' worth) on one database take turns, or write at once, and
    rebuild: every append lands at the next position and its stream's next version (each is
    checked against an expected version), the chain verifies, and the projections equal a rebuild."""

    async def scenario() -> None:
        prefix = uuid.uuid4().hex[:8]
        async with (
            Engine.open(database_url, migrate=False, extra_domains=DOMAINS) as first,
            Engine.open(database_url, migrate=False, extra_domains=DOMAINS) as second,
        ):
            engines = [first, second]
            head = await first.head()
            versions = [0, 0, 0]

            async def append(side: int, stream: int, count: int) -> None:
                nonlocal head
                events = [NewEvent("noted", {"n": n}) for n in range(count)]
                name = f"{prefix}-{stream}"
                result = await engines[side].append("ns", name, events, expected_version=versions[stream])
                assert result.first_version == versions[stream] + 1
                versions[stream] += count
                head += count
                assert result.last_position == head

            for kind, side, stream, amount in steps:
                if kind == "append":
                    await append(side, stream, amount)
                elif kind == "set":
                    await engines[side].values.set("ns", f"{prefix}-{stream}", "k", amount)
                    versions[stream] += 1
                    head += 1
                elif kind == "both":  # one at a time per stream, racing for the log
                    async with anyio.create_task_group() as tasks:
                        for n in range(amount):
                            tasks.start_soon(
                                engines[n % 2].append, "ns", f"{prefix}-x{n}", [NewEvent("noted", {})]
                            )
                    head += amount
                elif kind == "nothing":  # a batch that writes no event
                    assert await engines[side].records.delete("ns", f"{prefix}-nobody") is False
                else:
                    await engines[side].rebuild(live=False)
            assert await second.head() == head
            for n, version in enumerate(versions):
                read = await first.read_stream("ns", f"{prefix}-{n}")
                assert [e.version for e in read] == list(range(1, version + 1))
            assert await first.verify() == []
            assert set(stored_checkpoints(database_url).values()) <= {LEVEL_WITH_HEAD, head}

    anyio.run(scenario)


NS = "private"
SIDS = st.sampled_from(["s1", "s2"])


@pytest.mark.anyio
async def test_a_batch_that_records_nothing_leaves_the_checkpoints_to_the_next(database_url: str) -> None:
    """The sequence the lifecycle machine found: a record delete with no record (a batch with no
    events), then a record set, then a restart: `session_status_counts` must count the session once."""
    async with Engine.open(database_url, migrate=False) as engine:
        assert await engine.records.delete(NS, "s1") is False
        await engine.records.set(NS, "s1", record("s1"))
        assert set((await engine.projection_lag()).values()) == {0}
    async with Engine.open(database_url, migrate=False) as engine:
        assert set((await engine.projection_lag()).values()) == {0}
        assert await engine.verify() == []


@pytest.mark.anyio
async def test_a_batch_that_records_nothing_after_another_process_rebuilt(database_url: str) -> None:
    """Another process's rebuild leaves the checkpoints at a concrete position; this writer's next
    batch writes nothing, the one after must still set them level with its events."""
    async with (
        Engine.open(database_url, migrate=False) as first,
        Engine.open(database_url, migrate=False) as second,
    ):
        await first.records.set(NS, "s1", record("s1"))
        await second.rebuild(live=False)
        assert await first.records.delete(NS, "nobody") is False
        await first.records.set(NS, "s2", record("s2"))
        assert set((await first.projection_lag()).values()) == {0}
    async with Engine.open(database_url, migrate=False) as engine:
        assert await engine.verify() == []


class LoneWriterMachine(EngineMachine):
    """Commands that write, write nothing or are refused, alone or sharing a batch, with jobs and
    restarts between them; the model is the log's head, which every checkpoint must follow."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        super().__init__(clock=self.clock, encrypted_namespaces=[NS], extra_domains=[TEST_DOMAIN])

    def attempt(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A command the model does not predict (a deleted session refuses it): either way,
        what it leaves must be consistent."""
        try:
            return self.call(function, *args, **kwargs)
        except EngineError as refused:
            return refused

    @rule(sid=SIDS)
    def append(self, sid: str) -> None:
        self.attempt(self.engine.append, NS, sid, [NewEvent("note", {})], recreate=True)

    @rule(sid=SIDS)
    def append_once(self, sid: str) -> None:
        """Repeated, an append with the same idempotency key records nothing."""
        self.attempt(self.engine.append, NS, sid, [NewEvent("note", {})], idempotency_key="once")

    @rule(sid=SIDS)
    def append_on_a_stale_version(self, sid: str) -> None:
        self.attempt(self.engine.append, NS, sid, [NewEvent("note", {})], expected_version=10_000)

    @rule(sid=SIDS, value=st.integers(0, 1), ttl=st.sampled_from([None, 5.0]))
    def set_value(self, sid: str, value: int, ttl: float | None) -> None:
        self.attempt(self.engine.values.set, NS, sid, "k", value, ttl_seconds=ttl, recreate=True)

    @rule(sid=SIDS)
    def delete_value(self, sid: str) -> None:
        self.attempt(self.engine.values.delete, NS, sid, "k")

    @rule(sid=SIDS)
    def set_record(self, sid: str) -> None:
        self.attempt(self.engine.records.set, NS, sid, record(sid))

    @rule(sid=SIDS)
    def delete_record(self, sid: str) -> None:
        self.attempt(self.engine.records.delete, NS, sid)

    @rule(sid=SIDS)
    def one_batch(self, sid: str) -> None:
        """A no-op, a refusal and a write share one batch."""
        self.call(
            in_one_batch,
            self.engine,
            [
                lambda: self.engine.records.delete(NS, "nobody"),
                lambda: self.engine.append(NS, sid, [NewEvent("note", {})], expected_version=10_000),
                lambda: self.engine.append(NS, sid, [NewEvent("note", {})], recreate=True),
            ],
        )

    @rule(sid=SIDS)
    def crash_in_a_batch(self, sid: str) -> None:
        """A command crashes: the batch rolls back and runs again without it."""
        self.call(
            in_one_batch,
            self.engine,
            [
                lambda: self.engine.append(NS, sid, [NewEvent("note", {})], recreate=True),
                lambda: self.engine.execute(Explode(namespace=NS, stream=sid)),
            ],
        )

    @rule(sid=SIDS)
    def fault_after_begin(self, sid: str) -> None:
        """The write path fails after the batch began (a bug writing it): nothing is written."""

        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("bug in the write path")

        with mock.patch.object(UnitOfWork, "finish", broken):
            self.attempt(self.engine.append, NS, sid, [NewEvent("note", {})], recreate=True)

    @rule()
    def expire_and_purge(self) -> None:
        self.clock.advance(10)
        self.attempt(self.engine.values.purge_expired, NS)

    @rule(sid=SIDS)
    def erase(self, sid: str) -> None:
        self.attempt(self.engine.erase, NS, sid)

    @rule(keep=st.sampled_from([None, 1]))
    def retain(self, keep: int | None) -> None:
        self.attempt(self.engine.retain, [RetentionPolicy(NS, keep_last=keep, purge_expired=True)])

    @rule()
    def rebuild(self) -> None:
        self.call(self.engine.rebuild, live=False)

    @rule()
    def restart(self) -> None:
        self.engine = self.harness.restart()

    @invariant()
    def every_checkpoint_follows_the_head(self) -> None:
        lag = self.call(self.engine.projection_lag)
        assert set(lag.values()) <= {0}, lag

    def teardown(self) -> None:
        self.engine = self.harness.restart()  # the open catches up from the checkpoints
        super().teardown()


def test_checkpoints_stay_level_through_any_lone_sequence(harness: Callable[..., EngineHarness]) -> None:
    class Machine(LoneWriterMachine):
        make = staticmethod(harness)

    run_state_machine_as_test(Machine)
