"""Server CPU per durable set on one connection: websocket and REST, beside the engine's own
`values.set` and the durable echo floors (issue 21's adapter share).

Wall-clock figures swing with the machine's load; the CPU a server process spends per request
(all its threads: `/proc/PID/stat` utime + stime) does much less. Each server runs as its own
process (`bench.websocket_roundtrips`, `bench.rest_throughput`); the client here sends `--sets`
requests one at a time on one connection, and the figure is the server's CPU over them. The direct
row runs `engine.values.set` in a child process on a fresh SQLite file (its process CPU over the
calls). Rounds alternate between the rows.

    python -m bench.set_cpu [--sets 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.common import median
from bench.rest_throughput import BARE_DURABLE_APP, bare_server, exchange, set_request
from bench.rest_throughput import engine_server as rest_server
from bench.websocket_roundtrips import DURABLE_ECHO_SERVER, SET, echo_server, engine_server, open_client

TICK = os.sysconf("SC_CLK_TCK")
DIRECT = """
import os, sys, anyio
from session_engine.engine import Engine
async def main(url, sets):
    async with Engine.open(url) as engine:
        for i in range(200):
            await engine.values.set("bench", "s", "token", "abc123", ttl_seconds=3600)
        before = os.times()
        for i in range(sets):
            await engine.values.set("bench", "s", "token", "abc123", ttl_seconds=3600)
        after = os.times()
        print(after.user - before.user, after.system - before.system)
anyio.run(main, sys.argv[1], int(sys.argv[2]))
"""


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of every thread of `pid`."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


async def on_server(pid: int, sets: int, one: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    """Microseconds of the server's (user, system) CPU per call of `one` (after 200 warm-up calls)."""
    for _ in range(200):
        await one()
    user, system = cpu_seconds(pid)
    for _ in range(sets):
        await one()
    user_after, system_after = cpu_seconds(pid)
    return (user_after - user) / sets * 1e6, (system_after - system) / sets * 1e6


async def websocket(url: str, pid: int, sets: int, initialize: bool) -> tuple[float, float]:
    ws = await open_client(url, initialize)

    async def one() -> None:
        await ws.send(SET)
        await ws.recv()

    try:
        return await on_server(pid, sets, one)
    finally:
        await ws.close()


async def rest(port: int, pid: int, sets: int) -> tuple[float, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = set_request(port, "bench-cpu")

    async def one() -> None:
        assert await exchange(reader, writer, request) in (200, 204)

    try:
        return await on_server(pid, sets, one)
    finally:
        writer.close()


def direct(sets: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="set-cpu-") as directory:
        url = f"sqlite:///{Path(directory) / 'direct.db'}"
        out = subprocess.run([sys.executable, "-c", DIRECT, url, str(sets)], capture_output=True, check=True)
        user, system = (float(seconds) / sets * 1e6 for seconds in out.stdout.split())
        return user, system


def pid_on(port: int) -> int:
    """The process listening on `port` (the REST servers are started without their pid)."""
    found = subprocess.run(["fuser", f"{port}/tcp"], capture_output=True, text=True, check=True)
    return int(found.stdout.split()[0])


async def run(args: argparse.Namespace) -> None:
    results: dict[str, list[tuple[float, float]]] = {}
    with contextlib.ExitStack() as stack:
        ws_url, ws_pid = stack.enter_context(engine_server("full"))
        echo_url, echo_pid = stack.enter_context(echo_server(DURABLE_ECHO_SERVER))
        rest_port = stack.enter_context(rest_server("full"))
        bare_port = stack.enter_context(bare_server(BARE_DURABLE_APP))
        rows: dict[str, Callable[[], Awaitable[tuple[float, float]]]] = {
            "websocket set (server CPU)": lambda: websocket(ws_url, ws_pid, args.sets, True),
            "durable echo (server CPU)": lambda: websocket(echo_url, echo_pid, args.sets, False),
            "REST set (server CPU)": lambda: rest(rest_port, pid_on(rest_port), args.sets),
            "bare FastAPI + durable write (server CPU)": lambda: rest(
                bare_port, pid_on(bare_port), args.sets
            ),
            "engine.values.set direct (process CPU)": lambda: asyncio.to_thread(direct, args.sets),
        }
        for _ in range(args.rounds):
            for name, measure in rows.items():
                results.setdefault(name, []).append(await measure())
    print(f"CPU microseconds per durable set, one connection ({args.sets} sets, {args.rounds} rounds)")
    print(f"  {'':<44} {'user':>7} {'system':>7}  runs (user/system)")
    for name, runs in results.items():
        user, system = median([u for u, _ in runs]), median([s for _, s in runs])
        listed = ", ".join(f"{u:.0f}/{s:.0f}" for u, s in runs)
        print(f"  {name:<44} {user:7.1f} {system:7.1f}  {listed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sets", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
