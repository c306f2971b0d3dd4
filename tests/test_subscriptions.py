"""Subscriptions: catch up, then follow live appends - in order, with no gaps and no repeats."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import anyio
import psycopg
import pytest

from session_engine.engine import Engine, NewEvent
from session_engine.engine.backends import normalise_url
from session_engine.engine.backends.base import NOTIFY_CHANNEL
from session_engine.engine.backends.postgres import PostgresBackend
from session_engine.engine.log.subscriptions import take

pytestmark = pytest.mark.anyio

WRITERS = 16
PER_WRITER = 40


async def test_follower_sees_every_committed_event_once_in_order(engine: Engine) -> None:
    await engine.append("ns", "before", [NewEvent("noted", {"n": 0})])
    total = 1 + WRITERS * PER_WRITER
    seen: list[int] = []

    async def follow() -> None:
        async for event in engine.subscribe(after=0):
            seen.append(event.position)
            if len(seen) == total:
                return

    async def write(i: int) -> None:
        for n in range(PER_WRITER):
            await engine.append("ns", f"w{i}", [NewEvent("noted", {"n": n})])

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(follow)
            async with anyio.create_task_group() as writers:
                for i in range(WRITERS):
                    writers.start_soon(write, i)
    assert seen == list(range(1, total + 1))


async def test_subscribe_from_a_position_and_filter(engine: Engine) -> None:
    for i in range(10):
        await engine.append("ns", f"s{i % 2}", [NewEvent("even" if i % 2 == 0 else "odd", {"i": i})])
    with anyio.fail_after(10):
        tail = await take(engine.subscribe(after=6), 4)
        assert [e.position for e in tail] == [7, 8, 9, 10]
        only = await take(engine.subscribe(after=0, stream="s1"), 5)
        assert [e.data["i"] for e in only] == [1, 3, 5, 7, 9]
        typed = await take(engine.subscribe(after=0, types=["even"]), 5)
        assert [e.data["i"] for e in typed] == [0, 2, 4, 6, 8]


async def test_catch_up_reads_beyond_the_memory_buffer(database_url: str) -> None:
    async with Engine.open(database_url, migrate=False) as first:
        for i in range(30):
            await first.append("ns", "s", [NewEvent("noted", {"i": i})])
    async with Engine.open(database_url, migrate=False) as engine:
        engine.hub._recent.clear()
        with anyio.fail_after(10):
            events = await take(engine.subscribe(after=0), 31 - 1)
        assert [e.position for e in events] == list(range(1, 31))


async def test_a_subscriber_cancelled_during_a_read_gets_none_of_its_events(engine: Engine) -> None:
    """An unsubscribe answered while a page is read in a worker thread (shielded from
    cancellation) stops the events that page returns: none is delivered after it."""
    for i in range(3):
        await engine.append("ns", "s", [NewEvent("noted", {"i": i})])
    engine.hub._recent.clear()
    read_page = engine.hub._read_page
    seen: list[int] = []
    with anyio.CancelScope() as scope:

        async def read_while_unsubscribed(after: int, limit: int) -> list[Any]:
            page = await read_page(after, limit)
            scope.cancel()
            return page

        engine.hub._read_page = read_while_unsubscribed
        with anyio.fail_after(10):
            async for event in engine.subscribe(after=0):
                seen.append(event.position)
    assert scope.cancelled_caught
    assert seen == []


CHILD = textwrap.dedent(
    """
    import sys, anyio
    from session_engine.engine import Engine, NewEvent

    async def main():
        async with Engine.open(sys.argv[1], migrate=False) as engine:
            for i in range(int(sys.argv[2])):
                await engine.append("ns", "child", [NewEvent("noted", {"i": i})])

    anyio.run(main)
    """
)


@pytest.mark.postgres
async def test_follows_appends_of_another_process(request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("postgres_databases").fresh()
    async with Engine.open(url, migrate=False) as engine:
        await engine.append("ns", "parent", [NewEvent("noted", {"i": -1})])
        seen: list[tuple[int, str]] = []

        async def follow() -> None:
            async for event in engine.subscribe(after=0):
                seen.append((event.position, event.stream))
                if len(seen) == 51:
                    return

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(follow)
                await anyio.run_process([sys.executable, "-c", CHILD, url, "50"], stderr=subprocess.STDOUT)
        assert [p for p, _ in seen] == list(range(1, 52))
        assert [s for _, s in seen[1:]] == ["child"] * 50


@pytest.mark.postgres
async def test_engines_on_one_database_hear_each_other_but_a_lone_one_notifies_nobody(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process's commits reach another process's subscribers through NOTIFY (no poll here to
    find them instead); while no other process listens, nothing is notified at all (a connection
    LISTENing outside any engine hears nothing): a lone writer does not pay for notifying itself."""
    url = request.getfixturevalue("postgres_databases").fresh()
    monkeypatch.setattr(PostgresBackend, "poll_interval", None)
    conninfo = normalise_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    heard: list[str] = []
    seen: list[int] = []
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as outside:
        await outside.execute(f"LISTEN {NOTIFY_CHANNEL}")

        async def hear() -> None:
            async for notice in outside.notifies():
                heard.append(notice.payload)

        async with Engine.open(url, migrate=False) as writer, anyio.create_task_group() as listening:
            listening.start_soon(hear)
            for i in range(3):
                await writer.append("ns", "s", [NewEvent("noted", {"i": i})])
            await anyio.sleep(0.5)  # time enough to hear them, were they sent
            assert heard == []
            async with Engine.open(url, migrate=False) as follower:

                async def follow() -> None:
                    async for event in follower.subscribe(after=3):
                        seen.append(event.position)
                        return

                with anyio.fail_after(20):
                    async with anyio.create_task_group() as tasks:
                        tasks.start_soon(follow)
                        await anyio.sleep(0.3)  # the subscriber waits for the head to move
                        await writer.append("ns", "s", [NewEvent("noted", {"i": 3})])
                    while not heard:
                        await anyio.sleep(0.05)
            listening.cancel_scope.cancel()
    assert seen == [4]
    assert heard == ["4"]
