"""A well-behaved client's latency while the server carries an operator's loads (issue #23).

`session-engine serve` on a SQLite file holding EVENTS events of every domain (`bench.replay_rate`'s
mix). One client writes and reads in turn over HTTP keep-alive (`POST /rpc`:
`upload_session_object`, then `download_session_object`), for SECONDS per scenario:

1. alone (the baseline, same run);
2. while `session-engine replay` rebuilds every projection from the log in another process;
3. while IDLE initialized `/ws` connections and SLOWLORIS connections (request headers trickled a
   line a second, reopened when the server cuts them off at `header_timeout_seconds`) are held
   by another process.

Prints p50 / p99 / max of each kind of request per scenario, and the server's memory per idle
initialized websocket (RSS growth over the IDLE connections, measured once they are open).

    python -m bench.operations_load [--events 200000] [--idle 1000] [--slowloris 300] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx
import orjson

from bench.common import BENCH_KEY, ROOT, bench_config, free_port, percentile, show, wait_for_port
from bench.replay_rate import fill
from session_engine.engine import Engine

HEADERS = {"X-Api-Key": BENCH_KEY}
CONFIG_LIMITS = """
[limits]
rate_limit_actions = 1000000
"""


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
    with httpx.Client(base_url=base, headers={**HEADERS, "Content-Type": "application/json"}) as http:
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--slowloris", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--hold", type=int, default=None, help=argparse.SUPPRESS)  # the holder's port
    options = parser.parse_args()
    if options.hold is not None:
        asyncio.run(hold(options.hold, options.idle, options.slowloris))
        return
    with tempfile.TemporaryDirectory(prefix="operations-load-") as directory:
        url = f"sqlite:///{Path(directory) / 'load.db'}"

        async def migrate() -> None:
            async with Engine.open(url):
                pass

        anyio.run(migrate)
        fill(url, options.events, mix=True)
        anyio.run(migrate)  # projects the log once (the server's open would)
        config = Path(directory) / "server.toml"
        config.write_text(bench_config("normal", CONFIG_LIMITS))
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


if __name__ == "__main__":
    main()
