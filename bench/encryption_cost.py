"""What sealing payloads costs an append, on the real write path (`specs/lifecycle.md`, erasure).

The same appends into a namespace that seals its payloads (`Engine.open(encrypted_namespaces=...)`:
AES-GCM per event, a key per session read or made once) and into a plain one, rounds alternating,
each on a fresh SQLite file: 64 writers, one event per append, `durability="off"` (as
`bench/append_instructions.py`; no fsync, so the CPU's work is what differs). Best of `--rounds`
for each (the machine is shared: the best is the least disturbed). For a figure that load does
not move, count instructions: `bench/append_instructions.py --encrypted` under callgrind.

    python -m bench.encryption_cost --appends 6400 --size 200
"""

from __future__ import annotations

import argparse
import time

import anyio

from bench.common import payload, sqlite_database
from session_engine.engine import Engine, NewEvent

WRITERS = 64


async def append_seconds(url: str, total: int, data: dict[str, str], encrypted: bool) -> float:
    async with Engine.open(
        url, durability="off", encrypted_namespaces=["bench"] if encrypted else []
    ) as engine:

        async def writer(i: int) -> None:
            for _ in range(total // WRITERS):
                await engine.append("bench", f"session-{i}", [NewEvent("noted", data)])

        started = time.perf_counter()
        async with anyio.create_task_group() as tasks:
            for i in range(WRITERS):
                tasks.start_soon(writer, i)
        return (time.perf_counter() - started) / total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--appends", type=int, default=6400)
    parser.add_argument("--size", type=int, default=200, help="bytes of JSON per event")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    data = payload(args.size)
    found: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.rounds):
        for encrypted in (False, True):
            with sqlite_database() as url:
                found[encrypted].append(anyio.run(append_seconds, url, args.appends, data, encrypted))
    plain, sealed = min(found[False]), min(found[True])
    print(f"plain append {plain * 1e6:.1f} us/event, sealed append {sealed * 1e6:.1f} us/event")
    print(f"sealing adds {sealed / plain - 1:.1%} to an append ({args.size}-byte events)")


if __name__ == "__main__":
    main()
