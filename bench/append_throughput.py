"""Durable appends per second: the engine (1 and 64 writers) beside raw drivers, on SQLite and PostgreSQL.

Baselines, in the same run and on the same machine:
- raw driver, one INSERT per durable transaction (sqlite3 WAL synchronous=FULL; psycopg with
  synchronous_commit on) - what a naive event store does;
- raw driver, one big batched INSERT in a single transaction - the ceiling.

    python bench/append_throughput.py [--seconds 5] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import sqlite3
from datetime import UTC, datetime

import anyio
import orjson
import psycopg
import sqlalchemy as sa

from bench.common import Stopwatch, database, payload, show
from engine import Engine, NewEvent
from engine.log.backend import normalise_url

ROW_SQL = (
    "INSERT INTO events (position, namespace, stream, version, type, schema_version, data, metadata,"
    " idempotency_key, recorded_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
)


def rows(count: int, start: int = 1) -> list[tuple[object, ...]]:
    data = orjson.dumps(payload()).decode()
    now = datetime.now(UTC).isoformat()
    return [
        (n, "bench", f"s{n % 64}", n // 64 + 1, "noted", 1, data, "{}", None, now)
        for n in range(start, start + count)
    ]


def raw_sqlite(url: str, seconds: float, batched: int) -> float:
    path = normalise_url(url).database
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    sql = ROW_SQL.format(p="?")
    connection.execute("DELETE FROM events")
    if batched:
        batch = rows(batched)
        with Stopwatch() as watch:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(sql, batch)
            connection.execute("COMMIT")
        connection.close()
        return batched / watch.seconds
    count = 0
    with Stopwatch() as watch:
        import time

        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(sql, rows(1, count + 1)[0])
            connection.execute("COMMIT")
            count += 1
    connection.close()
    return count / watch.seconds


def raw_postgres(url: str, seconds: float, batched: int) -> float:
    conninfo = normalise_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    sql = ROW_SQL.format(p="%s")
    with psycopg.connect(conninfo, autocommit=False) as connection:
        connection.execute("DELETE FROM events")
        connection.commit()
        if batched:
            batch = rows(batched)
            with Stopwatch() as watch, connection.cursor() as cursor:
                cursor.executemany(sql, batch)
                connection.commit()
            return batched / watch.seconds
        count = 0
        import time

        with Stopwatch() as watch:
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                connection.execute(sql, rows(1, count + 1)[0])
                connection.commit()
                count += 1
        return count / watch.seconds


async def engine_appends(url: str, writers: int, seconds: float) -> tuple[float, float]:
    """Acknowledged events/s with `writers` concurrent sessions; also the mean batch size."""
    data = payload()
    async with Engine.open(url) as engine:
        await engine.read(lambda c: c.execute(sa.text("DELETE FROM events")))
        counts = [0] * writers
        stop = anyio.Event()

        async def writer(i: int) -> None:
            stream = f"session-{i}"
            while not stop.is_set():
                await engine.append("bench", stream, [NewEvent("noted", data)])
                counts[i] += 1

        before = engine.stats
        with Stopwatch() as watch:
            async with anyio.create_task_group() as tasks:
                for i in range(writers):
                    tasks.start_soon(writer, i)
                await anyio.sleep(seconds)
                stop.set()
        after = engine.stats
        batches = max(1, after["batches"] - before["batches"])
        return sum(counts) / watch.seconds, (after["commands"] - before["commands"]) / batches


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--batch", type=int, default=100_000, help="rows in the one-transaction ceiling")
    args = parser.parse_args()
    results = []
    for backend in args.backends.split(","):
        with database(backend) as url:
            raw = raw_sqlite if backend == "sqlite" else raw_postgres
            one_per_tx = raw(url, args.seconds, 0)
            ceiling = raw(url, args.seconds, args.batch)
            single, _ = anyio.run(engine_appends, url, 1, args.seconds)
            many, batch = anyio.run(engine_appends, url, 64, args.seconds)
            results.append((backend, single, many, f"{batch:.0f}", one_per_tx, ceiling))
    show(
        "Durable appends/s (~200-byte events, distinct sessions)",
        ["backend", "engine, 1 writer", "engine, 64 writers", "mean batch", "raw, 1 row/tx", "raw, 1 big tx"],
        results,
    )


if __name__ == "__main__":
    main()
