"""Websocket round trips: set/get through the server vs a bare `websockets` echo server, and memory per
idle initialized connection.

Both servers run as subprocesses (so the load generator does not share their GIL); the client is the
asyncio `websockets` client in this process. The echo server answers each frame with the same frame:
the ceiling for "one JSON frame in, one out" in Python on this machine.

Measurements alternate between the servers (`--rounds` slices of `--seconds / --rounds` each, on
connections opened once per server), so a change in machine load hits the baseline and the server
alike. Besides the default rows (the engine at `--durability`, full unless given), sets are also
measured against a second server opened with `durability="normal"` (SQLite `synchronous=NORMAL`, no
fsync per commit; never the default): what the adapter and the engine cost apart from the fsync.

    python -m bench.websocket_roundtrips [--seconds 3] [--rounds 3] [--connections 1,100]
                                        [--idle 10000] [--durability full|normal|off]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
from websockets.asyncio.client import ClientConnection, connect

from bench.common import BENCH_KEY, bench_config, free_port, round_trips_on, served

KEY = BENCH_KEY
ECHO_SERVER = """
import asyncio, sys
from websockets.asyncio.server import serve
async def echo(ws):
    async for message in ws:
        await ws.send(message)
async def main():
    async with serve(echo, "127.0.0.1", int(sys.argv[1]), compression=None, max_size=None):
        print("ready", flush=True)
        await asyncio.Future()
asyncio.run(main())
"""
DURABLE_ECHO_SERVER = ECHO_SERVER.replace(
    "async def echo(ws):\n",
    "import os, sqlite3, tempfile\n"
    "path = os.path.join(tempfile.mkdtemp(prefix='ws-durable-echo-'), 'frames.db')\n"
    "db = sqlite3.connect(path, isolation_level=None)\n"
    "db.execute('PRAGMA journal_mode=WAL')\n"
    "db.execute('PRAGMA synchronous=FULL')\n"
    "db.execute('CREATE TABLE frames (id INTEGER PRIMARY KEY, body TEXT NOT NULL)')\n"
    "async def echo(ws):\n",
).replace(
    "        await ws.send(message)\n",
    "        db.execute('INSERT INTO frames (body) VALUES (?)', (message,))  # its own durable transaction\n"
    "        await ws.send(message)\n",
)
"""The echo server, writing each frame to SQLite (WAL, synchronous=FULL: one fsync per frame) on
the event loop before answering: no checks, no projections, no thread hop. A durable set on one
connection cannot be faster than this; on many connections it has no group commit, so it is not a
ceiling there."""


LIMITS = """[limits]
rate_limit_actions = 1000000000
initialize_deadline_seconds = 600
"""


@contextlib.contextmanager
def engine_server(durability: str, extra_config: str = "") -> Iterator[tuple[str, int]]:
    with served(bench_config(durability, LIMITS + extra_config), "ws-bench-") as (port, pid):
        yield f"ws://127.0.0.1:{port}/ws", pid


@contextlib.contextmanager
def echo_server(source: str = ECHO_SERVER) -> Iterator[tuple[str, int]]:
    port = free_port()
    with subprocess.Popen([sys.executable, "-c", source, str(port)], stdout=subprocess.PIPE) as process:
        try:
            assert process.stdout is not None
            process.stdout.readline()
            yield f"ws://127.0.0.1:{port}", process.pid
        finally:
            process.terminate()
            process.wait(timeout=30)


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(found.group(1)) if found else 0


async def open_client(url: str, initialize: bool) -> ClientConnection:
    ws = await connect(url, compression=None, max_size=None, open_timeout=60, ping_interval=None)
    if initialize:
        await ws.send(
            orjson.dumps({"type": 0, "id": 1, "websocket_api_key": KEY, "client_id": "bench-client"}).decode()
        )
        answer = orjson.loads(await ws.recv())
        assert answer["status"] == 1, answer
    return ws


SET = orjson.dumps({"type": 12, "id": 2, "key": "token", "value": "abc123", "ttl": 3600}).decode()
GET = orjson.dumps({"type": 13, "id": 3, "key": "token"}).decode()
AGAIN = orjson.dumps({"type": 0, "id": 4, "websocket_api_key": KEY, "client_id": "bench-client"}).decode()
"""Initialize on an initialized connection: answered AlreadyInitialized without any engine call."""


async def idle_memory(url: str, pid: int, count: int, engine: bool) -> tuple[float, float]:
    """(KiB per idle connection, seconds to open them) measured on the server's RSS."""
    warm = [await open_client(url, engine) for _ in range(20)]  # load code paths before measuring
    await asyncio.sleep(0.5)
    before = rss_kib(pid)
    started = time.perf_counter()
    clients: list[ClientConnection] = []
    for start in range(0, count, 100):
        clients += await asyncio.gather(*(open_client(url, engine) for _ in range(min(100, count - start))))
    opened = time.perf_counter() - started
    await asyncio.sleep(1.0)
    after = rss_kib(pid)
    await asyncio.gather(*(ws.close() for ws in clients + warm))
    return (after - before) / count, opened


DURABLE_ECHO_ROW = "set only, echo server + durable write per frame"
CASES = (
    ("echo", "echo server", [SET, GET]),
    ("durable echo", DURABLE_ECHO_ROW, [SET]),
    ("ours", "set+get", [SET, GET]),
    ("ours", "set only", [SET]),
    ("ours", "get only", [GET]),
    ("ours", "no engine call", [AGAIN]),
    ("normal", "set only, durability=normal (not the default)", [SET]),
)
"""(server, row label, frames sent in turn by each connection)."""
ECHOES = ("echo", "durable echo")


async def interleaved(urls: dict[str, str], n: int, seconds: float, rounds: int) -> dict[str, float]:
    """Round trips/s of every case in CASES on `n` connections per server, slices alternating."""
    clients = {
        name: [await open_client(url, name not in ECHOES) for _ in range(n)] for name, url in urls.items()
    }
    cases = [(server, label, frames) for server, label, frames in CASES if server in urls]
    totals = {label: [0.0, 0.0] for _, label, _ in cases}
    for _ in range(rounds):
        for server, label, frames in cases:
            done, elapsed = await round_trips_on(clients[server], seconds / rounds, frames)
            totals[label][0] += done
            totals[label][1] += elapsed
    await asyncio.gather(*(ws.close() for group in clients.values() for ws in group))
    return {label: done / elapsed for label, (done, elapsed) in totals.items()}


async def run(args: argparse.Namespace) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    fan = [int(n) for n in args.connections.split(",")]
    rows: list[tuple[str, str]] = []
    with contextlib.ExitStack() as stack:
        echo_url, echo_pid = stack.enter_context(echo_server())
        url, pid = stack.enter_context(engine_server(args.durability))
        urls = {"echo": echo_url, "durable echo": stack.enter_context(echo_server(DURABLE_ECHO_SERVER))[0]}
        urls["ours"] = url
        if args.durability != "normal":
            urls["normal"] = stack.enter_context(engine_server("normal"))[0]
        figures = {n: await interleaved(urls, n, args.seconds, args.rounds) for n in fan}
        echo_memory = await idle_memory(echo_url, echo_pid, args.idle, engine=False) if args.idle else None
        memory = await idle_memory(url, pid, args.idle, engine=True) if args.idle else None
    for n in fan:
        echo = figures[n]["echo server"]
        rows.append((f"echo server, {n} connection(s)", f"{echo:,.0f}"))
        durable = figures[n][DURABLE_ECHO_ROW]
        for label, value in figures[n].items():
            if label != "echo server":
                share = f"{value / echo:.0%} of echo"
                if label.startswith("set only") and label != DURABLE_ECHO_ROW:
                    share += f", {value / durable:.0%} of echo + durable write"
                rows.append((f"{label}, {n} connection(s)", f"{value:,.0f} ({share})"))
    if memory and echo_memory:
        rows.append(
            (
                f"KiB/idle initialized connection (n={args.idle:,})",
                f"{memory[0]:.1f} (open: {memory[1]:.1f} s)",
            )
        )
        rows.append((f"KiB/idle echo connection (n={args.idle:,})", f"{echo_memory[0]:.1f}"))
        rows.append(
            (f"server RSS growth at {args.idle:,} connections", f"{memory[0] * args.idle / 1024:,.0f} MiB")
        )
    print(
        f"websocket round trips per second (SQLite, durability={args.durability} unless a row says "
        f"otherwise, {args.seconds:g} s per figure in {args.rounds} alternating slices)"
    )
    for name, value in rows:
        print(f"  {name:<64} {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="per figure, over all rounds")
    parser.add_argument("--rounds", type=int, default=3, help="alternating slices per figure")
    parser.add_argument("--connections", default="1,100")
    parser.add_argument(
        "--idle", type=int, default=10_000, help="idle connections for the memory figure (0: skip)"
    )
    parser.add_argument("--durability", default="full", choices=["full", "normal", "off"])
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
