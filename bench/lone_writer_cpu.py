"""CPU time per command of a lone writer (one task awaiting each `append` or `values.set`), for
comparing two versions of the code on a loaded machine, where wall-clock rates lie.

    python -m bench.lone_writer_cpu [--commands 2000] [--values] [--durability full|off]
        [--backends sqlite,postgres] [--rounds 3]

Each round opens a fresh database, runs 200 commands to warm up, then times `--commands` more:
the process's CPU time (`time.process_time`: every thread, the writer's included) per command,
and the wall-clock rate beside it. Only the public API is used, so the same file measures older
versions of the code (`cd <tree> && PYTHONPATH=<tree> python -m bench.lone_writer_cpu`).
"""

from __future__ import annotations

import time

import anyio

from bench.common import command_line, database, median, payload
from session_engine.engine import Engine, NewEvent

WARM_UP = 200


async def one_round(url: str, commands: int, values: bool, durability: str) -> tuple[float, float]:
    """(CPU µs per command, commands per second of wall clock)."""
    data = payload(200)
    async with Engine.open(url, durability=durability) as engine:  # type: ignore[arg-type]

        async def command(n: int) -> None:
            if values:
                await engine.values.set("bench", "session", f"key-{n % 8}", data)
            else:
                await engine.append("bench", "session", [NewEvent("noted", data)])

        for n in range(WARM_UP):
            await command(n)
        cpu, wall = time.process_time(), time.perf_counter()
        for n in range(commands):
            await command(n)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / commands * 1e6, commands / wall


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--commands", type=int, default=2000)
    parser.add_argument("--values", action="store_true", help="values.set instead of append")
    parser.add_argument("--durability", default="full", choices=["full", "off"])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    kind = "values.set" if args.values else "append"
    for backend in args.backends.split(","):
        cpus, rates = [], []
        for _ in range(args.rounds):
            with database(backend, migrated=False) as url:
                cpu, rate = anyio.run(one_round, url, args.commands, args.values, args.durability)
            cpus.append(cpu)
            rates.append(rate)
        print(
            f"{kind} {backend} durability={args.durability}: CPU µs/command median {median(cpus):.1f}"
            f" (runs {' '.join(f'{c:.1f}' for c in cpus)}); per second median {median(rates):,.0f}"
            f" (runs {' '.join(f'{r:,.0f}' for r in rates)})"
        )


if __name__ == "__main__":
    main()
