"""Write latency during a rebuild: in place (the log lock held throughout) against live (a scratch
copy built while writers go on, swapped in under the lock; specs/audit.md, "Live rebuild").

The log is `bench.replay_rate`'s realistic mix of every domain's events (`--events`, default
1,000,000). One writer sets a value, waits for the answer, and sets the next, for the whole of each
rebuild; the table gives the rebuild's duration, the writes made meanwhile and their worst and
99th-percentile latency, and for the live rebuild how many events were caught up under the lock and
the longest it held the writer in one transaction (`LiveRebuild.longest_hold`: what a write can
wait for it, whatever else the machine is doing), and of those the longest that dropped the
replaced tables (`LiveRebuild.longest_drop`).

Mode `live-whole-drop` is the live rebuild with the drop as it was before session 10 (a bench
switch, never an engine option): each replaced table dropped in one writer transaction, which on
SQLite visits every page of it; `live` empties them a batch of rows per transaction first.

    python -m bench.live_rebuild [--events 1000000] [--backends sqlite,postgres]
        [--modes in-place,live,live-whole-drop]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator

import anyio
from sqlalchemy.engine import Connection

from bench.common import Stopwatch, database, percentile, show
from bench.replay_rate import fill
from session_engine.engine import Engine
from session_engine.engine.backends.sqlite_shadows import SqliteShadows


def _drop_whole(self: SqliteShadows, connection: Connection) -> bool:
    """The drop before session 10: one leftover table (full-text indexes first) per transaction."""
    found = connection.exec_driver_sql(
        "SELECT name FROM main.sqlite_master WHERE type = 'table'"
        " AND (name LIKE '%\\_\\_replaced' ESCAPE '\\' OR name LIKE '%\\_\\_rebuilt' ESCAPE '\\')"
        " ORDER BY sql NOT LIKE 'CREATE VIRTUAL%', name LIMIT 1"
    ).first()
    if found is None:
        return False
    connection.exec_driver_sql(f'DROP TABLE main."{found[0]}"')
    return True


@contextlib.contextmanager
def drop(mode: str) -> Iterator[None]:
    """`live-whole-drop`: the live rebuild with `_drop_whole` in place of the batched drop."""
    if mode != "live-whole-drop":
        yield
        return
    batched = SqliteShadows.discard
    SqliteShadows.discard = _drop_whole  # type: ignore[method-assign]
    try:
        yield
    finally:
        SqliteShadows.discard = batched  # type: ignore[method-assign]


async def measure(url: str, mode: str) -> tuple[object, ...]:
    live = mode != "in-place"
    async with Engine.open(url) as engine:
        latencies: list[float] = []
        done = anyio.Event()

        async def write() -> None:
            n = 0
            while not done.is_set():
                started = time.perf_counter()
                await engine.values.set("bench", f"writer-{n % 16}", f"k{n % 64}", n)
                latencies.append(time.perf_counter() - started)
                n += 1

        locked: object = "-"
        held: object = "-"
        dropped: object = "-"
        async with anyio.create_task_group() as group:
            group.start_soon(write)
            await anyio.sleep(0.2)
            before = len(latencies)
            with Stopwatch() as watch:
                if live:
                    result = await engine.rebuild_live()
                    locked, held = f"{result.locked:,}", f"{result.longest_hold * 1000:.0f} ms"
                    dropped = f"{result.longest_drop * 1000:.0f} ms"
                else:
                    await engine.rebuild(live=False)
            done.set()
        during = latencies[before:]
        return (
            mode,
            f"{watch.seconds:.1f} s",
            f"{len(during):,}",
            f"{max(during) * 1000:.0f} ms",
            f"{percentile(during, 99) * 1000:.1f} ms",
            locked,
            held,
            dropped,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--modes", default="in-place,live", help="which rebuilds to time")
    args = parser.parse_args()
    modes = args.modes.split(",")
    for backend in args.backends.split(","):
        with database(backend) as url:
            fill(url, args.events, mix=True)
            rows = []
            for mode in modes:
                with drop(mode):
                    rows.append(anyio.run(measure, url, mode))
        show(
            f"Writes during a rebuild of {args.events:,} mixed events ({backend})",
            [
                "rebuild",
                "duration",
                "writes during it",
                "worst write",
                "p99 write",
                "caught up under the lock",
                "longest writer hold",
                "longest hold of the drop",
            ],
            rows,
        )


if __name__ == "__main__":
    main()
