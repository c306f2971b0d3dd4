"""The physical floor of any replay of a log: its rows fetched by the bare driver (sqlite3, psycopg),
in pages of `REPLAY_PAGE` as a replay reads them, then with `orjson.loads` of each payload, and
nothing else; rows per CPU second of this process, single thread, the collector off and on. Then
the same with the fetch on this thread and the decode on another (the drivers release the GIL
while the database works, orjson does not): each thread's rows per CPU second say what the second
core could take off the first.

No engine code runs: the log is `bench.replay_rate`'s (`--mix`: every domain's events mixed),
written once per backend.

    python -m bench.replay_floor [--events 200000] [--backends sqlite,postgres] [--runs 3]
"""

from __future__ import annotations

import gc
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import psycopg
import sqlalchemy as sa

from bench.common import command_line, database, median, show
from bench.replay_rate import fill
from session_engine.engine.backends import normalise_url
from session_engine.engine.projections.rebuild import REPLAY_PAGE

COLUMNS = "position, namespace, stream, version, type, schema_version, {data}, {meta}, {at}, sealed"
Fetch = Callable[[int, int], list[Any]]


def fetcher(url: str) -> tuple[Fetch, Callable[[], None]]:
    """A page fetch on the bare driver, and its close. PostgreSQL's documents come as text (its
    `jsonb` loader would decode them inside the fetch), on a binary cursor, as the engine reads them."""
    parsed = normalise_url(url)
    sql = "SELECT " + COLUMNS + " FROM events WHERE position > {p} AND position <= {p} ORDER BY position"
    sql += f" LIMIT {REPLAY_PAGE}"
    if parsed.get_backend_name() == "sqlite":
        lite = sqlite3.connect(str(parsed.database))
        query = sql.format(data="data", meta="metadata", at="recorded_at", p="?")
        return lambda after, upto: lite.execute(query, (after, upto)).fetchall(), lite.close
    pg = psycopg.connect(parsed.set(drivername="postgresql").render_as_string(hide_password=False))
    query = sql.format(data="data::text", meta="metadata::text", at="recorded_at AT TIME ZONE 'UTC'", p="%s")
    return lambda after, upto: pg.cursor(binary=True).execute(query, (after, upto)).fetchall(), pg.close


def pages(fetch: Fetch, upto: int) -> Iterator[list[Any]]:
    position = 0
    while position < upto:
        rows = fetch(position, upto)
        if not rows:
            return
        yield rows
        position = rows[-1][0]


def one_thread(url: str, upto: int, *, decode: bool, collector: bool) -> float:
    """Rows per CPU second of the fetch (and the decode) on one thread."""
    fetch, close = fetcher(url)
    (gc.enable if collector else gc.disable)()
    loads, count, cpu = orjson.loads, 0, time.process_time()
    try:
        for rows in pages(fetch, upto):
            if decode:
                for row in rows:
                    loads(row[6])
            count += len(rows)
        return count / (time.process_time() - cpu)
    finally:
        gc.enable()
        close()


def two_threads(url: str, upto: int) -> tuple[float, float, float]:
    """The fetch here, the decode on another thread: rows per CPU second of the process, of the
    fetching thread and of the decoding one."""
    fetch, close = fetcher(url)
    handed: queue.Queue[list[Any] | None] = queue.Queue(4)
    decoding = [0.0]

    def decoder() -> None:
        started, loads = time.thread_time(), orjson.loads
        while (rows := handed.get()) is not None:
            for row in rows:
                loads(row[6])
        decoding[0] = time.thread_time() - started

    gc.disable()
    worker = threading.Thread(target=decoder)
    cpu, started, count = time.process_time(), time.thread_time(), 0
    worker.start()
    try:
        for rows in pages(fetch, upto):
            handed.put(rows)
            count += len(rows)
        handed.put(None)
        fetching = time.thread_time() - started
        worker.join()
        return count / (time.process_time() - cpu), count / fetching, count / decoding[0]
    finally:
        gc.enable()
        close()


def head(url: str) -> int:
    engine = sa.create_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            return int(connection.exec_driver_sql("SELECT max(position) FROM events").scalar() or 0)
    finally:
        engine.dispose()


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    single, split = [], []
    for backend in args.backends.split(","):
        with database(backend) as url:
            fill(url, args.events, mix=True)
            upto = head(url)
            cells = []
            for decode, collector in ((False, False), (False, True), (True, False), (True, True)):
                runs = [one_thread(url, upto, decode=decode, collector=collector) for _ in range(args.runs)]
                cells.append(f"{median(runs):,.0f} ({', '.join(f'{r:,.0f}' for r in runs)})")
            single.append((backend, *cells))
            for _ in range(args.runs):
                split.append((backend, *(f"{rate:,.0f}" for rate in two_threads(url, upto))))
    show(
        f"The floor of a replay of {args.events:,} mixed events: rows per CPU second, one thread"
        " (median, runs)",
        ["backend", "fetch", "fetch, collector on", "fetch + orjson", "fetch + orjson, collector on"],
        single,
    )
    show(
        "The fetch on one thread, orjson on another: rows per CPU second",
        ["backend", "the process", "the fetching thread", "the decoding thread"],
        split,
    )


if __name__ == "__main__":
    main()
