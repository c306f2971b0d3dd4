"""The write path: group commit, per-command isolation inside a batch, serial decisions per session."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import anyio
import pytest
import sqlalchemy as sa

from session_engine.engine import (
    Command,
    CommandFailed,
    Decision,
    Engine,
    EngineClosed,
    EngineError,
    NewEvent,
    writes,
)
from session_engine.engine.bridge import AnyioBridge
from session_engine.engine.commands import AppendEvents, CommandHandlers
from session_engine.engine.log.records import AppendResult
from session_engine.engine.modules import Domain
from session_engine.engine.projections.base import Projection
from session_engine.engine.unit_of_work import UnitOfWork

pytestmark = pytest.mark.anyio


@dataclass(frozen=True, kw_only=True)
class Explode(Command):
    """A command whose handler has a bug."""


@dataclass(frozen=True, kw_only=True)
class Refuse(Command):
    """A command that is refused by its handler."""


@dataclass(frozen=True, kw_only=True)
class CountUp(Command):
    """Appends the stream's next counter value: a decision that reads state."""


class Refused(EngineError):
    code = "refused"


test_handlers = CommandHandlers()


@test_handlers.register(Explode)
def _explode(command: Explode, state: UnitOfWork) -> Decision[None]:
    raise RuntimeError("bug")


@test_handlers.register(Refuse)
def _refuse(command: Refuse, state: UnitOfWork) -> Decision[None]:
    raise Refused("no")


@test_handlers.register(CountUp)
def _count_up(command: CountUp, state: UnitOfWork) -> Decision[int]:
    current = state.stream_version(command.namespace, command.stream)
    return Decision(events=[NewEvent("counted", {"n": current + 1})], result=current + 1)


TEST_DOMAIN = Domain("write-path-tests", handlers=test_handlers)


@pytest.fixture
async def test_engine(database_url: str) -> Engine:  # type: ignore[misc]
    async with Engine.open(database_url, migrate=False, extra_domains=[TEST_DOMAIN]) as engine:
        yield engine


async def test_concurrent_commands_share_transactions(test_engine: Engine) -> None:
    async def write(i: int) -> None:
        for _ in range(20):
            await test_engine.append("ns", f"s{i}", [NewEvent("noted", {"i": i})])

    async with anyio.create_task_group() as tasks:
        for i in range(32):
            tasks.start_soon(write, i)
    stats = test_engine.stats
    assert stats["commands"] == 640
    assert stats["batches"] < 640 / 4, stats  # group commit: many commands per transaction
    assert await test_engine.head() == 640


async def test_appending_through_execute_answers_with_an_outcome(test_engine: Engine) -> None:
    """`Engine.append` answers with the `AppendResult`; the same command through `execute` answers
    with the whole `Outcome`, a repeat of its idempotency key included."""
    command = AppendEvents(
        namespace="ns",
        stream="s",
        events=[NewEvent("noted", {"n": 1}), NewEvent("noted", {"n": 2})],
        idempotency_key="k1",
    )
    first = await test_engine.execute(command)
    assert first.result is None and not first.repeated
    assert [(e.version, e.data) for e in first.events] == [(1, {"n": 1}), (2, {"n": 2})]
    assert first.append == AppendResult("ns", "s", 1, 2, 1, 2, False)
    again = await test_engine.execute(command)
    assert again.repeated and again.append == AppendResult("ns", "s", 1, 2, 1, 2, True)
    assert [e.position for e in again.events] == [1, 2]
    appended = await test_engine.append("ns", "s", [NewEvent("noted", {"n": 2})], idempotency_key="k1")
    assert appended == AppendResult("ns", "s", 1, 2, 1, 2, True)
    assert await test_engine.head() == 2


async def test_a_wave_of_writers_is_committed_whole(test_engine: Engine) -> None:
    """Writers woken by one batch's answers write again in one wave: the committer takes the wave
    as one batch once those tasks have run (not the first command alone, then the rest)."""

    async def write(i: int) -> None:
        for _ in range(10):
            await test_engine.append("ns", f"s{i}", [NewEvent("noted", {"i": i})])

    async with anyio.create_task_group() as tasks:
        for i in range(64):
            tasks.start_soon(write, i)
    stats = test_engine.stats
    assert stats["commands"] == 640
    assert stats["batches"] == 10, stats


async def test_commands_queued_as_the_engine_closes_still_run(database_url: str) -> None:
    """Commands queued in the same moment the engine begins to close (gathered on the loop, not yet
    handed to the writer) are committed and answered; a command after that is refused."""
    results: list[int] = []
    async with Engine.open(database_url, migrate=False) as engine:

        async def write(i: int) -> None:
            results.append((await engine.append("ns", f"s{i}", [NewEvent("noted", {})])).first_position)

        async with anyio.create_task_group() as tasks:
            for i in range(8):
                tasks.start_soon(write, i)
            await anyio.lowlevel.checkpoint()  # the writers have queued their commands
            await engine._committer.close()
        with pytest.raises(EngineClosed):
            await engine.append("ns", "late", [NewEvent("noted", {})])
    assert sorted(results) == list(range(1, 9))


async def test_a_crashing_command_fails_alone(test_engine: Engine) -> None:
    outcomes: dict[str, object] = {}

    async def run(name: str, command: Command) -> None:
        try:
            outcomes[name] = await test_engine.execute(command)
        except EngineError as error:
            outcomes[name] = error

    async with anyio.create_task_group() as tasks:
        for i in range(10):
            tasks.start_soon(run, f"good{i}", CountUp(namespace="ns", stream=f"s{i}"))
        tasks.start_soon(run, "bug", Explode(namespace="ns", stream="x"))
        tasks.start_soon(run, "no", Refuse(namespace="ns", stream="y"))
        for i in range(10, 20):
            tasks.start_soon(run, f"good{i}", CountUp(namespace="ns", stream=f"s{i}"))
    assert isinstance(outcomes.pop("bug"), CommandFailed)
    assert isinstance(outcomes.pop("no"), Refused)
    assert all(not isinstance(o, Exception) for o in outcomes.values())
    assert await test_engine.head() == 20
    assert await test_engine.read_stream("ns", "x") == []
    assert await test_engine.verify() == []


async def test_decisions_on_one_session_never_interleave(test_engine: Engine) -> None:
    results: list[int] = []

    async def bump() -> None:
        outcome = await test_engine.execute(CountUp(namespace="ns", stream="counter"))
        results.append(outcome.result)

    async with anyio.create_task_group() as tasks:
        for _ in range(50):
            tasks.start_soon(bump)
    assert sorted(results) == list(range(1, 51))
    assert [e.data["n"] for e in await test_engine.read_stream("ns", "counter")] == list(range(1, 51))


async def test_a_foreign_writer_invalidates_cached_versions(test_engine: Engine) -> None:
    """Another process appended behind the committer's back: its cached stream versions are dropped."""
    await test_engine.append("ns", "raced", [NewEvent("noted", {})])

    # Simulate a foreign writer: bump the stream behind the committer's cached version.
    def sneak(connection: sa.Connection) -> None:
        from session_engine.engine.log.schema import events

        with connection.begin():
            found = connection.execute(sa.select(events).where(events.c.position == 1)).one()
            row = {column.key: found[i] for i, column in enumerate(events.columns)}
            row.update(position=2, version=2)
            connection.execute(events.insert(), [row])

    await test_engine.read(sneak)
    # The committer notices the head moved and re-reads versions, so this lands at version 3.
    result = await test_engine.append("ns", "raced", [NewEvent("noted", {})], expected_version=2)
    assert (result.first_version, result.first_position) == (3, 3)


async def one_bad_among_good(engine: Engine, bad_type: str, *, good: int) -> object:
    """Append `good` `noted` events to streams good0.. and one `bad_type` event to stream "bad",
    concurrently (so they share batches); every good one must land. Returns the bad one's outcome."""
    outcomes: dict[str, object] = {}

    async def run(name: str, event_type: str) -> None:
        try:
            outcomes[name] = await engine.append("ns", name, [NewEvent(event_type, {})])
        except EngineError as error:
            outcomes[name] = error

    async with anyio.create_task_group() as tasks:
        for i in range(good):
            tasks.start_soon(run, f"good{i}", "noted")
            if i == good // 2:
                tasks.start_soon(run, "bad", bad_type)
    bad = outcomes.pop("bad")
    assert all(not isinstance(o, Exception) for o in outcomes.values()), outcomes
    return bad


_REFUSE_FORBIDDEN = {
    "sqlite": [
        "CREATE TRIGGER refuse_forbidden BEFORE INSERT ON events WHEN NEW.type = 'forbidden'"
        " BEGIN SELECT RAISE(ABORT, 'forbidden event'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_forbidden() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN IF NEW.type = 'forbidden' THEN RAISE EXCEPTION 'forbidden event'; END IF;"
        " RETURN NEW; END $$",
        "CREATE TRIGGER refuse_forbidden BEFORE INSERT ON events FOR EACH ROW"
        " EXECUTE FUNCTION refuse_forbidden()",
    ],
}


async def test_a_write_the_database_refuses_fails_alone(test_engine: Engine) -> None:
    """The database refuses one command's events at commit time (PostgreSQL: in the batch's bulk
    COPY of 21 rows): that command fails with a clear error, every other command of the batch lands."""

    def install(connection: sa.Connection) -> None:
        with connection.begin():
            for statement in _REFUSE_FORBIDDEN[connection.dialect.name]:
                connection.exec_driver_sql(statement)

    await test_engine.read(install)
    refused = await one_bad_among_good(test_engine, "forbidden", good=20)
    assert isinstance(refused, CommandFailed) and "forbidden event" in str(refused)
    assert await test_engine.head() == 20
    assert [e.version for e in await test_engine.read_stream("ns", "good19")] == [1]
    assert await test_engine.verify() == []


async def test_two_engines_on_one_database_share_the_log(database_url: str) -> None:
    """Two engines (two processes' worth) append to one database at once: every append lands,
    none is refused for a position the other took, and positions stay gap-free."""
    async with (
        Engine.open(database_url, migrate=False) as first,
        Engine.open(database_url, migrate=False) as second,
    ):

        async def write(engine: Engine, name: str) -> None:
            for i in range(30):
                await engine.append("ns", name, [NewEvent("noted", {"i": i})])

        async with anyio.create_task_group() as tasks:
            for i in range(4):
                tasks.start_soon(write, first, f"a{i}")
                tasks.start_soon(write, second, f"b{i}")
        log = await first.read_all(after=0, limit=1000)
        assert [e.position for e in log] == list(range(1, 241))
        for name in [f"{side}{i}" for side in "ab" for i in range(4)]:
            assert [e.data["i"] for e in await second.read_stream("ns", name)] == list(range(30))


async def test_the_backend_neutral_bridge_serves_the_write_path(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer thread answers through anyio's own primitives when the loop is not asyncio's
    (trio): forced here on asyncio, commands, a rebuild between batches and a refusal all answer."""
    monkeypatch.setattr(writes, "current_bridge", AnyioBridge)
    async with Engine.open(database_url, migrate=False, extra_domains=[TEST_DOMAIN]) as engine:
        async with anyio.create_task_group() as tasks:
            for i in range(16):
                tasks.start_soon(engine.append, "ns", f"s{i}", [NewEvent("noted", {"i": i})])
        assert await engine.head() == 16
        await engine.rebuild()  # a job on the writer connection, between batches
        assert await engine.verify() == []
        with pytest.raises(Refused):
            await engine.execute(Refuse(namespace="ns", stream="y"))
        outcome = await engine.execute(CountUp(namespace="ns", stream="s0"))
        assert outcome.result == 2 and outcome.events[0].position == 17


async def test_a_fault_in_the_write_path_fails_its_batch_not_the_engine(
    test_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug outside any command (here: writing the batch) answers the batch's callers with
    CommandFailed and writes nothing; the writer thread goes on serving the next batches."""
    original = UnitOfWork.finish
    faults = [RuntimeError("bug in the write path")]

    def finish_once_broken(self: UnitOfWork, *args: object, **kwargs: object) -> None:
        if faults:
            raise faults.pop()
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(UnitOfWork, "finish", finish_once_broken)
    with pytest.raises(CommandFailed):
        await test_engine.append("ns", "first", [NewEvent("noted", {})])
    result = await test_engine.append("ns", "second", [NewEvent("noted", {})])
    assert (result.first_position, result.first_version) == (1, 1)
    assert await test_engine.read_stream("ns", "first") == []
    assert await test_engine.verify() == []


async def test_a_cancelled_caller_leaves_its_batch_unharmed(test_engine: Engine) -> None:
    """Cancelling one waiting caller neither cancels nor fails the others of its batch (its own
    command may still commit: it was already queued)."""
    results: list[int] = []

    async def write(i: int) -> None:
        result = await test_engine.append("ns", f"s{i}", [NewEvent("noted", {})])
        results.append(result.first_version)

    async with anyio.create_task_group() as tasks:
        with anyio.CancelScope() as doomed:
            doomed.cancel()
            tasks.start_soon(write, 99)
        for i in range(10):
            tasks.start_soon(write, i)
        async with anyio.create_task_group() as inner:
            inner.start_soon(write, 100)
            await anyio.sleep(0)
            inner.cancel_scope.cancel()
    assert results.count(1) >= 10
    head = await test_engine.head()
    assert head in (10, 11, 12)
    assert await test_engine.verify() == []


class _Fragile(Projection):
    """A stream-local projection with a bug: it fails on every `fragile` event."""

    stream_local = True


fragile = _Fragile("fragile", tables=[])


@fragile.on("fragile")
def _fail(context: object, event: object) -> None:
    raise RuntimeError("projection bug")


async def test_a_deferred_projection_failure_fails_only_its_command(database_url: str) -> None:
    """A stream-local projection runs once for the whole batch, so when it fails nobody knows
    which command's event broke it: the batch runs again one command at a time, and only the
    command whose event it cannot take fails."""
    domain = Domain("fragile-tests", projections=[fragile])
    async with Engine.open(database_url, migrate=False, extra_domains=[domain]) as engine:
        assert isinstance(await one_bad_among_good(engine, "fragile", good=10), CommandFailed)
        assert await engine.head() == 10
        assert await engine.read_stream("ns", "bad") == []


async def test_a_write_waits_for_one_exclusive_job_at_most(test_engine: Engine) -> None:
    """Exclusive jobs (a live rebuild's batches, one after another) and write batches take turns on
    the writer thread: a write queued while a job runs is committed before the next job, which
    sees it, however many jobs are queued behind."""
    from session_engine.engine.log import reads

    committer = test_engine._committer
    running, release = threading.Event(), threading.Event()
    heads: list[int] = []

    def first(connection: sa.Connection) -> None:
        running.set()
        release.wait(60)

    async def append() -> None:
        await test_engine.append("ns", "during", [NewEvent("noted", {})])

    async def head() -> None:
        heads.append(await committer.exclusive(reads.head))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(committer.exclusive, first)
        await anyio.to_thread.run_sync(running.wait)
        tasks.start_soon(append)
        for _ in range(3):
            tasks.start_soon(head)
        while not committer._queue or len(committer._jobs) < 3:  # all queued behind the first job
            await anyio.sleep(0)
        release.set()
    assert heads == [1, 1, 1]
