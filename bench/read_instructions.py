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

Only the public API is used, so the same file measures older versions of the code.
"""

from __future__ import annotations

import argparse
import random

import anyio

from bench.common import payload, sqlite_database
from bench.time_travel import NS, S, fill
from session_engine.engine import Engine, ManualClock, NewEvent

EVENTS = 1000


async def read_stream(url: str, reads: int) -> None:
    data = payload()
    async with Engine.open(url, durability="off") as engine:
        for _ in range(EVENTS // 100):
            await engine.append(NS, S, [NewEvent("noted", data)] * 100)
        for _ in range(reads):
            assert len(await engine.read_stream(NS, S)) == EVENTS


async def state_as_of(url: str, reads: int, version: int) -> None:
    clock = ManualClock()
    chosen = random.Random(21)
    async with Engine.open(url, clock=clock, durability="off") as engine:
        await fill(engine, clock, EVENTS)
        await engine.state_as_of(NS, S, version=EVENTS)  # the first read of the head lays snapshots
        for _ in range(reads):
            await engine.state_as_of(NS, S, version=version or chosen.randint(1, EVENTS))


async def agents_get_items(url: str, reads: int) -> None:
    from bench.peers import _agents_session, _item

    session = _agents_session(url)
    try:
        for _ in range(EVENTS // 100):
            await session.add_items([_item(n) for n in range(100)])
        for _ in range(reads):
            assert len(await session.get_items()) == EVENTS
    finally:
        await session.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=10)
    parser.add_argument("--agents", action="store_true")
    parser.add_argument("--state", type=int, default=None, metavar="V")
    args = parser.parse_args()
    with sqlite_database() as url:
        if args.agents:
            anyio.run(agents_get_items, url, args.reads)
        elif args.state is not None:
            anyio.run(state_as_of, url, args.reads, args.state)
        else:
            anyio.run(read_stream, url, args.reads)


if __name__ == "__main__":
    main()
