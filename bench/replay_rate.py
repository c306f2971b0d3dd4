"""Replay rate: rebuild every projection from a log of N events (default 1,000,000).

The log (64 concurrently active sessions of 100 events each, ~200-byte payloads) is written
straight into the events table (fast set-up), then `Engine.rebuild()` drops
and rebuilds all read models from it, and the rate is events applied per second. The baseline in
the same run is a plain full scan of the same log through SQLAlchemy (the cost of just reading it).

By default every event is of a type no domain handles (`noted`), so only the streams catalog
works: that measures reading the log. `--values 0.5` makes half of them `value_set` events (eight
keys per session, ~200-byte values), so the values projection works too.

    python -m bench.replay_rate [--events 1000000] [--backends sqlite,postgres] [--values 0]
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import anyio
import orjson
import sqlalchemy as sa

from bench.common import Stopwatch, database, payload, show
from engine import Engine
from engine.log.backend import Backend, normalise_url
from engine.log.schema import events, stored_instant

ACTIVE = 64
LIFETIME = 100


def session_of(n: int) -> tuple[str, int]:
    """Stream and version of event n: 64 sessions are active at a time, each lives 100 events.

    That is a server with 64 concurrent conversations; sessions start and end continuously.
    """
    slot, turn = (n - 1) % ACTIVE, (n - 1) // ACTIVE
    generation, version = divmod(turn, LIFETIME)
    return f"s{generation}-{slot}", version + 1


def value_set(version: int) -> str:
    """The data of a `value_set` event at this stream version (keys cycle through eight names)."""
    key = f"k{version % 8}"
    value = payload(170)
    return orjson.dumps({"key": key, "value": value, "size": 200, "replaced": version > 8}).decode()


def fill(url: str, count: int, values: float = 0.0) -> None:
    backend = Backend(normalise_url(url), durability="off")
    engine = backend.create_engine(writer=True)
    data = orjson.dumps(payload()).decode()
    every = round(1 / values) if values else 0  # every n-th event is a value_set
    now = stored_instant(datetime.now(UTC), backend.name)
    placeholder = "?" if backend.is_sqlite else "%s"
    sql = (
        "INSERT INTO events (position, namespace, stream, version, type, schema_version, data, metadata,"
        f" idempotency_key, recorded_at) VALUES ({', '.join([placeholder] * 10)})"
    )
    try:
        with engine.begin() as connection:
            chunk = 50_000
            for start in range(1, count + 1, chunk):
                rows = []
                for n in range(start, min(count, start + chunk - 1) + 1):
                    stream, version = session_of(n)
                    valued = every and n % every == 0
                    type_, body = ("value_set", value_set(version)) if valued else ("noted", data)
                    rows.append((n, "bench", stream, version, type_, 1, body, "{}", None, now))
                connection.exec_driver_sql(sql, rows)
    finally:
        engine.dispose()


def scan(url: str) -> float:
    engine = sa.create_engine(normalise_url(url))
    try:
        with Stopwatch() as watch, engine.connect() as connection:
            result = connection.execution_options(yield_per=5000).execute(sa.select(events))
            count = sum(1 for _ in result)
        return count / watch.seconds
    finally:
        engine.dispose()


async def rebuild(url: str) -> tuple[int, float]:
    async with Engine.open(url) as engine:
        with Stopwatch() as watch:
            applied = await engine.rebuild()
        return applied, applied / watch.seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--values", type=float, default=0.0, help="share of value_set events (0-1)")
    args = parser.parse_args()
    results = []
    for backend in args.backends.split(","):
        with database(backend) as url:
            fill(url, args.events, args.values)
            applied, rate = anyio.run(rebuild, url)
            results.append((backend, f"{applied:,}", rate, scan(url)))
    show(
        f"Replay: rebuild every projection from {args.events:,} events"
        + (f" ({args.values:.0%} value_set)" if args.values else ""),
        ["backend", "events applied", "replay events/s", "plain scan rows/s (baseline)"],
        results,
    )


if __name__ == "__main__":
    main()
