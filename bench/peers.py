"""The engine beside its peers, in one interleaved run (issue #21).

Scenarios, each on SQLite (WAL, synchronous=FULL) and PostgreSQL (synchronous_commit=on):
- 1 writer, durable appends: the engine's `append` vs pyeventsourcing (an aggregate's event, then
  `Application.save`) vs the raw driver, one row per transaction (sqlite3 / psycopg);
- 8 writers on PostgreSQL: the engine vs raw psycopg (8 threads, a connection each, one row per commit);
- 1 writer `values.set` vs OpenAI Agents' `SQLAlchemySession.add_items` (one item per call) and
  Google ADK's `DatabaseSessionService.append_event` (an event whose `state_delta` sets the key);
- reading a 1,000-event session: `read_stream` vs `SQLAlchemySession.get_items` and ADK's
  `get_session` (milliseconds).

The peers' tables live in the same database file as the engine's: on SQLite the file is in WAL mode
(set by the engine's migration, kept by the file) and every connection keeps SQLite's default
synchronous=FULL, so every cell commits as durably as the engine.

Every cell runs in its own process on a new, empty database; the cells take turns round by round,
so every median comes from the same stretches of a noisy machine's time. Needs the `bench` extra
(`pip install -e '.[bench]'`); a peer that is not installed is left out with a note.

    python -m bench.peers [--seconds 3] [--rounds 3] [--backends sqlite,postgres] [--only NAME,...]
        [--before PATH]

`--before PATH` (another checkout of the project, e.g. `git worktree add /tmp/before main`) runs
its engine cells too, in the same rounds, as "NAME (before)": a change measured against the code
before it, in the same stretches of the machine's time as the peers.
"""

from __future__ import annotations

import inspect
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import orjson
import psycopg

from bench.common import ROOT, Stopwatch, chosen_cells, database, median, payload, rounds_command_line, show
from session_engine.engine import Engine, NewEvent
from session_engine.engine.backends import normalise_url

NS = "bench"
READ_EVENTS = 1000
READ_SAMPLES = 30
RAW_TABLE = "CREATE TABLE raw_events (id {serial} PRIMARY KEY, stream TEXT NOT NULL, data TEXT NOT NULL)"


def _for(seconds: float, step: Callable[[int], None]) -> float:
    """Calls of `step(n)` per second, for `seconds` (at least one call)."""
    count = 0
    with Stopwatch() as watch:
        end = time.perf_counter() + seconds
        while count == 0 or time.perf_counter() < end:
            step(count)
            count += 1
    return count / watch.seconds


async def _afor(seconds: float, step: Callable[[int], Any]) -> float:
    count = 0
    with Stopwatch() as watch:
        end = time.perf_counter() + seconds
        while count == 0 or time.perf_counter() < end:
            await step(count)
            count += 1
    return count / watch.seconds


# -- the engine ---------------------------------------------------------------------------------
async def engine_append(url: str, seconds: float) -> float:
    data = payload()
    async with Engine.open(url) as engine:
        return await _afor(seconds, lambda n: engine.append(NS, "session-1", [NewEvent("noted", data)]))


async def engine_append_thread(url: str, seconds: float) -> float:
    """`engine_append` with every command on the writer thread (`inline_lone_writes=False`); by
    default a lone SQLite writer's commands run on the loop's thread (specs/engine-core.md)."""
    data = payload()
    async with Engine.open(url, inline_lone_writes=False) as engine:
        return await _afor(seconds, lambda n: engine.append(NS, "session-1", [NewEvent("noted", data)]))


async def engine_append_8(url: str, seconds: float) -> float:
    data = payload()
    async with Engine.open(url) as engine:
        counts = [0] * 8
        stop = time.perf_counter() + seconds

        async def writer(i: int) -> None:
            while time.perf_counter() < stop:
                await engine.append(NS, f"session-{i}", [NewEvent("noted", data)])
                counts[i] += 1

        with Stopwatch() as watch:
            async with anyio.create_task_group() as tasks:
                for i in range(8):
                    tasks.start_soon(writer, i)
        return sum(counts) / watch.seconds


async def engine_values_set(url: str, seconds: float) -> float:
    data = payload()
    async with Engine.open(url) as engine:
        return await _afor(seconds, lambda n: engine.values.set(NS, "session-1", f"key-{n % 8}", data))


async def engine_read(url: str, seconds: float) -> float:
    data = payload()
    async with Engine.open(url) as engine:
        for _ in range(READ_EVENTS // 100):
            await engine.append(NS, "session-1", [NewEvent("noted", data)] * 100)
        return await _read_ms(lambda: engine.read_stream(NS, "session-1"))


async def _read_ms(call: Callable[[], Any]) -> float:
    """Median milliseconds of `call` (after one warm-up), checking it returns the whole session."""
    assert len(await call()) == READ_EVENTS
    times = []
    for _ in range(READ_SAMPLES):
        start = time.perf_counter()
        await call()
        times.append((time.perf_counter() - start) * 1000)
    return median(times)


# -- raw drivers ---------------------------------------------------------------------------------
def _sqlite_path(url: str) -> str:
    return str(normalise_url(url).database)


def _pg_conninfo(url: str) -> str:
    return normalise_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def raw_append(url: str, seconds: float) -> float:
    data = orjson.dumps(payload()).decode()
    if url.startswith("sqlite"):
        connection = sqlite3.connect(_sqlite_path(url), isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute(RAW_TABLE.format(serial="INTEGER"))

        def step(n: int) -> None:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO raw_events (stream, data) VALUES (?, ?)", ("session-1", data))
            connection.execute("COMMIT")

        try:
            return _for(seconds, step)
        finally:
            connection.close()
    with psycopg.connect(_pg_conninfo(url), autocommit=True) as connection:
        connection.execute(RAW_TABLE.format(serial="BIGSERIAL"))
        connection.autocommit = False

        def pg_step(n: int) -> None:
            connection.execute("INSERT INTO raw_events (stream, data) VALUES (%s, %s)", ("session-1", data))
            connection.commit()

        return _for(seconds, pg_step)


def raw_append_8(url: str, seconds: float) -> float:
    data = orjson.dumps(payload()).decode()
    with psycopg.connect(_pg_conninfo(url), autocommit=True) as connection:
        connection.execute(RAW_TABLE.format(serial="BIGSERIAL"))
    counts = [0] * 8
    stop = time.perf_counter() + seconds

    def writer(i: int) -> None:
        with psycopg.connect(_pg_conninfo(url)) as connection:
            while time.perf_counter() < stop:
                connection.execute("INSERT INTO raw_events (stream, data) VALUES (%s, %s)", (f"s{i}", data))
                connection.commit()
                counts[i] += 1

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    with Stopwatch() as watch:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return sum(counts) / watch.seconds


# -- pyeventsourcing -----------------------------------------------------------------------------
def eventsourcing_append(url: str, seconds: float) -> float:
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class Session(Aggregate):
        @event("Noted")
        def note(self, kind: str, text: str) -> None:
            pass

    if url.startswith("sqlite"):
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": _sqlite_path(url)}
    else:
        parsed = normalise_url(url)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": str(parsed.database),
            "POSTGRES_HOST": str(parsed.host),
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": str(parsed.username),
            "POSTGRES_PASSWORD": parsed.password or "",
        }
    app = Application(env=env)
    session = Session()
    app.save(session)
    data = payload()

    def step(n: int) -> None:
        session.note(**data)
        app.save(session)

    try:
        return _for(seconds, step)
    finally:
        app.close()


# -- OpenAI Agents SQLAlchemySession --------------------------------------------------------------
def _agents_session(url: str) -> Any:
    from agents.extensions.memory.sqlalchemy_session import SQLAlchemySession

    parsed = normalise_url(url)
    if url.startswith("sqlite"):
        async_url = parsed.set(drivername="sqlite+aiosqlite")
    else:
        async_url = parsed.set(drivername="postgresql+asyncpg")
    return SQLAlchemySession.from_url(
        "session-1", url=async_url.render_as_string(hide_password=False), create_tables=True
    )


def _item(n: int) -> dict[str, Any]:
    return {"role": "user", "content": payload()["text"]}


async def agents_add_items(url: str, seconds: float) -> float:
    session = _agents_session(url)
    try:
        await session.add_items([_item(0)])  # creates the tables
        return await _afor(seconds, lambda n: session.add_items([_item(n)]))
    finally:
        await session.engine.dispose()


async def agents_get_items(url: str, seconds: float) -> float:
    session = _agents_session(url)
    try:
        for _ in range(READ_EVENTS // 100):
            await session.add_items([_item(n) for n in range(100)])
        return await _read_ms(session.get_items)
    finally:
        await session.engine.dispose()


# -- Google ADK DatabaseSessionService ------------------------------------------------------------
ADK_APP, ADK_USER, ADK_SESSION = "bench", "user-1", "session-1"


def _adk_service(url: str, *, fast_fill: bool = False) -> Any:
    """ADK's service beside the cell's database (its tables are named as the engine's: `events`,
    `sessions`): on SQLite a file of its own next to it, in WAL mode with synchronous=FULL; on
    PostgreSQL a schema of its own in it. Through ADK's async drivers (aiosqlite / asyncpg).

    `fast_fill`: commits without waiting for the disk, for filling a session that is then read by
    a durable service (a read does not depend on how its rows were committed)."""
    from google.adk.sessions import DatabaseSessionService
    from sqlalchemy import event

    parsed = normalise_url(url)
    options: dict[str, Any] = {}
    if url.startswith("sqlite"):
        path = Path(_sqlite_path(url)).with_name("adk.db")
        address = parsed.set(drivername="sqlite+aiosqlite", database=str(path))
    else:
        with psycopg.connect(_pg_conninfo(url), autocommit=True) as connection:
            connection.execute("CREATE SCHEMA IF NOT EXISTS adk")
        address = parsed.set(drivername="postgresql+asyncpg")
        settings = {"search_path": "adk", "synchronous_commit": "off" if fast_fill else "on"}
        options["connect_args"] = {"server_settings": settings}
    service = DatabaseSessionService(db_url=address.render_as_string(hide_password=False), **options)
    if url.startswith("sqlite"):
        synchronous = "OFF" if fast_fill else "FULL"

        @event.listens_for(service.db_engine.sync_engine, "connect")
        def _durability(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.close()

    return service


def _adk_event(n: int, state_delta: dict[str, Any] | None = None) -> Any:
    from google.adk.events import Event, EventActions
    from google.genai import types

    return Event(
        invocation_id=f"invocation-{n}",
        author="user",
        content=types.Content(role="user", parts=[types.Part(text=payload()["text"])]),
        actions=EventActions(state_delta=state_delta or {}),
    )


async def adk_append_event(url: str, seconds: float) -> float:
    """ADK's peer of `values.set`: an event that sets a session state key, committed durably."""
    service = _adk_service(url)
    try:
        session = await service.create_session(app_name=ADK_APP, user_id=ADK_USER, session_id=ADK_SESSION)
        data = payload()

        async def step(n: int) -> None:
            await service.append_event(session, _adk_event(n, {f"key-{n % 8}": data}))
            # The service keeps every appended event on the in-memory session too; a long run would
            # measure that list growing, not the store.
            session.events.clear()

        return await _afor(seconds, step)
    finally:
        await service.close()


async def adk_get_session(url: str, seconds: float) -> float:
    filler = _adk_service(url, fast_fill=True)
    try:
        session = await filler.create_session(app_name=ADK_APP, user_id=ADK_USER, session_id=ADK_SESSION)
        for n in range(READ_EVENTS):
            await filler.append_event(session, _adk_event(n))
    finally:
        await filler.close()
    service = _adk_service(url)

    async def events() -> list[Any]:
        found = await service.get_session(app_name=ADK_APP, user_id=ADK_USER, session_id=ADK_SESSION)
        assert found is not None
        return list(found.events)

    try:
        return await _read_ms(events)
    finally:
        await service.close()


# -- the cells -------------------------------------------------------------------------------------
CELLS: dict[str, tuple[str, Callable[[str, float], Any], tuple[str, ...]]] = {
    # name: (scenario, function, backends)
    "engine append": ("1 writer, durable appends/s", engine_append, ("sqlite", "postgres")),
    "engine append on the writer thread": ("1 writer, durable appends/s", engine_append_thread, ("sqlite",)),
    "pyeventsourcing save": ("1 writer, durable appends/s", eventsourcing_append, ("sqlite", "postgres")),
    "raw 1 row/tx": ("1 writer, durable appends/s", raw_append, ("sqlite", "postgres")),
    "engine 8 writers": ("8 writers, durable appends/s", engine_append_8, ("postgres",)),
    "raw psycopg 8 writers": ("8 writers, durable appends/s", raw_append_8, ("postgres",)),
    "engine values.set": ("1 writer, value sets/s", engine_values_set, ("sqlite", "postgres")),
    "agents add_items": ("1 writer, value sets/s", agents_add_items, ("sqlite", "postgres")),
    "adk append_event": ("1 writer, value sets/s", adk_append_event, ("sqlite", "postgres")),
    "engine read_stream": ("read a 1,000-event session, ms", engine_read, ("sqlite", "postgres")),
    "agents get_items": ("read a 1,000-event session, ms", agents_get_items, ("sqlite", "postgres")),
    "adk get_session": ("read a 1,000-event session, ms", adk_get_session, ("sqlite", "postgres")),
}
BASELINE = {
    "1 writer, durable appends/s": "engine append",
    "8 writers, durable appends/s": "engine 8 writers",
    "1 writer, value sets/s": "engine values.set",
    "read a 1,000-event session, ms": "engine read_stream",
}


BEFORE = " (before)"


def run_cell(name: str, backend: str, seconds: float, before: Path | None = None) -> float | str:
    """One cell in a child process on a fresh database: its figure, or why it could not run. A
    "(before)" cell runs from the checkout `before`, its code imported from there."""
    root, env, migrated = ROOT, dict(os.environ), True
    if name.endswith(BEFORE) and before is not None:
        name, root, env["PYTHONPATH"] = name.removesuffix(BEFORE), before, str(before)
        migrated = False  # its engine migrates on open, to its own schema
    with database(backend, migrated) as url, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, "-m", "bench.peers", "--cell", name, "--url", url]
        command += ["--seconds", str(seconds), "--out", str(out)]
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["failed"])[-1]
            return f"n/a ({last[:60]})"
        return float(json.loads(out.read_text()))


def child(name: str, url: str, seconds: float, out: str) -> None:
    function = CELLS[name][1]
    if inspect.iscoroutinefunction(function):
        result = anyio.run(function, url, seconds)
    else:
        result = function(url, seconds)
    Path(out).write_text(json.dumps(result))


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = rounds_command_line(__doc__)
    args = parser.parse_args()
    if args.cell:
        child(args.cell, args.url, args.seconds, args.out)
        return
    wanted = chosen_cells(args.only, CELLS)
    backends = args.backends.split(",")
    cells = [(name, b) for name in wanted for b in backends if b in CELLS[name][2]]
    if args.before is not None:
        cells = [
            cell
            for name, b in cells
            for cell in ([(name, b), (name + BEFORE, b)] if name == BASELINE[CELLS[name][0]] else [(name, b)])
        ]
    runs: dict[tuple[str, str], list[float | str]] = {cell: [] for cell in cells}
    started = load()
    for _ in range(args.rounds):
        for name, backend in cells:
            runs[name, backend].append(run_cell(name, backend, args.seconds, args.before))
    ended = load()
    rows = []
    for name, backend in cells:
        scenario = CELLS[name.removesuffix(BEFORE)][0]
        numbers = [v for v in runs[name, backend] if isinstance(v, float)]
        if not numbers:
            rows.append((scenario, backend, name, str(runs[name, backend][0]), "", "-"))
            continue
        mid = median(numbers)
        base = [v for v in runs.get((BASELINE[scenario], backend), []) if isinstance(v, float)]
        # The engine's figure over the peer's: above 1 the engine is ahead (for reads, less time).
        if not base or BASELINE[scenario] == name:
            ratio = "-"
        elif scenario.endswith("ms"):
            ratio = f"{median(base) / mid:.2f}x time"
        else:
            ratio = f"{median(base) / mid:.2f}x"
        every = " ".join(f"{v:,.1f}" if v < 100 else f"{v:,.0f}" for v in numbers)
        rows.append((scenario, backend, name, f"{mid:,.1f}" if mid < 100 else f"{mid:,.0f}", every, ratio))
    show(
        f"Peers, interleaved ({args.rounds} rounds of {args.seconds:g} s; load {started} -> {ended})",
        ["scenario", "backend", "cell", "median", "every run", "engine / cell"],
        rows,
    )


if __name__ == "__main__":
    main()
