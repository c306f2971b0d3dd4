"""Durable appends per second: the engine (1 and 64 writers) beside raw drivers, on SQLite and PostgreSQL.

Baselines, in the same run and on the same machine:
- raw driver, one INSERT per durable transaction (sqlite3 WAL synchronous=FULL; psycopg with
  synchronous_commit on) - what a naive event store does;
- raw driver, 64 rows (64 sessions) per durable transaction - the shape of the engine's group
  commit with 64 writers, so the ceiling for that row: what the driver alone does with the same
  transactions, without the engine's checks, projections and acknowledgements;
- raw driver, one big batched INSERT in a single transaction - the ceiling of the table.

The last table shows events/s when each of 64 writers appends 10 events per call (one command).

    python -m bench.append_throughput [--seconds 5] [--repeat 3] [--backends sqlite,postgres]

Every row is measured --repeat times, the rows alternating, and the tables show medians.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime

import anyio
import orjson
import psycopg

from bench.common import Stopwatch, database, median, payload, show
from session_engine.engine import Engine, NewEvent
from session_engine.engine.backends import WAL_CHECKPOINT_PAGES, normalise_url

ROW_SQL = (
    "INSERT INTO events (position, namespace, stream, version, type, schema_version, data, metadata,"
    " idempotency_key, recorded_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
)


def rows(count: int, start: int = 1) -> list[tuple[object, ...]]:
    data, now = _DATA, _NOW
    return [
        (n, "bench", f"s{n % 64}", n // 64 + 1, "noted", 1, data, "{}", None, now)
        for n in range(start, start + count)
    ]


_DATA = orjson.dumps(payload()).decode()
_NOW = datetime.now(UTC).isoformat()


def timed_transactions(
    seconds: float, per_tx: int, commit: Callable[[list[tuple[object, ...]]], None]
) -> float:
    """Rows/s committing `per_tx` rows (64 distinct sessions) per durable transaction, for `seconds`."""
    count = 0
    with Stopwatch() as watch:
        end = time.perf_counter() + seconds
        while count == 0 or time.perf_counter() < end:
            commit(rows(per_tx, count + 1))
            count += per_tx
    return count / watch.seconds


def raw_sqlite(url: str, seconds: float, per_tx: int) -> float:
    path = normalise_url(url).database
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    # The engine's writer checkpoints every WAL_CHECKPOINT_PAGES pages: the same, so like is
    # compared with like (SQLite's default, 1,000, makes the raw rows ~20% slower).
    connection.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
    sql = ROW_SQL.format(p="?")

    def commit(batch: list[tuple[object, ...]]) -> None:
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(sql, batch)
        connection.execute("COMMIT")

    try:
        return timed_transactions(seconds, per_tx, commit)
    finally:
        connection.close()


def raw_postgres(url: str, seconds: float, per_tx: int) -> float:
    conninfo = normalise_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    sql = ROW_SQL.format(p="%s")
    with psycopg.connect(conninfo, autocommit=False) as connection:

        def commit(batch: list[tuple[object, ...]]) -> None:
            with connection.cursor() as cursor:
                cursor.executemany(sql, batch)
            connection.commit()

        return timed_transactions(seconds, per_tx, commit)


async def engine_appends(url: str, writers: int, seconds: float, per_append: int = 1) -> tuple[float, float]:
    """Acknowledged events/s with `writers` concurrent sessions; also the mean batch size (commands)."""
    data = payload()
    async with Engine.open(url) as engine:
        counts = [0] * writers
        stop = anyio.Event()

        async def writer(i: int) -> None:
            stream = f"session-{i}"
            while not stop.is_set():
                await engine.append("bench", stream, [NewEvent("noted", data)] * per_append)
                counts[i] += per_append

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
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of every row, alternating; the tables show medians"
    )
    args = parser.parse_args()
    results = []
    multi_results = []
    rounds: list[tuple[str, list[float], list[float]]] = []
    for backend in args.backends.split(","):
        raw = raw_sqlite if backend == "sqlite" else raw_postgres
        runs: dict[str, list[float]] = {
            name: [] for name in ("one_per_tx", "same_shape", "single", "many", "batch", "multi")
        }
        # Alternating rounds: the VM's speed drifts by tens of percent within minutes, so each
        # row's median comes from the same stretches of time as the others'. Every run has a new,
        # empty database: on PostgreSQL, rows deleted by an earlier run stay behind as dead index
        # entries that the next run's unique checks must visit.
        for _ in range(args.repeat):
            with database(backend) as url:
                runs["one_per_tx"].append(raw(url, args.seconds, 1))
            with database(backend) as url:
                runs["same_shape"].append(raw(url, args.seconds, 64))
            with database(backend) as url:
                runs["single"].append(anyio.run(engine_appends, url, 1, args.seconds)[0])
            with database(backend) as url:
                many, batch = anyio.run(engine_appends, url, 64, args.seconds)
                runs["many"].append(many)
                runs["batch"].append(batch)
            with database(backend) as url:
                runs["multi"].append(anyio.run(engine_appends, url, 64, args.seconds, 10)[0])
        with database(backend) as url:
            ceiling = raw(url, 0.0, args.batch)  # one transaction of --batch rows
        m = {name: median(values) for name, values in runs.items()}
        rounds.append((backend, runs["many"], runs["same_shape"]))
        multi_results.append((backend, m["multi"], f"{m['multi'] / m['same_shape']:.0%}"))
        results.append(
            (
                backend,
                m["single"],
                m["many"],
                f"{m['batch']:.0f}",
                m["one_per_tx"],
                m["same_shape"],
                f"{m['many'] / m['same_shape']:.0%}",
                ceiling,
            )
        )
    show(
        f"Durable appends/s (~200-byte events, distinct sessions; medians of {args.repeat} rounds)",
        [
            "backend",
            "engine, 1 writer",
            "engine, 64 writers",
            "mean batch",
            "raw, 1 row/tx",
            "raw, 64 rows/tx",
            "engine / raw 64",
            "raw, 1 big tx",
        ],
        results,
    )

    show(
        "64 writers appending 10 events per call (events/s)",
        ["backend", "engine", "engine / raw 64 rows/tx"],
        multi_results,
    )

    show(
        "64 writers, one event per append: every round",
        ["backend", "engine, each round", "raw 64 rows/tx, each round"],
        [
            (backend, " ".join(f"{v:,.0f}" for v in many), " ".join(f"{v:,.0f}" for v in same))
            for backend, many, same in rounds
        ],
    )


if __name__ == "__main__":
    main()
