"""A lone writer's thread hops (issue #21): appends/s and CPU per append, on the writer thread
(the default) and inline on the event loop's thread (`Engine(inline_lone_writes=True)`), with 1, 8
and 64 writers, on SQLite and PostgreSQL.

CPU time (`time.process_time`, both threads) is the figure to compare on a loaded machine: wall
clock there mostly measures how long the scheduler keeps a woken thread waiting. Every cell runs
in its own process on a new database, the cells taking turns round by round; `--before PATH` (a
checkout of the code before, e.g. `git worktree add /tmp/before <commit>`) runs its default
cells too, in the same rounds.

    python -m bench.lone_hops [--seconds 3] [--rounds 3] [--backends sqlite,postgres] [--before PATH]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import anyio

from bench.common import ROOT, Stopwatch, database, median, payload, rounds_command_line, show
from session_engine.engine import Engine, NewEvent

CELLS = [(mode, writers) for writers in (1, 8, 64) for mode in ("thread", "inline")]


async def appends(url: str, mode: str, writers: int, seconds: float) -> tuple[float, float]:
    """Appends/s with `writers` concurrent sessions, and the process's CPU µs per append."""
    data = payload()
    options = {"inline_lone_writes": mode == "inline"}
    async with Engine.open(url, **options) as engine:
        counts = [0] * writers
        stop = time.perf_counter() + seconds

        async def writer(i: int) -> None:
            while time.perf_counter() < stop:
                await engine.append("bench", f"session-{i}", [NewEvent("noted", data)])
                counts[i] += 1

        cpu = time.process_time()
        with Stopwatch() as watch:
            async with anyio.create_task_group() as tasks:
                for i in range(writers):
                    tasks.start_soon(writer, i)
        cpu = time.process_time() - cpu
    return sum(counts) / watch.seconds, cpu / sum(counts) * 1e6


def run_cell(root: Path, backend: str, mode: str, writers: int, seconds: float) -> tuple[float, float]:
    """One cell in a child process importing the engine from `root` (this script runs from here:
    a checkout from before it need not have it)."""
    with database(backend, migrated=False) as url:
        command = [sys.executable, __file__, "--cell", f"{mode},{writers}", "--url", url]
        command += ["--seconds", str(seconds)]
        env = dict(os.environ, PYTHONPATH=str(root))
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, env=env, check=True)
        rate, cpu = json.loads(done.stdout.strip().splitlines()[-1])
        return float(rate), float(cpu)


def main() -> None:
    parser = rounds_command_line(__doc__, only=False)
    args = parser.parse_args()
    if args.cell:
        mode, writers = args.cell.split(",")
        print(json.dumps(anyio.run(appends, args.url, mode, int(writers), args.seconds)))
        return
    cells: list[tuple[Path, str, str, str, int]] = []
    for backend in args.backends.split(","):
        for mode, writers in CELLS:
            if args.before is not None and mode == "thread":
                cells.append((args.before, " (before)", backend, mode, writers))
            cells.append((ROOT, "", backend, mode, writers))
    runs: dict[int, list[tuple[float, float]]] = {i: [] for i in range(len(cells))}
    started = " ".join(f"{v:.2f}" for v in os.getloadavg())
    for _ in range(args.rounds):
        for i, (root, _, backend, mode, writers) in enumerate(cells):
            runs[i].append(run_cell(root, backend, mode, writers, args.seconds))
    ended = " ".join(f"{v:.2f}" for v in os.getloadavg())
    rows = []
    for i, (_, label, backend, mode, writers) in enumerate(cells):
        rates, cpus = [r for r, _ in runs[i]], [c for _, c in runs[i]]
        rows.append(
            (
                backend,
                writers,
                mode + label,
                f"{median(rates):,.0f}",
                " ".join(f"{r:,.0f}" for r in rates),
                f"{median(cpus):,.0f}",
                " ".join(f"{c:,.0f}" for c in cpus),
            )
        )
    show(
        f"Lone writer hops ({args.rounds} rounds of {args.seconds:g} s; load {started} -> {ended})",
        ["backend", "writers", "path", "appends/s", "every run", "CPU µs/append", "every run"],
        rows,
    )


if __name__ == "__main__":
    main()
