"""What resumption across processes costs: CPU per park, claim and idle reap (`engine.parking`).

Each is a short write transaction on the engine's writer connection; the baseline, measured in the
same run, is one `values.set` (a command through the write path). CPU time of this process
(`time.process_time`), so the machine's load inflates it little; PostgreSQL's own CPU is not in
it (the round trips are).

    python -m bench.parking_cost [--operations 500] [--postgres]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable

import anyio

from bench.common import postgres_database, sqlite_database
from session_engine.engine import Engine


async def cpu_per_call(calls: int, call: Callable[[int], Awaitable[object]]) -> float:
    started = time.process_time()
    for n in range(calls):
        await call(n)
    return (time.process_time() - started) / calls


async def measure(url: str, calls: int) -> dict[str, float]:
    async with Engine.open(url) as engine:
        await engine.values.open_connection_session("ns", "warm", client_id="bench")

        async def set_value(n: int) -> None:
            await engine.values.set("ns", "warm", "k", str(n))

        async def park(n: int) -> None:
            await engine.parking.park(
                f"secret-{n}",
                namespace="ns",
                session_id=f"ws-{n}",
                client_id="bench",
                tenant="t",
                recent_actions=[time.time()] * 5,
                parked_by="bench",
                seconds=60,
            )

        async def claim(n: int) -> None:
            assert await engine.parking.claim(f"secret-{n}") is not None

        async def reap(n: int) -> None:
            assert await engine.parking.reap() == []

        return {
            "values.set (baseline)": await cpu_per_call(calls, set_value),
            "park": await cpu_per_call(calls, park),
            "claim": await cpu_per_call(calls, claim),
            "reap, nothing expired": await cpu_per_call(calls, reap),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=500)
    parser.add_argument("--postgres", action="store_true")
    arguments = parser.parse_args()
    database = postgres_database if arguments.postgres else sqlite_database
    with database() as url:
        figures = anyio.run(measure, url, arguments.operations)
    print(f"{'operation':<24} CPU us per call")
    for name, seconds in figures.items():
        print(f"{name:<24} {seconds * 1e6:10.0f}")


if __name__ == "__main__":
    main()
