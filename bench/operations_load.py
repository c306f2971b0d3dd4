"""A well-behaved client's latency while the server carries an operator's loads (issue #23).

`session-engine serve` on a SQLite file holding EVENTS events of every domain (`bench.replay_rate`'s
mix). One client writes and reads in turn over HTTP keep-alive (`POST /rpc`:
`upload_session_object`, then `download_session_object`), for SECONDS per scenario:

1. alone (the baseline, same run);
2. while `session-engine replay` rebuilds every projection from the log in another process;
3. while IDLE initialized `/ws` connections and SLOWLORIS connections (request headers trickled a
   line a second, reopened when the server cuts them off at `header_timeout_seconds`) are held
   by another process;
4. while peers never read, in another process: READERS `/ws` clients (4 KiB socket receive buffer)
   that initialize, upload UPLOADS objects of 60 KB to their session, then subscribe to its events
   from version 1 (packet 100) and read nothing more (a `/ws` subscription follows the
   connection's own session only, so the client's writes cannot push to them: the stored events
   do, 6 MB each by default, over what the kernel's socket buffer takes); and PEERS bus peers
   (`bench.common.peer`) that subscribe to the tenant's object events (each of the client's writes
   pushes to them) and pipeline REQUESTS `list` requests of 30 stored records (about 60 KB per
   answer). `send_stall_seconds` is SECONDS + 5 here (default 30): the peers are held through the
   measurement, then the server must close every one with 1008.

Prints p50 / p99 / max of each kind of request per scenario, the server's memory per idle
initialized websocket (RSS growth over the IDLE connections, measured once they are open), and
for scenario 4 the server's RSS before, during and after, and how soon the non-readers were
closed 1008 (the server's `session_engine_websocket_closes` counter on `/metrics`).

    python -m bench.operations_load [--events 200000] [--idle 1000] [--slowloris 300] [--seconds 10]
        [--readers 20] [--uploads 100] [--peers 5] [--requests 400]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx
import orjson

from bench.common import (
    BENCH_KEY,
    ROOT,
    SECRET,
    bench_config,
    bus_request,
    free_port,
    peer,
    percentile,
    show,
    store_records,
    wait_for_port,
)
from bench.replay_rate import fill
from session_engine.engine import Engine

HEADERS = {"X-Api-Key": BENCH_KEY}
CONFIG_LIMITS = """
[limits]
rate_limit_actions = 1000000
send_stall_seconds = {stall}
[bus]
secret = "{secret}"
tenant = "bench"
"""
NOT_READING = 1008


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def call(method: str, n: int, **params: object) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": n, "method": method, "params": params})


def measure(
    base: str, seconds: float, until: subprocess.Popen[bytes] | None = None
) -> dict[str, list[float]]:
    """Latencies (ms) of a write and a read in turn, for `seconds` (or until `until` exits)."""
    taken: dict[str, list[float]] = {"write": [], "read": []}
    message = {"role": "user", "content": [{"type": "text", "text": "well behaved"}]}
    value = {"type": "message", "message": message}
    stop = time.monotonic() + seconds
    n = 0
    # A long wait is a figure to record, not a failure (the rebuild's swap holds writes seconds).
    headers = {**HEADERS, "Content-Type": "application/json"}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as http:
        while time.monotonic() < stop and (until is None or until.poll() is None):
            n += 1
            for kind, body in (
                (
                    "write",
                    call("upload_session_object", n, session_id="calm", alias=f"a{n % 50}", value=value),
                ),
                ("read", call("download_session_object", n, session_id="calm", alias=f"a{n % 50}")),
            ):
                started = time.perf_counter()
                answer = http.post("/rpc", content=body)
                taken[kind].append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200 and b'"result"' in answer.content, answer.content[:200]
    return taken


def rows(scenario: str, taken: dict[str, list[float]], note: str = "") -> list[list[object]]:
    return [
        [
            scenario,
            kind,
            len(samples),
            f"{percentile(samples, 50):.2f}",
            f"{percentile(samples, 99):.2f}",
            f"{max(samples):.1f}",
            note,
        ]
        for kind, samples in taken.items()
    ]


# -- the loads' holder (a process of its own) -----------------------------------------------------
async def hold(port: int, idle: int, slowloris: int) -> None:
    """Open `idle` initialized `/ws` connections (then print `idle`), and keep `slowloris`
    trickling ones (then print `ready`)."""
    from websockets.asyncio.client import connect

    opened = []
    for n in range(idle):
        ws = await connect(f"ws://127.0.0.1:{port}/ws", ping_interval=None, max_queue=1)
        await ws.send(
            orjson.dumps(
                {"type": 0, "id": 1, "client_id": f"idle-{n:06d}", "websocket_api_key": BENCH_KEY}
            ).decode()
        )
        assert orjson.loads(await ws.recv())["status"] == 1
        opened.append(ws)
    await asyncio.sleep(2)
    print("idle", flush=True)

    async def trickle() -> None:
        """A header line a second until the server answers (408) or closes; then again."""
        while True:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                line = 0
                while True:
                    line += 1
                    writer.write(b"X-Slow-%d: x\r\n" % line)
                    await writer.drain()
                    try:
                        await asyncio.wait_for(reader.read(65536), 1.0)
                        break  # answered or closed
                    except TimeoutError:
                        continue
                writer.close()
            except OSError:
                await asyncio.sleep(0.5)

    tasks = [asyncio.create_task(trickle()) for _ in range(slowloris)]
    await asyncio.sleep(2)
    print("ready", flush=True)
    await asyncio.gather(*tasks)


async def never_read(port: int, readers: int, peers: int, requests: int, uploads: int) -> None:
    """Open `peers` bus peers and `readers` `/ws` clients that read nothing, then print `ready`."""
    from websockets.asyncio.client import ClientConnection, connect

    def value() -> dict[str, object]:
        """60 KB of random text (a frame under `max_frame_bytes`): the connection's
        permessage-deflate would shrink a repeated one to almost nothing on the wire."""
        text = secrets.token_urlsafe(45_000)
        return {"type": "message", "message": {"role": "user", "content": [{"type": "text", "text": text}]}}

    async def open_reader(n: int) -> ClientConnection:
        """Initialized, its session's history stored (every answer read)."""
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        ws = await connect(f"ws://127.0.0.1:{port}/ws", sock=sock, ping_interval=None, max_queue=1)
        hello = {"type": 0, "id": 1, "client_id": f"deaf-{n:06d}", "websocket_api_key": BENCH_KEY}
        await ws.send(orjson.dumps(hello).decode())
        assert orjson.loads(await ws.recv())["status"] == 1
        for number in range(uploads):
            packet = {"type": 110, "id": 2 + number, "alias": f"o{number}", "value": value()}
            await ws.send(orjson.dumps(packet).decode())
            assert orjson.loads(await ws.recv())["status"] == 1
        return ws

    async def stop_reading(ws: ClientConnection) -> None:
        """Subscribe from version 1: the stored events are pushed, none is read."""
        await ws.send(orjson.dumps({"type": 100, "id": 1, "from_version": 1}).decode())
        assert orjson.loads(await ws.recv())["status"] == 1

    readers_held = [await open_reader(n) for n in range(readers)]
    store_records(port)
    held = []
    for _ in range(peers):
        bus = peer(port, reading=False)
        bus.send(orjson.dumps({"type": "subscribe", "subjects": {"objects:session.*": [0]}}).decode())
        for n in range(requests):
            bus.send(bus_request(n, "list", {"limit": 30}))
        held.append(bus)
    await asyncio.gather(*(stop_reading(ws) for ws in readers_held))
    await asyncio.sleep(1)
    print("ready", flush=True)
    await asyncio.sleep(3600)
    del held, readers_held


def closes(base: str) -> dict[str, float]:
    """The server's `session_engine_websocket_closes` by surface, for close code 1008."""
    counted: dict[str, float] = {}
    for line in httpx.get(base + "/metrics").text.splitlines():
        if line.startswith("session_engine_websocket_closes_total{") and f'code="{NOT_READING}"' in line:
            surface = line.split('surface="')[1].split('"')[0]
            counted[surface] = counted.get(surface, 0.0) + float(line.rsplit(" ", 1)[1])
    return counted


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--slowloris", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--peers", type=int, default=5)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--uploads", type=int, default=100)
    parser.add_argument("--hold", type=int, default=None, help=argparse.SUPPRESS)  # the holder's port
    parser.add_argument("--never-read", type=int, default=None, help=argparse.SUPPRESS)  # its port
    options = parser.parse_args()
    # Every held connection is a file here and in the server (a child: it inherits the limit).
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if options.hold is not None:
        asyncio.run(hold(options.hold, options.idle, options.slowloris))
        return
    if options.never_read is not None:
        asyncio.run(
            never_read(options.never_read, options.readers, options.peers, options.requests, options.uploads)
        )
        return
    stall = options.seconds + 5
    with tempfile.TemporaryDirectory(prefix="operations-load-") as directory:
        url = f"sqlite:///{Path(directory) / 'load.db'}"

        async def migrate() -> None:
            async with Engine.open(url):
                pass

        anyio.run(migrate)
        fill(url, options.events, mix=True)
        anyio.run(migrate)  # projects the log once (the server's open would)
        config = Path(directory) / "server.toml"
        config.write_text(bench_config("normal", CONFIG_LIMITS.format(stall=stall, secret=SECRET)))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "session_engine.adapters.cli.main", "serve", "--port", str(port)]
        env = {**os.environ, "SESSION_ENGINE_DATABASE": url}
        server = subprocess.Popen(
            [*command, "--config", str(config)], cwd=ROOT, env=env, stderr=subprocess.DEVNULL
        )
        table: list[list[object]] = []
        try:
            wait_for_port(port)
            measure(base, 1.0)  # warm up
            table += rows("alone", measure(base, options.seconds))

            replay = [sys.executable, "-m", "session_engine.adapters.cli.main", "replay", "-d", url, "--json"]
            started = time.monotonic()
            rebuild = subprocess.Popen(replay, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            taken = measure(base, 600, until=rebuild)
            rebuild.wait()
            table += rows(
                "during a rebuild",
                taken,
                f"replay of {options.events:,} events: {time.monotonic() - started:.1f} s",
            )

            before = rss_kib(server.pid)
            holder = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.operations_load",
                    "--hold",
                    str(port),
                    "--idle",
                    str(options.idle),
                    "--slowloris",
                    str(options.slowloris),
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
            )
            try:
                assert holder.stdout is not None and holder.stdout.readline().strip() == b"idle"
                held = rss_kib(server.pid)
                assert holder.stdout.readline().strip() == b"ready"
                load = f"{options.idle:,} idle websockets + {options.slowloris:,} slowloris"
                table += rows("under " + load, measure(base, options.seconds))
                per_socket = (held - before) / options.idle if options.idle else 0.0
            finally:
                holder.kill()
                holder.wait()

            deaf = scenario_never_read(options, port, server.pid, stall)
            table += rows(
                f"while {options.readers} /ws + {options.peers} bus peers never read",
                deaf.pop("taken"),  # type: ignore[arg-type]
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
    load_average = os.getloadavg()
    show(
        f"A well-behaved client's latency (ms), SQLite, load average {load_average[0]:.1f}",
        ["scenario", "request", "n", "p50", "p99", "max", "note"],
        table,
    )
    print(
        f"server memory per idle initialized websocket: {per_socket:.1f} KiB"
        f" (RSS {before // 1024} -> {held // 1024} MiB over {options.idle:,} connections)"
    )
    print(f"peers that never read (send_stall_seconds = {stall:g}): " + orjson.dumps(deaf).decode())


def scenario_never_read(options: argparse.Namespace, port: int, pid: int, stall: float) -> dict[str, object]:
    """Scenario 4: the client's latencies while the non-readers are held, the server's RSS (MiB)
    before, during and once they were closed, and how soon each surface closed them 1008."""
    base = f"http://127.0.0.1:{port}"
    closed_before = closes(base)
    before = rss_kib(pid)
    command = [sys.executable, "-m", "bench.operations_load", "--never-read", str(port)]
    counts = [
        "--readers",
        str(options.readers),
        "--peers",
        str(options.peers),
        "--uploads",
        str(options.uploads),
    ]
    deaf = subprocess.Popen(
        [*command, *counts, "--requests", str(options.requests)], cwd=ROOT, stdout=subprocess.PIPE
    )
    try:
        assert deaf.stdout is not None and deaf.stdout.readline().strip() == b"ready"
        ready = time.monotonic()
        taken = measure(base, options.seconds)
        during = rss_kib(pid)
        expected = {"websocket": options.readers, "bus": options.peers}
        closed_at: dict[str, float] = {}
        while len(closed_at) < len(expected) and time.monotonic() < ready + stall + 120:
            counted = closes(base)
            for surface, number in expected.items():
                if (
                    surface not in closed_at
                    and counted.get(surface, 0) - closed_before.get(surface, 0) >= number
                ):
                    closed_at[surface] = round(time.monotonic() - ready, 1)
            time.sleep(0.5)
        counted = closes(base)
        after = rss_kib(pid)
    finally:
        deaf.kill()
        deaf.wait()
    return {
        "taken": taken,
        "rss_mib": [before // 1024, during // 1024, after // 1024],
        "closed_1008": {s: counted.get(s, 0) - closed_before.get(s, 0) for s in expected},
        "all_closed_after_s": closed_at,
    }


if __name__ == "__main__":
    main()
