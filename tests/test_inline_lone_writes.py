"""A lone writer's command run on the event loop's thread (`Engine(inline_lone_writes=True)`, SQLite
only): only when nothing else could use the loop or the writer connection and the log lock is free
at once, answered after one loop turn, and every other guarantee of the write path kept (group
commit, order, cancellation, close)."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass

import anyio
import pytest

from session_engine.engine import Command, Decision, Engine, NewEvent, writes
from session_engine.engine.commands import CommandHandlers
from session_engine.engine.modules import Domain
from session_engine.engine.unit_of_work import UnitOfWork

pytestmark = pytest.mark.anyio


@dataclass(frozen=True, kw_only=True)
class WhereAmI(Command):
    """Appends one event; its result is the thread the decision ran on (after `pause` seconds)."""

    pause: float = 0.0


handlers = CommandHandlers()


@handlers.register(WhereAmI)
def _where_am_i(command: WhereAmI, state: UnitOfWork) -> Decision[int]:
    if command.pause:
        time.sleep(command.pause)  # a slow batch, as a long fsync or a lock wait makes one
    return Decision(events=[NewEvent("noted", {})], result=threading.get_ident())


DOMAIN = Domain("inline-lone-tests", handlers=handlers)


POSTGRES = [pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """SQLite: the backend that runs a lone writer inline (PostgreSQL's tests name it)."""
    return str(request.param)


OPTIONS = {"migrate": False, "extra_domains": [DOMAIN], "inline_lone_writes": True}


@pytest.fixture
def unbounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """No batch is too slow to run the next inline (`INLINE_LIMIT`): a loaded machine's timings
    decide nothing here."""
    monkeypatch.setattr(writes, "INLINE_LIMIT", float("inf"))


@pytest.fixture
async def inline_engine(database_url: str, unbounded: None) -> Engine:  # type: ignore[misc]
    async with Engine.open(database_url, **OPTIONS) as engine:
        yield engine


async def _thread_of(engine: Engine, stream: str = "s", pause: float = 0.0) -> int:
    outcome = await engine.execute(WhereAmI(namespace="ns", stream=stream, pause=pause))
    thread: int = outcome.result
    return thread


async def test_a_lone_writer_runs_on_the_loop_thread(inline_engine: Engine) -> None:
    """The first command goes to the writer thread; once a batch answered it alone, the same
    writer's next commands run on the loop's own thread, in order, durable as before."""
    loop_thread = threading.get_ident()
    threads = [await _thread_of(inline_engine) for _ in range(5)]
    assert threads[0] != loop_thread
    assert threads[1:] == [loop_thread] * 4
    assert [e.version for e in await inline_engine.read_stream("ns", "s")] == [1, 2, 3, 4, 5]
    assert inline_engine.stats["batches"] == 5
    assert await inline_engine.verify() == []


@pytest.mark.parametrize("backend", ["sqlite", *POSTGRES])
async def test_with_the_option_off_every_command_goes_to_the_writer_thread(database_url: str) -> None:
    loop_thread = threading.get_ident()
    options = {**OPTIONS, "inline_lone_writes": False}
    async with Engine.open(database_url, **options) as engine:
        assert loop_thread not in [await _thread_of(engine) for _ in range(5)]


async def test_a_lone_writer_runs_inline_by_default(database_url: str, unbounded: None) -> None:
    """SQLite's default: a lone writer's commands run on the loop's thread (no option given)."""
    loop_thread = threading.get_ident()
    async with Engine.open(database_url, migrate=False, extra_domains=[DOMAIN]) as engine:
        await _thread_of(engine)  # the first batch: its time sets whether the next may run inline
        assert loop_thread in [await _thread_of(engine) for _ in range(5)]


@pytest.mark.parametrize("backend", POSTGRES)
async def test_postgres_runs_every_command_on_the_writer_thread(database_url: str, unbounded: None) -> None:
    """On PostgreSQL the loop would wait for a round trip and the server's commit: never inline."""
    loop_thread = threading.get_ident()
    async with Engine.open(database_url, **OPTIONS) as engine:
        assert loop_thread not in [await _thread_of(engine) for _ in range(5)]


async def test_a_command_with_other_tasks_ready_goes_to_the_writer_thread(inline_engine: Engine) -> None:
    """Another task ready to run keeps the loop free for it: the command is handed over as usual."""
    loop_thread = threading.get_ident()
    await _thread_of(inline_engine)
    assert await _thread_of(inline_engine) == loop_thread  # lone, inline
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(anyio.sleep, 0)  # ready to run as the command is submitted
        assert await _thread_of(inline_engine) != loop_thread


async def test_a_slow_batch_sends_the_next_lone_command_to_the_writer_thread(
    inline_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a batch that ran longer than `INLINE_LIMIT`, the next command waits on the writer
    thread, not on the loop; a quick batch there brings the writer back inline."""
    monkeypatch.setattr(writes, "INLINE_LIMIT", 0.1)
    loop_thread = threading.get_ident()
    await _thread_of(inline_engine)
    assert await _thread_of(inline_engine, pause=0.15) == loop_thread  # inline, and slow
    assert await _thread_of(inline_engine) != loop_thread
    later = [await _thread_of(inline_engine) for _ in range(5)]
    assert loop_thread in later


async def test_a_lone_writer_lets_other_tasks_run_between_its_writes(inline_engine: Engine) -> None:
    """Answered inline, a caller still goes on only after a turn of the loop: a writer that
    never stops writing does not starve a task waiting for a timer."""
    loop_thread = threading.get_ident()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.001)
            ticks += 1

    await _thread_of(inline_engine)  # the first batch: on the writer thread, and lone
    threads = []
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(ticker)
        await anyio.sleep(0)  # the ticker waits for its timer
        while ticks < 3 and len(threads) < 5000:
            threads.append(await _thread_of(inline_engine))
        tasks.cancel_scope.cancel()
    assert ticks >= 3
    assert loop_thread in threads


async def test_a_cancelled_inline_caller_keeps_its_commit(inline_engine: Engine) -> None:
    """Cancelled as it waits for its turn, an inline caller's command has committed (as a queued
    command of a cancelled caller may); the writer goes on."""
    loop_thread = threading.get_ident()
    await _thread_of(inline_engine)
    assert await _thread_of(inline_engine) == loop_thread
    with anyio.CancelScope() as scope:
        scope.cancel()
        await inline_engine.append("ns", "s", [NewEvent("noted", {})])
    assert scope.cancelled_caught
    appended = await inline_engine.append("ns", "s", [NewEvent("noted", {})])
    assert appended.first_version == 4
    assert await inline_engine.verify() == []


async def test_concurrent_writers_still_share_batches(inline_engine: Engine) -> None:
    """Inline runs are for a lone writer: a wave of writers is committed as one batch each time."""
    await _thread_of(inline_engine)
    await _thread_of(inline_engine)  # the last batch was lone: the next command could go inline

    async def write(i: int) -> None:
        for _ in range(10):
            await inline_engine.append("ns", f"w{i}", [NewEvent("noted", {"i": i})])

    async with anyio.create_task_group() as tasks:
        for i in range(64):
            tasks.start_soon(write, i)
    assert inline_engine.stats["commands"] == 2 + 640
    # Each round of the wave in one batch, or two when the first writer (handed over alone, as a
    # lone writer's next command is) stays a batch ahead of the others.
    assert inline_engine.stats["batches"] <= 2 + 2 * 10 + 1, inline_engine.stats
    for i in range(64):
        assert [e.version for e in await inline_engine.read_stream("ns", f"w{i}")] == list(range(1, 11))


async def test_an_engine_closes_right_after_an_inline_write(database_url: str, unbounded: None) -> None:
    loop_thread = threading.get_ident()
    async with Engine.open(database_url, **OPTIONS) as engine:
        await _thread_of(engine)
        assert await _thread_of(engine) == loop_thread
    async with Engine.open(database_url, **OPTIONS) as engine:
        assert await engine.head() == 2
        await engine.rebuild()  # a job on the writer connection the loop's thread used
        assert await _thread_of(engine) != loop_thread  # a new engine's first command
        assert await _thread_of(engine) == loop_thread
        assert await engine.verify() == []


async def test_an_inline_write_never_waits_for_another_connections_lock(
    inline_engine: Engine, database_url: str
) -> None:
    """While another connection holds SQLite's write lock, a lone writer's command does not wait
    for it on the loop's thread: other tasks keep running, the command waits on the writer thread,
    and it lands once the lock is released; the refused attempt left nothing behind (the writer
    goes on inline, versions in order, the chain whole)."""
    loop_thread = threading.get_ident()
    await _thread_of(inline_engine)
    assert await _thread_of(inline_engine) == loop_thread  # lone: the next one would run inline
    other = sqlite3.connect(inline_engine.backend.path, isolation_level=None, check_same_thread=False)
    ticks = 0
    written: list[int] = []

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.001)
            ticks += 1

    async def write() -> None:
        written.append(await _thread_of(inline_engine))

    try:
        other.execute("BEGIN IMMEDIATE")
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(ticker)
            await anyio.sleep(0)  # the ticker waits for its timer: the loop is quiet
            tasks.start_soon(write)
            while ticks < 5:
                await anyio.sleep(0.001)
            assert written == []  # still waiting for the lock, on the writer thread
            other.execute("ROLLBACK")
            while not written:
                await anyio.sleep(0.001)
            tasks.cancel_scope.cancel()
    finally:
        other.close()
    assert written[0] != loop_thread
    await anyio.sleep(0.01)  # the task group's cancellations are done: the loop is quiet
    assert await _thread_of(inline_engine) == loop_thread  # the thread's batch was lone and quick
    assert [e.version for e in await inline_engine.read_stream("ns", "s")] == [1, 2, 3, 4]
    assert inline_engine.stats["commands"] == inline_engine.stats["batches"] == 4
    assert await inline_engine.verify() == []
