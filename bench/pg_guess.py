"""A lone writer's replacing `values.set` on PostgreSQL: round trips, client and server CPU per set.

Eight keys in one session, each set replacing one (`bench.peers`' workload), after a warm-up. Per
set: the writer connection's round trips (Syncs and simple queries in libpq's trace), the client
process's CPU time (`process_time`: every thread), the server's CPU time for the writer
connection (its backend process's utime + stime, from /proc: the server runs on this machine), and
the wall time (noise under load: compare CPU times, base and branch alternating).

    python -m bench.pg_guess --sets 2000 [--durability full]

`--before PATH` runs the same measurement from another checkout (its engine imported from there),
alternating with this one, `--rounds` times. Engine internals read: the writer's held connection.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from psycopg import pq

from bench.common import database
from session_engine.engine import Engine

WARM = 200
_TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu(pid: int) -> float:
    """Seconds of CPU the server process `pid` has used (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


async def measure(url: str, sets: int, durability: str) -> dict[str, float]:
    data = {"text": "x" * 180}
    async with Engine.open(url, durability=durability) as engine:
        for n in range(WARM):
            await engine.values.set("bench", "session-1", f"key-{n % 8}", data)
        held: Any = engine._committer._batches._held
        pgconn = held.connection.dbapi_connection.pgconn
        with tempfile.TemporaryDirectory() as tmp:
            trace_path = Path(tmp) / "trace"
            with trace_path.open("w") as trace:
                pgconn.trace(trace.fileno())
                pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
                server, cpu, wall = server_cpu(pgconn.backend_pid), time.process_time(), time.perf_counter()
                try:
                    for n in range(sets):
                        await engine.values.set("bench", "session-1", f"key-{n % 8}", data)
                finally:
                    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                    server = server_cpu(pgconn.backend_pid) - server
                    pgconn.untrace()
            lines = [line.split("\t") for line in trace_path.read_text().splitlines()]
        trips = sum(f[0] == "F" and f[2] in ("Sync", "Query") for f in lines if len(f) > 2)
    return {
        "round_trips": trips / sets,
        "client_us": cpu / sets * 1e6,
        "server_us": server / sets * 1e6,
        "wall_us": wall / sets * 1e6,
    }


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--sets", type=int, default=2000)
    parser.add_argument("--durability", default="full")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with database("postgres", migrated=False) as url:
            print(json.dumps(anyio.run(measure, url, args.sets, args.durability)))
        return
    here = Path(__file__).resolve().parents[1]
    checkouts = [("branch", here)] + ([("before", args.before)] if args.before else [])
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in checkouts}
    print(f"load {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for _ in range(args.rounds):
        for name, root in checkouts:
            # This file as a script, its engine (and `bench.common`) imported from `root`.
            command = [sys.executable, __file__, "--child", "--sets", str(args.sets)]
            command += ["--durability", args.durability]
            env = {**os.environ, "PYTHONPATH": str(root)}
            done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=True)
            results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(name, results[name][-1], flush=True)
    for name, runs in results.items():
        medians = {key: round(statistics.median(run[key] for run in runs), 2) for key in runs[0]}
        print(f"{name} medians: {medians}")
    print(f"load {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
