"""The parts of a first `state_as_of` at a version not read before, each apart: where the ms go.

    python -m bench.asof_read [--reads 40] [--backend sqlite|postgres] [--toggle] [--grid 128]

The 1,000-event mixed session of `bench.time_travel`, its grid laid (one fold from the start), then
`--reads` random versions (seeded, off the grid). For each, in this thread: `travel.plan` (the
snapshot row and the events after it), `Fold.open` (inflate and load the image), the fold, and
`read_state` (the domains' reads of the as-of tables), each timed by thread CPU; printed in ms as
median / p90. `read_state` of the live head (`head.live_session`) is timed too: the same reads on
the live tables, as the live API uses them.

`--grid G`: the snapshot grid's spacing (`snapshots.GRID`) for this run; also printed: what laying
it cost (process CPU of the one fold from the start and the stores) and the snapshots' stored bytes.

`--toggle`: under `valgrind --tool=callgrind --instr-atstart=no`, instrumentation is on only while
`read_state` runs over every opened state (Ir / reads = instructions per `read_state`):

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/x \
        python -m bench.asof_read --reads 40 --toggle
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import sqlalchemy as sa

from bench.common import database, percentile
from bench.time_travel import NS, S, fill
from session_engine.engine import Engine, ManualClock
from session_engine.engine.inspect import head, travel
from session_engine.engine.inspect.state import read_state
from session_engine.engine.log.schema import snapshots as snapshot_rows
from session_engine.engine.projections import snapshots

EVENTS = 1000
T = TypeVar("T")


def _instrument(on: bool) -> None:
    subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())], capture_output=True)
    time.sleep(1.0)


def _timed(parts: dict[str, list[float]], name: str, call: Callable[[], T]) -> T:
    started = time.thread_time()
    result = call()
    parts.setdefault(name, []).append((time.thread_time() - started) * 1000)
    return result


async def run(url: str, reads: int, toggle: bool, grid: int) -> None:
    clock = ManualClock()
    snapshots.GRID = grid
    async with Engine.open(url, clock=clock, durability="off") as engine:
        await fill(engine, clock, EVENTS)
        started = time.process_time()
        await engine.diff(NS, S, 1, EVENTS)  # one fold from the start lays the whole grid
        await engine.flush_snapshots()
        laid = (time.process_time() - started) * 1000
        count, stored = await engine.read(
            lambda c: c.execute(
                sa.select(sa.func.count(), sa.func.sum(sa.func.length(snapshot_rows.c.tables)))
            ).one()
        )
        print(f"grid {grid}: {count} snapshots, {stored:,} bytes stored; laying it {laid:.0f} ms CPU")
        projections = list(engine.projections)
        chosen = random.Random(21).sample([v for v in range(2, EVENTS) if v % grid], reads)
        parts: dict[str, list[float]] = {}
        opened: list[Any] = []

        def first(version: int, connection: Any) -> None:
            fold = _timed(
                parts,
                "plan",
                lambda: travel.plan(
                    connection, engine.backend, engine.registry, projections, NS, S, [version], live=True
                ),
            )
            state = _timed(parts, "open", lambda: fold.open(NS, S, projections))
            _timed(parts, "fold", lambda: travel._advance(state, fold, version, []))
            opened.append(state)

        for version in [chosen[0], *chosen]:  # the first one again: warm the statements' caches
            await engine.read(lambda c, v=version: first(v, c))
        opened.pop(0).close()
        if toggle:
            _instrument(True)
        for state in opened:
            _timed(parts, "read_state", lambda s=state: read_state(s, s.at))
        if toggle:
            _instrument(False)
        for state in opened:
            state.close()

        def at_head(connection: Any) -> None:
            connection.begin()
            live = head.live_session(connection, engine.backend, projections, NS, S)
            assert live is not None
            _timed(parts, "read_state (live head)", lambda: read_state(live, live.at))

        for _ in range(reads):
            await engine.read(at_head)
    for name, times in parts.items():
        print(f"{name:24} {statistics.median(times):7.3f} / {percentile(times, 90):7.3f} ms (n={len(times)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=40)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--toggle", action="store_true")
    parser.add_argument("--grid", type=int, default=128)
    args = parser.parse_args()
    with database(args.backend) as url:
        anyio.run(run, url, args.reads, args.toggle, args.grid)


if __name__ == "__main__":
    main()
