"""What a lone writer inline on the event loop costs the loop's other tasks (issue #21): a ticker
task that asks for a 1 ms sleep measures how late it wakes (p50, p99, max) while one writer appends
in a loop, on the writer thread (the default) and inline (`Engine(inline_lone_writes=True)`),
beside the writer's appends/s and the process's CPU per append.

Lateness is wall clock, so on a loaded machine it measures the scheduler as well: compare cells of
one run (each its own process on a new database, the cells taking turns round by round).
`--before PATH` (a checkout of the code before) adds its cells too, with its `INLINE_LIMIT`
lifted (`--before-unbounded`): what inline on PostgreSQL, which this code never runs inline, would
cost the loop when every commit runs on it.

    python -m bench.inline_ticker [--seconds 3] [--rounds 3] [--backends sqlite,postgres]
                                  [--before PATH [--before-unbounded]]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import anyio

from bench.common import ROOT, database, median, payload, show
from session_engine.engine import Engine, NewEvent

TICK = 0.001


async def ticked(url: str, mode: str, seconds: float, unbounded: bool) -> dict[str, float]:
    """One writer's appends/s and CPU µs per append, and the ticker's lateness in µs."""
    if unbounded:
        from session_engine.engine import writes

        writes.INLINE_LIMIT = float("inf")
    data = payload()
    late: list[float] = []
    async with Engine.open(url, inline_lone_writes=mode == "inline") as engine:
        count = 0
        stop = time.perf_counter() + seconds

        async def writer() -> None:
            nonlocal count
            while time.perf_counter() < stop:
                await engine.append("bench", "session", [NewEvent("noted", data)])
                count += 1

        async def ticker() -> None:
            while time.perf_counter() < stop:
                asked = time.perf_counter()
                await anyio.sleep(TICK)
                late.append((time.perf_counter() - asked - TICK) * 1e6)

        cpu = time.process_time()
        started = time.perf_counter()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(ticker)
            tasks.start_soon(writer)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu
    late.sort()
    return {
        "rate": count / wall,
        "cpu": cpu / max(count, 1) * 1e6,
        "p50": late[len(late) // 2],
        "p99": late[int(len(late) * 0.99)],
        "max": late[-1],
    }


def run_cell(root: Path, backend: str, mode: str, seconds: float, unbounded: bool) -> dict[str, float]:
    with database(backend, migrated=False) as url:
        command = [sys.executable, __file__, "--cell", mode, "--url", url, "--seconds", str(seconds)]
        if unbounded:
            command.append("--unbounded")
        env = dict(os.environ, PYTHONPATH=str(root))
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, env=env, check=True)
        result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
        return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--before", type=Path, help="another checkout whose cells run too")
    parser.add_argument("--before-unbounded", action="store_true", help="lift INLINE_LIMIT there")
    parser.add_argument("--cell", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--unbounded", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cell:
        print(json.dumps(anyio.run(ticked, args.url, args.cell, args.seconds, args.unbounded)))
        return
    cells: list[tuple[Path, str, str, str, bool]] = []
    for backend in args.backends.split(","):
        for mode in ("thread", "inline"):
            cells.append((ROOT, "", backend, mode, False))
            if args.before is not None and mode == "inline":
                cells.append((args.before, " (before)", backend, mode, args.before_unbounded))
    runs: dict[int, list[dict[str, float]]] = {i: [] for i in range(len(cells))}
    started = " ".join(f"{v:.2f}" for v in os.getloadavg())
    for _ in range(args.rounds):
        for i, (root, _, backend, mode, unbounded) in enumerate(cells):
            runs[i].append(run_cell(root, backend, mode, args.seconds, unbounded))
    ended = " ".join(f"{v:.2f}" for v in os.getloadavg())
    rows = []
    for i, (_, label, backend, mode, _) in enumerate(cells):
        cell = runs[i]

        def figure(key: str, cell: list[dict[str, float]] = cell) -> str:
            return f"{median([run[key] for run in cell]):,.0f}"

        rows.append(
            (
                backend,
                mode + label,
                figure("rate"),
                figure("cpu"),
                figure("p50"),
                figure("p99"),
                figure("max"),
            )
        )
    show(
        f"A ticker beside one writer ({args.rounds} rounds of {args.seconds:g} s; medians;"
        f" load {started} -> {ended})",
        ["backend", "path", "appends/s", "CPU µs/append", "tick late p50 µs", "p99 µs", "max µs"],
        rows,
    )


if __name__ == "__main__":
    main()
