"""Server variants side by side, one connection's durable sets interleaved request by request:
server CPU (user + system, all threads) per set, and how long an idle connection's pings wait
(issue 21: may a lone set run inline on the server's event loop?).

Each server is `TREE` or `TREE@VARIANT`, run from that tree's code on a fresh SQLite file
(durability full):

- (none): as `serve` runs it: uvicorn on uvloop, where a lone set goes to the writer thread
  (`Bridge.quiet` cannot see uvloop's ready queue);
- `asyncio`: uvicorn on asyncio's loop, where a lone set runs inline when nothing else is ready;
- `inline`: uvloop, every lone set inline while the writer thread is idle (`Bridge.quiet` made
  always true): the most a loneness test usable on uvloop could give.

The variants are set by a `sitecustomize` this bench writes into a temporary directory on the
server's PYTHONPATH; it also counts how many lone sets ran inline. With `--ping SECONDS` a second
connection to each server sends a websocket ping every SECONDS while the sets run: its round
trip shows what an inline commit makes the other connections wait.

    python -m bench.server_sets ws|rest TREE[@VARIANT] ... [--sets 1000] [--rounds 6] [--ping 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from bench.common import percentile
from bench.paired_sets import tree_server
from bench.rest_throughput import exchange, set_request
from bench.set_cpu import cpu_seconds
from bench.websocket_roundtrips import SET, open_client

SITE = """
import os, signal
variant = os.environ.get("SERVER_SETS_VARIANT", "")
if variant == "asyncio":
    import uvicorn.config
    _init = uvicorn.config.Config.__init__
    def __init__(self, *args, **kwargs):
        kwargs["loop"] = "asyncio"
        _init(self, *args, **kwargs)
    uvicorn.config.Config.__init__ = __init__
if variant == "inline":
    from session_engine.engine import bridge
    bridge.AsyncioBridge.quiet = lambda self: True
from session_engine.engine import writes
counts = [0, 0]
_run_inline = writes.Committer._run_inline
def _counted(self, bridge):
    ran = _run_inline(self, bridge)
    counts[0] += 1
    counts[1] += ran
    return ran
writes.Committer._run_inline = _counted
def _dump(*_):
    with open(os.environ["SERVER_SETS_COUNTS"], "w") as out:
        out.write(f"{counts[1]} of {counts[0]} lone sets inline")
signal.signal(signal.SIGUSR1, _dump)
"""
Call = Callable[[], Awaitable[None]]


@contextlib.contextmanager
def server(tree: str, variant: str, site: Path) -> Iterator[tuple[int, int, Path]]:
    """`session-engine serve` from `tree` in `variant`: (port, pid, where its counts go)."""
    with tempfile.TemporaryDirectory(prefix="server-sets-") as directory:
        counts = Path(directory) / "counts"
        env = {"PYTHONPATH": f"{tree}:{site}", "SERVER_SETS_VARIANT": variant}
        env["SERVER_SETS_COUNTS"] = str(counts)
        with tree_server(tree, env) as (port, pid):
            yield port, pid, counts


async def set_call(kind: str, port: int) -> Call:
    if kind == "ws":
        ws = await open_client(f"ws://127.0.0.1:{port}/ws", True)

        async def one_ws() -> None:
            await ws.send(SET)
            await ws.recv()

        return one_ws
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = set_request(port, "server-sets")

    async def one_rest() -> None:
        assert await exchange(reader, writer, request) in (200, 204)

    return one_rest


async def pinging(port: int, every: float, seconds: list[float]) -> None:
    """An initialized, otherwise idle connection pinging every `every` s; round trips into `seconds`."""
    ws = await open_client(f"ws://127.0.0.1:{port}/ws", True)
    try:
        while True:
            started = time.perf_counter()
            await (await ws.ping())
            seconds.append(time.perf_counter() - started)
            await asyncio.sleep(every)
    finally:
        await ws.close()


async def run(args: argparse.Namespace) -> None:
    with contextlib.ExitStack() as stack:
        site = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="server-sets-site-")))
        (site / "sitecustomize.py").write_text(SITE)
        labels, servers = [], []
        for spec in args.servers:
            tree, _, variant = spec.partition("@")
            labels.append(f"{Path(tree).name}{'@' + variant if variant else ''}")
            servers.append(stack.enter_context(server(tree, variant, site)))
        calls = [await set_call(args.kind, port) for port, _, _ in servers]
        pings: list[list[float]] = [[] for _ in servers]
        pingers = [
            asyncio.create_task(pinging(port, args.ping, seconds))
            for (port, _, _), seconds in zip(servers, pings, strict=True)
            if args.ping
        ]
        for _ in range(200):
            for one in calls:
                await one()
        pinged = ", idle pings µs" if args.ping else ""
        print(f"{args.kind}: server CPU µs per set, user+system (wall sets/s){pinged}")
        for number in range(1, args.rounds + 1):
            for seconds in pings:
                seconds.clear()
            before = [cpu_seconds(pid) for _, pid, _ in servers]
            spent = [0.0] * len(servers)
            order = list(range(len(servers)))
            if number % 2 == 0:  # whoever goes first in a turn alternates
                order.reverse()
            for _ in range(args.sets):
                for i in order:
                    started = time.perf_counter()
                    await calls[i]()
                    spent[i] += time.perf_counter() - started
            cells = []
            for i, (_, pid, _) in enumerate(servers):
                user, system = (
                    (after - start) / args.sets * 1e6
                    for after, start in zip(cpu_seconds(pid), before[i], strict=True)
                )
                cell = (
                    f"{labels[i]} {user:.0f}+{system:.0f}={user + system:.0f} ({args.sets / spent[i]:,.0f}/s)"
                )
                if pings[i]:
                    p50, p99 = (percentile(pings[i], q) * 1e6 for q in (50, 99))
                    cell += f" ping p50 {p50:.0f} p99 {p99:.0f}"
                cells.append(cell)
            print(f"  round {number}: " + " | ".join(cells), flush=True)
        for task in pingers:
            task.cancel()
        for (_, pid, counts), label in zip(servers, labels, strict=True):
            os.kill(pid, signal.SIGUSR1)
            for _ in range(50):
                if counts.exists():
                    break
                await asyncio.sleep(0.1)
            print(f"  {label}: {counts.read_text() if counts.exists() else 'no count'}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kind", choices=["ws", "rest"])
    parser.add_argument("servers", nargs="+", help="TREE or TREE@asyncio|inline")
    parser.add_argument("--sets", type=int, default=1000, help="per server per round")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--ping", type=float, default=0.0, help="seconds between an idle connection's pings")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
