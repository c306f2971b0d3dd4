"""REST throughput: Distri `setSessionValue` / `getSessionValue` requests per second through the server,
against a bare endpoint of the same framework (FastAPI on uvicorn, same settings) in the same run.

The servers run as subprocesses; the load generator is a minimal keep-alive HTTP/1.1 client on
asyncio streams in this process (httpx would be the bottleneck). The bare app answers the same
routes with a constant (it reads the POST body and returns 204): the ceiling for "one HTTP request
in, one answer out" with this framework on this machine (the target's reference). The server answers
these two routes before FastAPI's routing (`adapters.rest.hot`), so a second, informative baseline
shows the floor below any framework: a bare ASGI callable on the same uvicorn.

Measurements alternate between the servers (`--rounds` slices of `--seconds / --rounds` each), so a
change in machine load hits the baseline and the server alike; a figure is requests over time summed
across its slices. Besides the default rows (the engine at `--durability`, full unless given), sets
are also measured against a second server opened with `durability="normal"` (SQLite
`synchronous=NORMAL`, no fsync per commit; never the default): what the adapter and the engine cost
apart from the fsync.

    python -m bench.rest_throughput [--seconds 3] [--rounds 3] [--connections 1,16]
                                    [--durability full|normal|off]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator

import orjson
from rich.console import Console
from rich.table import Table

from bench.common import BENCH_KEY, bench_config, free_port, served, wait_for_port

KEY = BENCH_KEY
BARE_APP = """
import sys, uvicorn
from fastapi import FastAPI, Request
from starlette.responses import Response
app = FastAPI()
@app.post("/api/v1/sessions/{session_id}/values", status_code=204)
async def set_value(session_id: str, request: Request) -> Response:
    await request.body()
    return Response(status_code=204)
@app.get("/api/v1/sessions/{session_id}/values/{key}")
async def get_value(session_id: str, key: str) -> Response:
    return Response(b'{"value":{"theme":"dark","language":"en"}}', media_type="application/json")
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", server_header=False)
"""
BARE_DURABLE_APP = BARE_APP.replace(
    "    await request.body()\n",
    "    db.execute('INSERT INTO bodies (body) VALUES (?)', (await request.body(),))\n",
).replace(
    "app = FastAPI()\n",
    "import os, sqlite3, tempfile\n"
    "path = os.path.join(tempfile.mkdtemp(prefix='rest-durable-'), 'b.db')\n"
    "db = sqlite3.connect(path, isolation_level=None)\n"
    "db.execute('PRAGMA journal_mode=WAL')\n"
    "db.execute('PRAGMA synchronous=FULL')\n"
    "db.execute('CREATE TABLE bodies (id INTEGER PRIMARY KEY, body BLOB NOT NULL)')\n"
    "app = FastAPI()\n",
)
"""The bare app, writing each set's body to SQLite (WAL, synchronous=FULL: its own durable transaction,
one fsync) on the event loop before answering: no checks, no projections, no thread hop. A durable
set on one connection cannot be faster than this; with many connections it has no group commit, so
it is no ceiling there."""
BARE_ASGI = """
import sys, uvicorn
VALUE = b'{"value":{"theme":"dark","language":"en"}}'
async def app(scope, receive, send):
    more = scope["method"] == "POST"
    while more:
        more = (await receive()).get("more_body", False)
    if scope["method"] == "POST":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    headers = [(b"content-length", b"%d" % len(VALUE)), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": VALUE})
uvicorn.run(
    app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", server_header=False, lifespan="off"
)
"""
"""No framework at all: the uvicorn floor. The adapter answers the two routes benchmarked here in
a pure ASGI middleware (`adapters.rest.hot`), so this column shows how far from that floor it is."""


@contextlib.contextmanager
def engine_server(durability: str) -> Iterator[int]:
    with served(bench_config(durability), "rest-bench-") as (port, _pid):
        yield port


@contextlib.contextmanager
def bare_server(source: str = BARE_APP) -> Iterator[int]:
    port = free_port()
    with subprocess.Popen([sys.executable, "-c", source, str(port)], stderr=subprocess.DEVNULL) as process:
        try:
            wait_for_port(port)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=30)


def set_request(port: int, session: str) -> bytes:
    body = orjson.dumps({"key": "user_preference", "value": {"theme": "dark", "language": "en"}})
    head = (
        f"POST /api/v1/sessions/{session}/values HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def get_request(port: int, session: str) -> bytes:
    return (
        f"GET /api/v1/sessions/{session}/values/user_preference HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {KEY}\r\n\r\n"
    ).encode()


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """Send one request, read one response (Content-Length framed); returns the status code."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def requests_per_second(port: int, connections: int, seconds: float, kind: str) -> float:
    done, elapsed = await requests_in(port, connections, seconds, kind)
    return done / elapsed


async def requests_in(port: int, connections: int, seconds: float, kind: str) -> tuple[int, float]:
    """(requests answered, seconds) over `connections` keep-alive clients, one request in flight each."""
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]
    make = set_request if kind == "set" else get_request
    done = 0
    # Each connection works on its own session (like clients with their own threads).
    prepared = [make(port, f"bench-thread-{i}") for i in range(connections)]
    for (reader, writer), request in zip(streams, prepared, strict=True):  # warm up, and a value to get
        assert await exchange(reader, writer, set_request(port, request.split(b"/")[4].decode())) in (
            200,
            204,
        )
    stop = time.perf_counter() + seconds

    async def drive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> None:
        nonlocal done
        while time.perf_counter() < stop:
            status = await exchange(reader, writer, request)
            assert status in (200, 204), status
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(drive(r, w, q) for (r, w), q in zip(streams, prepared, strict=True)))
    elapsed = time.perf_counter() - started
    for _, writer in streams:
        writer.close()
    return done, elapsed


async def run(args: argparse.Namespace) -> None:
    fan = [int(n) for n in args.connections.split(",")]
    kinds = ("set", "get")
    slice_seconds = args.seconds / args.rounds
    with contextlib.ExitStack() as stack:
        servers = {
            "bare": stack.enter_context(bare_server()),
            "asgi": stack.enter_context(bare_server(BARE_ASGI)),
            "ours": stack.enter_context(engine_server(args.durability)),
            "durable": stack.enter_context(bare_server(BARE_DURABLE_APP)),
        }
        if args.durability != "normal":
            servers["normal"] = stack.enter_context(engine_server("normal"))
        figures: dict[tuple[str, str, int], float] = {}
        for kind in kinds:
            for n in fan:
                names = [name for name in servers if kind == "set" or name not in ("normal", "durable")]
                totals = {name: [0.0, 0.0] for name in names}  # requests, seconds
                for _ in range(args.rounds):
                    for name in names:
                        done, elapsed = await requests_in(servers[name], n, slice_seconds, kind)
                        totals[name][0] += done
                        totals[name][1] += elapsed
                for name, (done, seconds) in totals.items():
                    figures[name, kind, n] = done / seconds
    rows = []
    for kind in kinds:
        name = "setSessionValue" if kind == "set" else "getSessionValue"
        variants = [("ours", "")]
        if kind == "set" and "normal" in servers:
            variants.append(("normal", ", durability=normal (not the default)"))
        for server, label in variants:
            for n in fan:
                bare, ours = figures["bare", kind, n], figures[server, kind, n]
                durable = figures.get(("durable", kind, n))
                rows.append(
                    (
                        f"{name}, {n} connection(s){label}",
                        f"{bare:,.0f}",
                        f"{figures['asgi', kind, n]:,.0f}",
                        f"{durable:,.0f} ({durable / bare:.0%})" if durable else "",
                        f"{ours:,.0f}",
                        f"{ours / bare:.0%}",
                    )
                )
    table = Table(
        title=f"REST throughput (requests/s, durability={args.durability} unless a row says otherwise; "
        "share: of bare FastAPI, target >= 60%)"
    )
    for column in ("case", "bare FastAPI", "bare ASGI", "bare + durable write", "session-engine", "share"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for row in rows:
        table.add_row(*row)
    Console(width=132).print(table)  # wide enough for the longest row name


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="per figure, over all rounds")
    parser.add_argument("--rounds", type=int, default=3, help="alternating slices per figure")
    parser.add_argument("--connections", default="1,16")
    parser.add_argument("--durability", choices=["full", "normal", "off"], default="full")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
