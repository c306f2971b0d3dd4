"""PostgreSQL's lone writer without the disk: where round trips, not the WAL flush, set the pace.

A lone writer's appends and value sets at `durability="off"` (synchronous_commit off: a commit
waits for no fsync), beside raw psycopg at the same setting (one INSERT per commit, autocommit).
Each cell runs in its own process on a fresh database, the cells take turns round by round, and each
reports operations per second and the CPU its process spent per operation (every thread of it:
the event loop, the writer thread, psycopg). CPU time does not count the time spent waiting for a
core or for the server, so it is the steadier figure on a loaded machine; the rate shows what the
round trips cost.

    python -m bench.pg_lone_writer [--seconds 3] [--rounds 5] [--before PATH]

`--before PATH` (another checkout, e.g. `git worktree add /tmp/before main`) runs the engine cells
from that checkout too, in the same rounds, as "NAME (before)".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import psycopg

if __package__ in (None, ""):  # a cell: run as a file from the checkout it measures (`run_cell`)
    sys.path.insert(0, os.getcwd())

from bench.common import ROOT, database, median, payload, show

CELLS = ("engine append", "engine values.set", "raw psycopg 1 row/commit")
BEFORE = " (before)"


async def _engine(url: str, seconds: float, values: bool) -> tuple[int, float, float]:
    from session_engine.engine import Engine, NewEvent

    data = payload()
    async with Engine.open(url, durability="off") as engine:
        for n in range(20):  # warm: the first batches read the head the usual way
            await engine.append("bench", "warm", [NewEvent("noted", data)])
        count, cpu, start = 0, time.process_time(), time.perf_counter()
        end = start + seconds
        while time.perf_counter() < end:
            if values:
                await engine.values.set("bench", "session-1", f"key-{count % 8}", data)
            else:
                await engine.append("bench", "session-1", [NewEvent("noted", data)])
            count += 1
        return count, time.perf_counter() - start, time.process_time() - cpu


def _raw(url: str, seconds: float) -> tuple[int, float, float]:
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    data = json.dumps(payload())
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("SET synchronous_commit = off")
        connection.execute("CREATE TABLE raw_events (id bigserial PRIMARY KEY, stream TEXT, data TEXT)")
        count, cpu, start = 0, time.process_time(), time.perf_counter()
        end = start + seconds
        while time.perf_counter() < end:
            connection.execute("INSERT INTO raw_events (stream, data) VALUES (%s, %s)", ("s", data))
            count += 1
        return count, time.perf_counter() - start, time.process_time() - cpu


def child(name: str, url: str, seconds: float, out: str) -> None:
    if name == "raw psycopg 1 row/commit":
        count, wall, cpu = _raw(url, seconds)
    else:
        count, wall, cpu = anyio.run(_engine, url, seconds, name == "engine values.set")
    Path(out).write_text(json.dumps([count / wall, cpu / count * 1e6]))


def run_cell(name: str, seconds: float, before: Path | None) -> tuple[float, float]:
    root = ROOT
    if name.endswith(BEFORE) and before is not None:
        name, root = name.removesuffix(BEFORE), before
    with database("postgres") as url, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--cell", name, "--url", url]
        command += ["--seconds", str(seconds), "--out", str(out)]
        subprocess.run(command, cwd=root, check=True)
        rate, cpu = json.loads(out.read_text())
        return float(rate), float(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", type=Path)
    parser.add_argument("--cell", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cell:
        child(args.cell, args.url, args.seconds, args.out)
        return
    cells = [
        c for name in CELLS for c in ([name, name + BEFORE] if args.before and "engine" in name else [name])
    ]
    runs: dict[str, list[tuple[float, float]]] = {cell: [] for cell in cells}
    started = " ".join(f"{v:.1f}" for v in os.getloadavg())
    for _ in range(args.rounds):
        for cell in cells:
            runs[cell].append(run_cell(cell, args.seconds, args.before))
    ended = " ".join(f"{v:.1f}" for v in os.getloadavg())
    raw = median([rate for rate, _ in runs["raw psycopg 1 row/commit"]])
    rows = []
    for cell in cells:
        rate, cpu = median([r for r, _ in runs[cell]]), median([c for _, c in runs[cell]])
        every = " ".join(f"{r:,.0f}" for r, _ in runs[cell])
        rows.append((cell, f"{rate:,.0f}", every, f"{rate / raw:.2f}x", f"{cpu:,.0f}"))
    show(
        f"PostgreSQL lone writer, synchronous_commit off ({args.rounds} rounds of {args.seconds:g} s;"
        f" load {started} -> {ended})",
        ["cell", "median ops/s", "every run", "/ raw", "CPU µs per op (median)"],
        rows,
    )


if __name__ == "__main__":
    main()
