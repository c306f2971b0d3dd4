"""Shared helpers for the benchmarks: fresh databases, timing, and side-by-side tables."""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import orjson
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table
from websockets.sync.client import ClientConnection, connect

from session_engine.adapters.rpc.bus.auth import sign
from session_engine.engine import migrate
from session_engine.engine.backends import normalise_url

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN = os.environ.get("SESSION_ENGINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
# Piped into a file, rich would wrap at 80 columns and cut the wider tables' numbers.
console = Console(width=None if sys.stdout.isatty() else 160)


@contextlib.contextmanager
def sqlite_database(migrated: bool = True) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="session-engine-bench-") as directory:
        url = f"sqlite:///{Path(directory) / 'bench.db'}"
        if migrated:
            migrate(url)
        yield url


@contextlib.contextmanager
def postgres_database(migrated: bool = True, template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database, dropped afterwards; a copy of `template` when given."""
    admin = sa.create_engine(normalise_url(POSTGRES_ADMIN), isolation_level="AUTOCOMMIT")
    name = f"bench_{uuid.uuid4().hex[:10]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"{copy}')
    url = normalise_url(POSTGRES_ADMIN).set(database=name).render_as_string(hide_password=False)
    try:
        if migrated:
            migrate(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextlib.contextmanager
def database(backend: str, migrated: bool = True) -> Iterator[str]:
    """A new, empty database; `migrated`: to this checkout's schema (else the first open migrates
    it: another checkout's engine, whose migrations may differ)."""
    with sqlite_database(migrated) if backend == "sqlite" else postgres_database(migrated) as url:
        yield url


def command_line(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line: its docstring as help, and `--backends` (comma separated), the
    databases `run_backends` and `rows_of_backends` go through."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgres")
    return parser


def rounds_command_line(
    doc: str | None, *, rounds: int = 3, backends: bool = True, only: bool = True
) -> argparse.ArgumentParser:
    """The command line of a benchmark whose cells take turns round by round, each in a child
    process: `--seconds` per cell, `--rounds`, `--before` (another checkout whose engine cells run
    in the same rounds), `--backends` and `--only` some cells where the benchmark has them, and
    the hidden options a child is started with."""
    parser = (
        command_line(doc)
        if backends
        else argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--before", type=Path, help="another checkout whose engine cells run too")
    if only:
        parser.add_argument("--only", default="", help="comma-separated cell names (default: all)")
    parser.add_argument("--cell", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser


def chosen_cells(only: str, cells: Iterable[str]) -> list[str]:
    """The cells `--only` names (comma separated; all when empty), in the order given; a name
    that is no cell ends the run with the list of names, before any cell runs."""
    names = list(cells)
    wanted = [name for name in only.split(",") if name] or names
    unknown = [name for name in wanted if name not in names]
    if unknown:
        sys.exit(f"no such cell: {', '.join(unknown)} (cells: {', '.join(names)})")
    return wanted


def run_backends(
    backends: str,
    run: Callable[..., Awaitable[Sequence[Sequence[object]]]],
    *args: Any,
    title: Callable[[str], str],
    columns: Sequence[str] = ("measure", "result"),
) -> None:
    """For each backend of `backends` (comma separated): a fresh database, `run(url, *args)` on it,
    and its rows shown as a table of their own, titled `title(backend)`."""
    for backend in backends.split(","):
        with database(backend) as url:
            rows = anyio.run(run, url, *args)
        show(title(backend), columns, rows)


def rows_of_backends(
    backends: str, measure: Callable[..., Awaitable[list[list[object]]]], *args: Any
) -> list[list[object]]:
    """`measure(backend, *args)` for each backend of `backends` (comma separated), which makes its
    own databases; their rows in one list, for one table that sets the backends side by side."""
    rows: list[list[object]] = []
    for backend in backends.split(","):
        rows += anyio.run(measure, backend, *args)
    return rows


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def show(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column != columns[0] else "left")
    for row in rows:
        table.add_row(*(f"{v:,.0f}" if isinstance(v, float) and v >= 100 else str(v) for v in row))
    console.print(table)


def payload(size: int = 200) -> dict[str, str]:
    """An event payload of about `size` bytes of JSON."""
    return {"kind": "bench", "text": "x" * max(0, size - 30)}


async def latency(samples: int, call: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """(p50, p99) of `call` in milliseconds over `samples` sequential calls."""
    durations = []
    for _ in range(samples):
        started = time.perf_counter()
        await call()
        durations.append((time.perf_counter() - started) * 1000)
    return percentile(durations, 50), percentile(durations, 99)


async def latency_rows(
    samples: int, reads: Sequence[tuple[str, Callable[[], Awaitable[Any]]]]
) -> list[tuple[str, str]]:
    """A table row `(name, "p50 .. ms / p99 .. ms")` for each named read, measured in turn."""
    rows = []
    for name, call in reads:
        p50, p99 = await latency(samples, call)
        rows.append((name, f"p50 {p50:.2f} ms / p99 {p99:.2f} ms"))
    return rows


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


BENCH_KEY = "BENCH0123456789abcdef"
"""The API key of the benchmarks' one tenant (`bench_config`)."""


def bench_config(durability: str, extra: str = "") -> str:
    """A server config with one tenant, `bench`, reached with `BENCH_KEY`; `extra` is more TOML."""
    return f"""
[server]
durability = "{durability}"
log_level = "warning"
[[tenants]]
name = "bench"
namespace = "bench"
app_name = "Bench"
app_version = "1"
api_keys = ["{BENCH_KEY}"]
{extra}"""


@contextlib.contextmanager
def served(config: str, prefix: str) -> Iterator[tuple[int, int]]:
    """`session-engine serve` in a child process on a fresh SQLite file: yields (port, pid)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as directory:
        path = Path(directory) / "server.toml"
        path.write_text(config)
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "session_engine.adapters.cli.main",
            "serve",
            "--port",
            str(port),
            "--config",
            str(path),
        ]
        env = {**os.environ, "SESSION_ENGINE_DATABASE": f"sqlite:///{Path(directory) / 'bench.db'}"}
        with subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL) as process:
            try:
                wait_for_port(port)
                yield port, process.pid
            finally:
                process.terminate()
                process.wait(timeout=30)


async def round_trips_on(clients: Sequence[Any], seconds: float, frames: list[str]) -> tuple[int, float]:
    """(round trips, seconds) over open websocket clients, each sending one frame at a time."""
    import asyncio

    done = 0
    stop = time.perf_counter() + seconds

    async def drive(ws: Any) -> None:
        nonlocal done
        while time.perf_counter() < stop:
            for frame in frames:
                await ws.send(frame)
                await ws.recv()
            done += len(frames)

    started = time.perf_counter()
    await asyncio.gather(*(drive(ws) for ws in clients))
    return done, time.perf_counter() - started


async def round_trips_per_second(clients: Sequence[Any], seconds: float, frames: list[str]) -> float:
    """Round trips/s over open websocket clients, each sending one frame at a time, then closed."""
    import asyncio

    done, elapsed = await round_trips_on(clients, seconds, frames)
    await asyncio.gather(*(ws.close() for ws in clients))
    return done / elapsed


SECRET = "bench-bus-secret-0123456789"
"""The RPC bus secret of the benchmarks that open bus peers (`[bus].secret`)."""


def peer(port: int, *, reading: bool) -> ClientConnection:
    """A signed-in `/bus` peer (`[bus].secret` = `SECRET`). One that is not `reading` has a 4 KiB
    socket receive buffer and queues one message: what the server sends it soon stays unsent."""
    sock = socket.socket()
    if not reading:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    ws = connect(
        f"ws://127.0.0.1:{port}/bus",
        sock=sock,
        max_size=None,
        ping_interval=None,
        max_queue=16 if reading else 1,
    )
    challenge = orjson.loads(ws.recv())
    ws.send(orjson.dumps({"type": "auth-response", "signature": sign(SECRET, challenge["nonce"])}).decode())
    for _ in range(3):  # the auth result, the server's subjects, its sync-complete
        ws.recv()
    ws.send(orjson.dumps({"type": "subscribe-sync-complete"}).decode())
    return ws


def bus_request(n: int, subject: str, payload: object) -> str:
    """A bus `request` frame to the session records (`storage:session`)."""
    message = {
        "type": "request",
        "namespace": "storage:session",
        "subject": subject,
        "correlationId": f"c{n}",
        "messageId": f"m{n}",
        "payload": payload,
    }
    return orjson.dumps(message).decode()


def store_records(port: int, count: int = 30) -> None:
    """`count` session records with 2 KB titles, through a reading bus peer: a `list` of 30 of
    them answers about 60 KB."""
    with peer(port, reading=True) as writer:
        for n in range(count):
            record = {"sessionId": f"s{n}", "createdAt": 1, "lastActivityAt": 1000, "agents": []}
            record |= {"status": "active", "title": secrets.token_urlsafe(1500)}
            writer.send(bus_request(n, "set", {"sessionId": f"s{n}", "session": record}))
            writer.recv()
