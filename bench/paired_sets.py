"""Two builds of the server side by side, one connection's durable sets interleaved request by
request: wall sets/s and server CPU per set of each, beside the durable floor (issue 21).

On a loaded machine a figure taken a minute apart from another compares the load, not the code.
Here a base tree and a branch tree (git worktrees) each serve on a fresh SQLite file (durability
full) while the client sends one set to the base server, one to the branch server and one to the
floor (`/ws`: the echo server writing each frame durably; REST: bare FastAPI plus a durable
write), in turn, so all three see the same load at the same moments.

    python -m bench.paired_sets BASE_TREE BRANCH_TREE [--sets 1000] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path

from bench.common import bench_config, free_port, wait_for_port
from bench.rest_throughput import BARE_DURABLE_APP, exchange, set_request
from bench.set_cpu import cpu_seconds
from bench.websocket_roundtrips import DURABLE_ECHO_SERVER, LIMITS, SET, echo_server, open_client

STARTUP_SECONDS = 600
"""A loaded machine takes minutes to import a server."""
Call = Callable[[], Awaitable[None]]


@contextlib.contextmanager
def tree_server(tree: str, env: Mapping[str, str] | None = None) -> Iterator[tuple[int, int]]:
    """`session-engine serve` from `tree`'s code on a fresh SQLite file: (port, pid). `env` adds to
    the server's environment (or replaces its `PYTHONPATH`, `tree` by default)."""
    with tempfile.TemporaryDirectory(prefix="paired-sets-") as directory:
        config = Path(directory) / "server.toml"
        config.write_text(bench_config("full", LIMITS))
        port = free_port()
        database = f"sqlite:///{directory}/b.db"
        environment = {**os.environ, "PYTHONPATH": tree, "SESSION_ENGINE_DATABASE": database, **(env or {})}
        command = [sys.executable, "-m", "session_engine.adapters.cli.main", "serve", "--port", str(port)]
        with subprocess.Popen(
            [*command, "--config", str(config)], cwd=tree, env=environment, stderr=subprocess.DEVNULL
        ) as process:
            try:
                wait_for_port(port, timeout=STARTUP_SECONDS)
                yield port, process.pid
            finally:
                process.terminate()
                process.wait(timeout=60)


@contextlib.contextmanager
def bare_durable() -> Iterator[int]:
    port = free_port()
    with subprocess.Popen(
        [sys.executable, "-c", BARE_DURABLE_APP, str(port)], stderr=subprocess.DEVNULL
    ) as process:
        try:
            wait_for_port(port, timeout=STARTUP_SECONDS)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=60)


async def websocket_call(url: str, initialize: bool) -> Call:
    ws = await open_client(url, initialize)

    async def one() -> None:
        await ws.send(SET)
        await ws.recv()

    return one


async def rest_call(port: int) -> Call:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = set_request(port, "paired")

    async def one() -> None:
        assert await exchange(reader, writer, request) in (200, 204)

    return one


async def rounds_of(calls: list[Call], pids: list[int], sets: int, rounds: int, kind: str) -> None:
    """Print each round: wall sets/s of base, branch and floor; user CPU per set of the two servers."""
    for _ in range(200):
        for one in calls:
            await one()
    for number in range(1, rounds + 1):
        spent = [0.0] * len(calls)
        before = [cpu_seconds(pid)[0] for pid in pids]
        for _ in range(sets):
            for i, one in enumerate(calls):
                started = time.perf_counter()
                await one()
                spent[i] += time.perf_counter() - started
        cpu = [(cpu_seconds(pid)[0] - start) / sets * 1e6 for pid, start in zip(pids, before, strict=True)]
        base, branch, floor = (sets / seconds for seconds in spent)
        print(
            f"{kind:<9} round {number}: sets/s base {base:,.0f} branch {branch:,.0f} floor {floor:,.0f}"
            f" (of floor {base / floor:.0%} / {branch / floor:.0%}, branch/base {branch / base:.3f});"
            f" server user CPU µs/set base {cpu[0]:.0f} branch {cpu[1]:.0f} ({cpu[1] / cpu[0]:.3f})",
            flush=True,
        )


async def run(args: argparse.Namespace) -> None:
    with contextlib.ExitStack() as stack:
        (base_port, base_pid), (branch_port, branch_pid) = (
            stack.enter_context(tree_server(tree)) for tree in (args.base, args.branch)
        )
        echo_url, _ = stack.enter_context(echo_server(DURABLE_ECHO_SERVER))
        bare_port = stack.enter_context(bare_durable())
        pids = [base_pid, branch_pid]
        sockets = [
            await websocket_call(f"ws://127.0.0.1:{base_port}/ws", True),
            await websocket_call(f"ws://127.0.0.1:{branch_port}/ws", True),
            await websocket_call(echo_url, False),
        ]
        await rounds_of(sockets, pids, args.sets, args.rounds, "websocket")
        # Opened now: a keep-alive connection left idle meanwhile would have been closed.
        rest = [await rest_call(port) for port in (base_port, branch_port, bare_port)]
        await rounds_of(rest, pids, args.sets, args.rounds, "REST")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("base", help="the base tree (a git worktree)")
    parser.add_argument("branch", help="the branch tree")
    parser.add_argument("--sets", type=int, default=1000, help="per server per round")
    parser.add_argument("--rounds", type=int, default=4)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
