"""Set/get throughput of the values service, side by side with raw sqlite3 in the same run.

    .venv/bin/python bench/values_throughput.py [--ops 2000] [--database URL]

Engine rows: `engine.values.set` / `get` with 1 and 64 concurrent sessions (each session a task
awaiting its calls one after another; concurrent writes are group-committed). Baselines write the
same rows with the sqlite3 module on a WAL file with synchronous=FULL: one insert per transaction,
and one batched insert; plus point reads by primary key. Without --database the engine uses a
temporary SQLite file (durability "full").
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable

import anyio

from session_engine.engine import Engine

NS = "bench"
VALUE = "v" * 100


def _key(i: int) -> str:
    return f"key-{i}"


async def _spread(sessions: int, ops: int, call: Callable[[str, int], Awaitable[object]]) -> float:
    """Run `ops` calls over `sessions` concurrent tasks; returns seconds taken."""
    per = ops // sessions

    async def worker(s: int) -> None:
        for i in range(per):
            await call(f"s{sessions}-{s}", i)

    start = time.perf_counter()
    async with anyio.create_task_group() as tasks:
        for s in range(sessions):
            tasks.start_soon(worker, s)
    return time.perf_counter() - start


async def engine_rows(url: str, ops: int) -> list[tuple[str, int, float]]:
    rows: list[tuple[str, int, float]] = []
    async with Engine.open(url) as engine:
        for sessions in (1, 64):
            done = ops // sessions * sessions

            async def put(sid: str, i: int) -> None:
                await engine.values.set(NS, sid, _key(i), VALUE)

            async def get(sid: str, i: int) -> None:
                assert await engine.values.get(NS, sid, _key(i)) is not None

            rows.append((f"engine set, {sessions} session(s)", done, await _spread(sessions, ops, put)))
            rows.append((f"engine get, {sessions} session(s)", done, await _spread(sessions, ops, get)))
        assert await engine.verify() == []
    return rows


def raw_rows(directory: str, ops: int) -> list[tuple[str, int, float]]:
    path = os.path.join(directory, "raw.db")
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute(
        "CREATE TABLE value_entries (namespace TEXT, session_id TEXT, key TEXT, value TEXT, "
        "PRIMARY KEY (namespace, session_id, key))"
    )
    insert = "INSERT INTO value_entries VALUES (?, ?, ?, ?)"
    rows = [(NS, "one", _key(i), f'"{VALUE}"') for i in range(ops)]

    start = time.perf_counter()
    for row in rows:
        connection.execute("BEGIN")
        connection.execute(insert, row)
        connection.execute("COMMIT")
    one_by_one = time.perf_counter() - start

    batched_rows = [(NS, "batch", key, value) for _, _, key, value in rows]
    start = time.perf_counter()
    connection.execute("BEGIN")
    connection.executemany(insert, batched_rows)
    connection.execute("COMMIT")
    batched = time.perf_counter() - start

    start = time.perf_counter()
    select = "SELECT value FROM value_entries WHERE namespace = ? AND session_id = ? AND key = ?"
    for _, sid, key, _ in rows:
        connection.execute(select, (NS, sid, key)).fetchone()
    reads = time.perf_counter() - start
    connection.close()
    return [
        ("raw sqlite3 insert, 1 per transaction", ops, one_by_one),
        ("raw sqlite3 insert, 1 batch", ops, batched),
        ("raw sqlite3 select by key", ops, reads),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ops", type=int, default=2000, help="operations per scenario (default 2000)")
    parser.add_argument("--database", help="engine database URL (default: a temporary SQLite file)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="values-bench-") as directory:
        url = options.database or f"sqlite:///{os.path.join(directory, 'engine.db')}"
        results = anyio.run(engine_rows, url, options.ops)
        results += raw_rows(directory, options.ops)
    width = max(len(name) for name, _, _ in results)
    print(f"{'scenario':<{width}}  {'ops':>6}  {'seconds':>8}  {'ops/s':>9}")
    for name, ops, seconds in results:
        print(f"{name:<{width}}  {ops:>6}  {seconds:>8.3f}  {ops / seconds:>9.0f}")


if __name__ == "__main__":
    main()
