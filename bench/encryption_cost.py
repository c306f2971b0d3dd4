"""What sealing payloads costs an append, on the real write path (`specs/lifecycle.md`, erasure).

The same appends into a namespace that seals its payloads (`Engine.open(encrypted_namespaces=...)`:
AES-GCM per event, a key per session read or made once) and into a plain one, rounds alternating,
each on a fresh SQLite file: 64 writers, one event per append, `durability="off"` (as
`bench/append_instructions.py`; no fsync, so the CPU's work is what differs). Each round gives the
process's CPU time per append (every thread's: the writer's included) and the wall time; best of
`--rounds` for each (the machine is shared: CPU time moves far less with load than wall time, and
the best is the least disturbed). For a figure load does not move at all, count instructions:
`bench/append_instructions.py --encrypted` under callgrind.

    python -m bench.encryption_cost --appends 6400 --size 200
"""

from __future__ import annotations

import argparse
import time

import anyio
import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench.common import payload, sqlite_database
from session_engine.engine import Engine, NewEvent
from session_engine.engine.log.sealing import associated, new_key, seal

WRITERS = 64


async def append_seconds(url: str, total: int, data: dict[str, str], encrypted: bool) -> tuple[float, float]:
    """(CPU seconds, wall seconds) per append."""
    async with Engine.open(
        url, durability="off", encrypted_namespaces=["bench"] if encrypted else []
    ) as engine:

        async def writer(i: int) -> None:
            for _ in range(total // WRITERS):
                await engine.append("bench", f"session-{i}", [NewEvent("noted", data)])

        started, cpu = time.perf_counter(), time.process_time()
        async with anyio.create_task_group() as tasks:
            for i in range(WRITERS):
                tasks.start_soon(writer, i)
        return (time.process_time() - cpu) / total, (time.perf_counter() - started) / total


def seal_seconds(total: int, data: dict[str, str]) -> float:
    """CPU seconds per event of what the writer adds to seal one (`sealing.seal` with its
    associated data; the key is cached per stream), alone in a loop."""
    cipher = AESGCM(new_key())
    text = orjson.dumps(data)  # the append encodes it already
    cpu = time.process_time()
    for n in range(total):
        seal(cipher, text, associated("bench", "session-1", n, "noted"))
    return (time.process_time() - cpu) / total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--appends", type=int, default=6400)
    parser.add_argument("--size", type=int, default=200, help="bytes of JSON per event")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    data = payload(args.size)
    found: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    seals: list[float] = []
    for _ in range(args.rounds):
        for encrypted in (False, True):
            with sqlite_database() as url:
                found[encrypted].append(anyio.run(append_seconds, url, args.appends, data, encrypted))
        seals.append(seal_seconds(args.appends, data))
    for what, index in (("CPU", 0), ("wall", 1)):
        plain = min(run[index] for run in found[False])
        sealed = min(run[index] for run in found[True])
        print(
            f"{what}: plain append {plain * 1e6:.1f} us/event, sealed {sealed * 1e6:.1f} us/event;"
            f" sealing adds {sealed / plain - 1:.1%} ({args.size}-byte events)"
        )
    plain_cpu, alone = min(run[0] for run in found[False]), min(seals)
    print(f"sealing alone: {alone * 1e6:.2f} us/event, {alone / plain_cpu:.1%} of a plain append's CPU")


if __name__ == "__main__":
    main()
