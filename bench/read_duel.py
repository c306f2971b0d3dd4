"""The engine's `read_stream` and OpenAI Agents' `get_items` of a 1,000-event session in one
process and one database, alternating read by read: CPU and wall milliseconds, and their ratios.

One process and the same moments for both: on a loaded machine the ratio of CPU times holds where
separate processes' wall clocks do not (a read that runs its 3 ms in one burst waits behind every
other runnable process once preempted; one that sleeps between short bursts is woken first). The
time the process's threads waited for a CPU during each read is shown beside (Linux schedstat).
Needs the `bench` extra (Agents). Only the public API is used, so the same file measures older
versions of the code (`PYTHONPATH=<checkout>`, run from that checkout).

    python -m bench.read_duel [--backend sqlite|postgres] [--reads 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from bench.common import database, payload
from bench.peers import _agents_session, _item
from session_engine.engine import Engine, NewEvent

EVENTS = 1000


def run_queue_ms() -> float:
    """Milliseconds the process's threads have waited, runnable, for a CPU (Linux schedstat)."""
    waited = 0
    for thread in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{thread}/schedstat") as stats:
                waited += int(stats.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return waited / 1e6


async def duel(url: str, reads: int) -> None:
    session = _agents_session(url)
    try:
        async with Engine.open(url) as engine:
            for _ in range(EVENTS // 100):
                await engine.append("bench", "session-1", [NewEvent("noted", payload())] * 100)
                await session.add_items([_item(n) for n in range(100)])
            calls: dict[str, Callable[[], Awaitable[Any]]] = {
                "engine read_stream": lambda: engine.read_stream("bench", "session-1"),
                "agents get_items": session.get_items,
            }
            cpu: dict[str, list[float]] = {name: [] for name in calls}
            wall: dict[str, list[float]] = {name: [] for name in calls}
            queued: dict[str, list[float]] = {name: [] for name in calls}
            for call in calls.values():
                assert len(await call()) == EVENTS
            for _ in range(reads):
                for name, call in calls.items():
                    waited, started, clock = run_queue_ms(), time.process_time(), time.perf_counter()
                    await call()
                    wall[name].append((time.perf_counter() - clock) * 1000)
                    cpu[name].append((time.process_time() - started) * 1000)
                    queued[name].append(run_queue_ms() - waited)
    finally:
        await session.engine.dispose()
    median = statistics.median
    for name in calls:
        print(
            f"{name:20} CPU ms median {median(cpu[name]):.3f} min {min(cpu[name]):.3f}"
            f" | wall ms median {median(wall[name]):.3f} min {min(wall[name]):.3f}"
            f" | waiting for a CPU, ms median {median(queued[name]):.3f}"
        )
    engine_cpu, agents_cpu = cpu["engine read_stream"], cpu["agents get_items"]
    engine_wall, agents_wall = wall["engine read_stream"], wall["agents get_items"]
    print(
        f"engine / agents: CPU median {median(engine_cpu) / median(agents_cpu):.2f}"
        f" min {min(engine_cpu) / min(agents_cpu):.2f};"
        f" wall median {median(engine_wall) / median(agents_wall):.2f}"
        f" min {min(engine_wall) / min(agents_wall):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--reads", type=int, default=100)
    args = parser.parse_args()
    with database(args.backend) as url:
        anyio.run(duel, url, args.reads)


if __name__ == "__main__":
    main()
