"""What the grid keeper (engine/inspect/grid.py) costs the writers, in CPU per append.

    python -m bench.grid_keeper_cost [--writers 64] [--per-session 200]

Each cell is its own process on a fresh SQLite file (`durability="off"`: the CPU's work, not the
disk's): `--writers` sessions of `--per-session` appends each, then `flush_snapshots` (every grid
point due is laid before the clock stops). The baseline is the same code without the keeper
(`snapshot_grid=False`, the default), in the same run. Raw appends (one 200-byte `noted` event)
and `values.set`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import anyio

from bench.common import show, sqlite_database
from session_engine.engine import Engine, NewEvent


async def run(kind: str, writers: int, per_session: int, keeper: bool) -> float:
    """Process CPU microseconds per append, the keeper's folds included."""
    with sqlite_database() as url:
        async with Engine.open(url, durability="off", snapshot_grid=keeper) as engine:
            data = {"text": "x" * 180}
            started = time.process_time()

            async def writer(i: int) -> None:
                for n in range(per_session):
                    if kind == "values":
                        await engine.values.set("bench", f"s-{i}", f"key-{n % 8}", data)
                    else:
                        await engine.append("bench", f"s-{i}", [NewEvent("noted", data)])

            async with anyio.create_task_group() as tasks:
                for i in range(writers):
                    tasks.start_soon(writer, i)
            await engine.flush_snapshots()
            return (time.process_time() - started) / (writers * per_session) * 1e6


def cell() -> None:
    kind, keeper, writers, per_session = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    print(f"{anyio.run(run, kind, writers, per_session, keeper == 'on'):.1f}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--cell":
        cell()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=64)
    parser.add_argument("--per-session", type=int, default=200)
    args = parser.parse_args()
    rows: list[list[object]] = []
    for kind in ("noted", "values"):
        found = {}
        for keeper in ("off", "on"):
            command = [sys.executable, "-m", "bench.grid_keeper_cost", "--cell", kind, keeper]
            command += [str(args.writers), str(args.per_session)]
            found[keeper] = float(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        rows.append([kind, f"{found['off']:.0f}", f"{found['on']:.0f}", f"{found['on'] / found['off']:.2f}x"])
    show(
        f"CPU us per append, {args.writers} sessions x {args.per_session} appends, grid keeper off / on",
        ["appends", "keeper off", "keeper on", "ratio"],
        rows,
    )


if __name__ == "__main__":
    main()
