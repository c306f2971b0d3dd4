"""PostgreSQL's write path without the disk: where round trips, not the WAL flush, set the pace.

The engine's writers at `durability="off"` (synchronous_commit off: a commit waits for no fsync),
beside raw psycopg at the same setting (one INSERT per commit, autocommit): a lone writer's appends
and value sets against one raw connection, and 8 concurrent writers against 8 raw threads with a
connection each. Each cell runs in its own process on a fresh database, the cells take turns round
by round, and each reports operations per second and the CPU its process spent per operation
(every thread of it: the event loop, the writer thread, psycopg). CPU time does not count the time
spent waiting for a core or for the server, so it is the steadier figure on a loaded machine; the
rate shows what the round trips cost. The server's CPU per operation is that of every backend
process of the cell's database (the writer's, the engine's NOTIFY listener's), read from /proc:
the server must run on this machine.

    python -m bench.pg_writers [--seconds 3] [--rounds 5] [--before PATH] [--only NAME,...]

`--before PATH` (another checkout, e.g. `git worktree add /tmp/before main`) runs the engine cells
from that checkout too, in the same rounds, as "NAME (before)".
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import anyio
import psycopg

if __package__ in (None, ""):  # a cell: run as a file from the checkout it measures (`run_cell`)
    sys.path.insert(0, os.getcwd())

from bench.common import ROOT, chosen_cells, database, median, payload, rounds_command_line, show

CELLS = {
    # name: the raw cell it is compared with
    "engine append": "raw psycopg 1 row/commit",
    "engine values.set": "raw psycopg 1 row/commit",
    "raw psycopg 1 row/commit": "raw psycopg 1 row/commit",
    "engine 8 writers": "raw psycopg 8 writers",
    "raw psycopg 8 writers": "raw psycopg 8 writers",
}
BEFORE = " (before)"
WRITERS = 8


def server_cpu(url: str) -> float:
    """Seconds of CPU the backends of the url's database have spent (utime + stime, /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        pids = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    total = 0
    for (pid,) in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / ticks


async def _engine(url: str, seconds: float, kind: str) -> tuple[int, float, float, float]:
    from session_engine.engine import Engine, NewEvent

    data = payload()
    writers = WRITERS if kind == "engine 8 writers" else 1
    async with Engine.open(url, durability="off") as engine:
        for _ in range(20):  # warm: the first batches read the head the usual way
            await engine.append("bench", "warm", [NewEvent("noted", data)])
        counts = [0] * writers
        server = server_cpu(url)
        cpu, start = time.process_time(), time.perf_counter()
        end = start + seconds

        async def writer(i: int) -> None:
            while time.perf_counter() < end:
                if kind == "engine values.set":
                    await engine.values.set("bench", "session-1", f"key-{counts[i] % 8}", data)
                else:
                    await engine.append("bench", f"session-{i}", [NewEvent("noted", data)])
                counts[i] += 1

        async with anyio.create_task_group() as tasks:
            for i in range(writers):
                tasks.start_soon(writer, i)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        return sum(counts), wall, cpu, server_cpu(url) - server


def _raw(url: str, seconds: float, writers: int) -> tuple[int, float, float, float]:
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    data = json.dumps(payload())
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("CREATE TABLE raw_events (id bigserial PRIMARY KEY, stream TEXT, data TEXT)")
    counts = [0] * writers
    cpu, start = time.process_time(), time.perf_counter()
    end = start + seconds
    server = [0.0] * writers

    def writer(i: int) -> None:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute("SET synchronous_commit = off")
            server[i] = _backend_cpu(connection.info.backend_pid)
            while time.perf_counter() < end:
                connection.execute("INSERT INTO raw_events (stream, data) VALUES (%s, %s)", (f"s{i}", data))
                counts[i] += 1
            server[i] = _backend_cpu(connection.info.backend_pid) - server[i]

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts), time.perf_counter() - start, time.process_time() - cpu, sum(server)


def _backend_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child(name: str, url: str, seconds: float, out: str) -> None:
    if name.startswith("raw"):
        count, wall, cpu, server = _raw(url, seconds, WRITERS if "8" in name else 1)
    else:
        count, wall, cpu, server = anyio.run(_engine, url, seconds, name)
    Path(out).write_text(json.dumps([count / wall, cpu / count * 1e6, server / count * 1e6]))


def run_cell(name: str, seconds: float, before: Path | None) -> tuple[float, float, float]:
    root, migrated = ROOT, True
    if name.endswith(BEFORE) and before is not None:
        name, root = name.removesuffix(BEFORE), before
        migrated = False  # its engine migrates on open, to its own schema
    with database("postgres", migrated) as url, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--cell", name, "--url", url]
        command += ["--seconds", str(seconds), "--out", str(out)]
        subprocess.run(command, cwd=root, check=True)
        rate, cpu, server = json.loads(out.read_text())
        return float(rate), float(cpu), float(server)


def main() -> None:
    parser = rounds_command_line(__doc__, rounds=5, backends=False)
    args = parser.parse_args()
    if args.cell:
        child(args.cell, args.url, args.seconds, args.out)
        return
    wanted = chosen_cells(args.only, CELLS)
    cells = [
        c for name in wanted for c in ([name, name + BEFORE] if args.before and "engine" in name else [name])
    ]
    runs: dict[str, list[tuple[float, float, float]]] = {cell: [] for cell in cells}
    started = " ".join(f"{v:.1f}" for v in os.getloadavg())
    for _ in range(args.rounds):
        for cell in cells:
            runs[cell].append(run_cell(cell, args.seconds, args.before))
    ended = " ".join(f"{v:.1f}" for v in os.getloadavg())
    rows = []
    for cell in cells:
        rate, cpu = median([r for r, _, _ in runs[cell]]), median([c for _, c, _ in runs[cell]])
        server = median([s for _, _, s in runs[cell]])
        base = runs.get(CELLS[cell.removesuffix(BEFORE)])
        raw = median([r for r, _, _ in base]) if base else float("nan")
        every = " ".join(f"{r:,.0f}" for r, _, _ in runs[cell])
        rows.append((cell, f"{rate:,.0f}", every, f"{rate / raw:.2f}x", f"{cpu:,.0f}", f"{server:,.0f}"))
    show(
        f"PostgreSQL writers, synchronous_commit off ({args.rounds} rounds of {args.seconds:g} s;"
        f" load {started} -> {ended})",
        ["cell", "median ops/s", "every run", "/ raw", "CPU µs per op (median)", "server CPU µs per op"],
        rows,
    )


if __name__ == "__main__":
    main()
