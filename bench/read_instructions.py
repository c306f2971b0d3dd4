"""A fixed amount of session reads, for counting instructions per read under callgrind.

On a fresh SQLite file, one session of 1,000 events is written, then read `--reads` times:
- `read_stream` (default): the whole session, as `bench.peers` reads it (`noted` events);
- `--agents`: OpenAI Agents' `SQLAlchemySession.get_items` of 1,000 items, as `bench.peers` does;
- `--state V`: `state_as_of(version=V)` of the 1,000-event mixed session of `bench.time_travel`
  (V=0: a random version each time, seeded: the first read of each is a snapshot miss; any other
  V is read once before the reads counted, and its snapshot stored, so they are reads again).

Times on a shared machine drift with its load; instruction counts do not. Start-up (imports,
migration, the writes) is the same whatever the number of reads: run twice and divide the
difference, as for `bench.append_instructions`:

    valgrind --tool=callgrind --callgrind-out-file=/tmp/small python -m bench.read_instructions --reads 5
    valgrind --tool=callgrind --callgrind-out-file=/tmp/large python -m bench.read_instructions --reads 25
    # instructions per read = (Ir of large - Ir of small) / 20

`--cpu` prints the median CPU time of one read instead (`time.process_time`, all the process's
threads; the load inflates it less than the wall clock), for comparing against a peer in one run:

    python -m bench.read_instructions --reads 30 --cpu [--agents | --adk]

`--adk`: Google ADK's `DatabaseSessionService.get_session` of a 1,000-event session, as `bench.peers`.

`--toggle`: under `valgrind --tool=callgrind --instr-atstart=no`, instrumentation is switched on
(`callgrind_control`) only around the reads, so the total is the reads' alone (Ir / reads): start-up
costs ~4 G instructions against ~20 M a read, and two runs' start-ups differ by more than 20 reads:

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/reads \
        python -m bench.read_instructions --reads 20 --toggle [--backend postgres]

`--backend postgres`: a fresh PostgreSQL database (the client's instructions only).

Only the public API is used, so the same file measures older versions of the code.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from bench.common import database, payload
from bench.time_travel import NS, S, fill
from session_engine.engine import Engine, ManualClock, NewEvent

EVENTS = 1000
CPU_MS: list[float] = []
"""With `--cpu`: the CPU milliseconds of each read."""


TOGGLE: list[bool] = []
"""With `--toggle`: callgrind's instrumentation is on only while reads run."""


def instrument(on: bool) -> None:
    """Switch callgrind's instrumentation of this process (it takes effect within a moment)."""
    subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())], capture_output=True)
    time.sleep(1.0)


async def _timed(read: Callable[[], Awaitable[Any]], cpu: bool) -> Any:
    if TOGGLE and not TOGGLE[0]:
        TOGGLE[0] = True
        await read()  # warm: the first read after the fill compiles and caches its statements
        instrument(True)
    started = time.process_time()
    result = await read()
    if cpu:
        CPU_MS.append((time.process_time() - started) * 1000)
    return result


async def read_stream(url: str, reads: int, cpu: bool = False) -> None:
    data = payload()
    async with Engine.open(url, durability="off") as engine:
        for _ in range(EVENTS // 100):
            await engine.append(NS, S, [NewEvent("noted", data)] * 100)
        for _ in range(reads):
            assert len(await _timed(lambda: engine.read_stream(NS, S), cpu)) == EVENTS


async def state_as_of(url: str, reads: int, version: int, cpu: bool = False) -> None:
    clock = ManualClock()
    chosen = random.Random(21)
    async with Engine.open(url, clock=clock, durability="off") as engine:
        await fill(engine, clock, EVENTS)
        await engine.state_as_of(NS, S, version=EVENTS)  # the first read of the head lays snapshots
        if version:
            await engine.state_as_of(NS, S, version=version)  # the first read there keeps its state
            await engine.flush_snapshots()
        for _ in range(reads):
            await _timed(lambda: engine.state_as_of(NS, S, version=version or chosen.randint(1, EVENTS)), cpu)
        if TOGGLE:
            instrument(False)  # the reads alone: not the engine's close


async def agents_get_items(url: str, reads: int, cpu: bool = False) -> None:
    from bench.peers import _agents_session, _item

    session = _agents_session(url)
    try:
        for _ in range(EVENTS // 100):
            await session.add_items([_item(n) for n in range(100)])
        for _ in range(reads):
            assert len(await _timed(session.get_items, cpu)) == EVENTS
    finally:
        await session.engine.dispose()


async def adk_get_session(url: str, reads: int, cpu: bool = False) -> None:
    from bench.peers import ADK_APP, ADK_SESSION, ADK_USER, _adk_event, _adk_service

    service = _adk_service(url, fast_fill=True)
    try:
        session = await service.create_session(app_name=ADK_APP, user_id=ADK_USER, session_id=ADK_SESSION)
        for n in range(EVENTS):
            await service.append_event(session, _adk_event(n))

        async def read() -> Any:
            return await service.get_session(app_name=ADK_APP, user_id=ADK_USER, session_id=ADK_SESSION)

        for _ in range(reads):
            assert len((await _timed(read, cpu)).events) == EVENTS
    finally:
        await service.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=10)
    parser.add_argument("--agents", action="store_true")
    parser.add_argument("--adk", action="store_true")
    parser.add_argument("--cpu", action="store_true", help="print the median CPU ms of a read")
    parser.add_argument("--state", type=int, default=None, metavar="V")
    parser.add_argument("--toggle", action="store_true", help="callgrind instrumentation only around reads")
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    if args.toggle:
        TOGGLE.append(False)
    with database(args.backend) as url:
        if args.agents:
            anyio.run(agents_get_items, url, args.reads, args.cpu)
        elif args.adk:
            anyio.run(adk_get_session, url, args.reads, args.cpu)
        elif args.state is not None:
            anyio.run(state_as_of, url, args.reads, args.state, args.cpu)
        else:
            anyio.run(read_stream, url, args.reads, args.cpu)
    if TOGGLE:
        instrument(False)
    if CPU_MS:
        print(f"CPU ms per read, median of {len(CPU_MS)}: {statistics.median(CPU_MS):.3f}")


if __name__ == "__main__":
    main()
