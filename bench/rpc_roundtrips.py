"""Bus round trips (`storage:session.get` / `.set`) beside a bare `websockets` echo server, and bus
events delivered per second to many subscribed peers.

The servers run as subprocesses (`bench.websocket_roundtrips` starts them); the load generator is
the asyncio `websockets` client in this process. Each connection sends one request at a time.

    python -m bench.rpc_roundtrips [--seconds 3] [--connections 1,100] [--subscribers 100]
                                   [--events 500] [--durability full|normal|off]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time

import orjson
from websockets.asyncio.client import ClientConnection, connect

from bench.common import round_trips_per_second
from bench.websocket_roundtrips import echo_server, engine_server
from session_engine.adapters.rpc.bus.auth import sign

SECRET = "bench-bus-secret-0123456789"
BUS_CONFIG = f'\n[bus]\nsecret = "{SECRET}"\n'
RECORD = {"sessionId": "bench", "createdAt": 1, "lastActivityAt": 2, "agents": [], "status": "active"}


def request(subject: str, payload: dict[str, object], correlation: str = "c1") -> str:
    message = {"type": "request", "namespace": "storage:session", "subject": subject, "payload": payload}
    return orjson.dumps({**message, "correlationId": correlation}).decode()


SET = request("set", {"sessionId": "bench", "session": RECORD})
GET = request("get", {"sessionId": "bench"})


def account_change(n: int) -> str:
    """A `set` that moves the session's client account: one `session.clientAccount.changed` event."""
    observation = {"clientId": "c", "source": "bench", "kind": "k", "observedAt": n, "payload": {}}
    session = {
        **RECORD,
        "clientId": "c",
        "clientAccountId": f"acct-{n}",
        "lastClientIdentityObservation": observation,
    }
    return request("set", {"sessionId": "bench", "session": session}, f"e{n}")


async def open_peer(url: str, subjects: dict[str, list[int]] | None = None) -> ClientConnection:
    ws = await connect(url, compression=None, max_size=None, open_timeout=60, ping_interval=None)
    nonce = orjson.loads(await ws.recv())["nonce"]
    await ws.send(orjson.dumps({"type": "auth-response", "signature": sign(SECRET, nonce)}).decode())
    assert orjson.loads(await ws.recv())["success"] is True
    await ws.recv()  # the server's subscribe
    await ws.recv()  # subscribe-sync-complete
    await ws.send(orjson.dumps({"type": "subscribe", "subjects": subjects or {}}).decode())
    await ws.send('{"type":"subscribe-sync-complete"}')
    return ws


async def open_echo(url: str, subjects: object = None) -> ClientConnection:
    return await connect(url, compression=None, max_size=None, open_timeout=60, ping_interval=None)


async def round_trips(url: str, connections: int, seconds: float, frames: list[str], bus: bool) -> float:
    """Round trips per second over `connections` peers, each with one request in flight."""
    opener = open_peer if bus else open_echo
    peers = list(await asyncio.gather(*(opener(url) for _ in range(connections))))
    return await round_trips_per_second(peers, seconds, frames)


async def fan_out(url: str, subscribers: int, events: int) -> tuple[float, float]:
    """(events delivered per second summed over all subscribers, seconds until the last arrived)."""
    listeners = list(
        await asyncio.gather(
            *(open_peer(url, {"session.clientAccount.changed": []}) for _ in range(subscribers))
        )
    )
    for ws in listeners:  # make sure every subscribe was processed before writing
        await ws.send(request("getStatusCounts", {}, "ready"))
        await ws.recv()
    writer = await open_peer(url)

    async def drain(ws: ClientConnection) -> None:
        for _ in range(events):
            while orjson.loads(await ws.recv())["type"] != "event":
                pass

    started = time.perf_counter()
    receiving = asyncio.gather(*(drain(ws) for ws in listeners))
    for n in range(events):
        await writer.send(account_change(n))
        await writer.recv()
    await receiving
    elapsed = time.perf_counter() - started
    await asyncio.gather(*(ws.close() for ws in [*listeners, writer]))
    return subscribers * events / elapsed, elapsed


async def run(args: argparse.Namespace) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    fan = [int(n) for n in args.connections.split(",")]
    with echo_server() as (echo_url, _pid):
        echo = {n: await round_trips(echo_url, n, args.seconds, [SET, GET], bus=False) for n in fan}
    with engine_server(args.durability, BUS_CONFIG) as (ws_url, _pid):
        url = ws_url.removesuffix("/ws") + "/bus"
        warm = await open_peer(url)
        await warm.send(SET)
        await warm.recv()
        await warm.close()
        figures = {
            name: {n: await round_trips(url, n, args.seconds, frames, bus=True) for n in fan}
            for name, frames in (
                ("bus set+get", [SET, GET]),
                ("bus set only", [SET]),
                ("bus get only", [GET]),
            )
        }
        delivered, elapsed = await fan_out(url, args.subscribers, args.events)
    print(f"bus round trips per second (SQLite, durability={args.durability}, {args.seconds:g} s per run)")
    for n in fan:
        print(f"  {f'echo server, {n} connection(s)':<44} {echo[n]:>10,.0f}")
        for name, by_count in figures.items():
            share = by_count[n] / echo[n]
            print(f"  {f'{name}, {n} connection(s)':<44} {by_count[n]:>10,.0f} ({share:.0%} of echo)")
    print(
        f"  {f'events delivered/s to {args.subscribers} subscribers':<44} {delivered:>10,.0f}"
        f" ({args.events} account changes in {elapsed:.2f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", default="1,100")
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--durability", default="full", choices=["full", "normal", "off"])
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
