"""The grid keeper's own CPU per append, apart from the writers' (engine/inspect/grid.py).

    python -m bench.grid_keeper_cpu [--rounds 3]

`bench.grid_keeper_cost` measures the whole process with the keeper off and on, so its figure
carries the writers' spread (under load, more than the keeper's cost). Here each cell is its own
process on a fresh SQLite file: the log is written with no keeper (`durability="off"`), then a
keeper lays every grid point due in the calling thread, each store run at once on a writer
connection (as if the snapshot thread kept up: a session's next point finds the one before
stored), and only that is timed (process CPU). Shapes: 64 sessions x 200 appends (one grid point
each) and 16 x 1,280 (ten each: what carrying a fold from one point to the next saves). Raw
appends (one 200-byte `noted` event) and `values.set`. Only the keeper's `catch_up` and the
engine's public API are used, so the same file measures older versions of the code (run it with
the other checkout on `PYTHONPATH`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import anyio

from bench.common import median, show, sqlite_database
from session_engine.engine import Engine, NewEvent
from session_engine.engine.inspect.grid import GridKeeper

SHAPES = ((64, 200), (16, 1280))


async def run(kind: str, writers: int, per_session: int) -> tuple[float, float]:
    """CPU microseconds per append: the writers' (with no keeper), then the keeper's."""
    with sqlite_database() as url:
        async with Engine.open(url, durability="off") as engine:
            data = {"text": "x" * 180}

            async def writer(i: int) -> None:
                for n in range(per_session):
                    if kind == "values":
                        await engine.values.set("bench", f"s-{i}", f"key-{n % 8}", data)
                    else:
                        await engine.append("bench", f"s-{i}", [NewEvent("noted", data)])

            started = time.process_time()
            async with anyio.create_task_group() as tasks:
                for i in range(writers):
                    tasks.start_soon(writer, i)
            appends = time.process_time() - started
            stores = engine.backend.create_engine(writer=True)
            with stores.connect() as connection:

                def at_once(store: Callable[[Any], Any]) -> None:
                    store(connection)

                keeper = GridKeeper(
                    engine._reader,
                    engine.backend,
                    engine.registry,
                    lambda: list(engine.projections),
                    at_once,
                    engine.clock.now,
                )
                keeper._after = 0  # from the log's first event
                started = time.process_time()
                keeper.catch_up()
                laying = time.process_time() - started
            stores.dispose()
            count = writers * per_session
            return appends / count * 1e6, laying / count * 1e6


def cell() -> None:
    kind, writers, per_session = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    appends, keeper = anyio.run(run, kind, writers, per_session)
    print(f"{appends:.2f} {keeper:.2f}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--cell":
        cell()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    found: dict[tuple[str, int, int], list[tuple[float, float]]] = {}
    for _ in range(args.rounds):
        for writers, per_session in SHAPES:
            for kind in ("noted", "values"):
                command = [sys.executable, "-m", "bench.grid_keeper_cpu", "--cell", kind]
                command += [str(writers), str(per_session)]
                out = subprocess.run(command, check=True, capture_output=True, text=True).stdout.split()
                found.setdefault((kind, writers, per_session), []).append((float(out[0]), float(out[1])))
    rows: list[list[object]] = []
    for (kind, writers, per_session), runs in found.items():
        appends, keeper = median([a for a, _ in runs]), median([k for _, k in runs])
        every = ", ".join(f"{k:.1f}" for _, k in runs)
        rows.append(
            [
                f"{kind}, {writers} x {per_session}",
                f"{appends:.1f}",
                f"{keeper:.1f}",
                f"{keeper / appends:.2f}",
                every,
            ]
        )
    show(
        f"CPU us per append: the writers (no keeper) and the keeper's lays, median of {args.rounds}",
        ["appends", "writers", "keeper", "keeper / writers", "keeper, every run"],
        rows,
    )


if __name__ == "__main__":
    main()
