"""A fixed amount of session reads, for counting instructions per read under callgrind.

On a fresh SQLite file, one session of 1,000 events is written, then read `--reads` times:
- `read_stream` (default): the whole session, as `bench.peers` reads it (`noted` events);
- `--agents`: OpenAI Agents' `SQLAlchemySession.get_items` of 1,000 items, as `bench.peers` does;
- `--state V`: `state_as_of(version=V)` of the 1,000-event mixed session of `bench.time_travel`
  (V=0: a random version each time, seeded: the first read of each is a snapshot miss).

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

Only the public API is used, so the same file measures older versions of the code.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from bench.common import payload, sqlite_database
from bench.time_travel import NS, S, fill
from session_engine.engine import Engine, ManualClock, NewEvent

EVENTS = 1000
CPU_MS: list[float] = []
"""With `--cpu`: the CPU milliseconds of each read."""


async def _timed(read: Callable[[], Awaitable[Any]], cpu: bool) -> Any:
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


async def state_as_of(url: str, reads: int, version: int) -> None:
    clock = ManualClock()
    chosen = random.Random(21)
    async with Engine.open(url, clock=clock, durability="off") as engine:
        await fill(engine, clock, EVENTS)
        await engine.state_as_of(NS, S, version=EVENTS)  # the first read of the head lays snapshots
        for _ in range(reads):
            await engine.state_as_of(NS, S, version=version or chosen.randint(1, EVENTS))


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
    args = parser.parse_args()
    with sqlite_database() as url:
        if args.agents:
            anyio.run(agents_get_items, url, args.reads, args.cpu)
        elif args.adk:
            anyio.run(adk_get_session, url, args.reads, args.cpu)
        elif args.state is not None:
            anyio.run(state_as_of, url, args.reads, args.state)
        else:
            anyio.run(read_stream, url, args.reads, args.cpu)
    if CPU_MS:
        print(f"CPU ms per read, median of {len(CPU_MS)}: {statistics.median(CPU_MS):.3f}")


if __name__ == "__main__":
    main()
