"""A first read at a random version of a long session, its CPU split: the answer, and storing what
it leaves (engine/inspect/travel.py, engine/projections/snapshots.py).

    python -m bench.first_read_cpu [--events 4000] [--reads 60]

`bench.snapshots` times `state_as_of` whole, and the stores a read leaves run on the snapshot
thread meanwhile, so each figure carries some of the read before's store. Here, in the calling
thread: the session of `bench.snapshots` (its mix, `--events` long: a first read's cost depends on
the state's size and the distance to the snapshot below, not on the session's length), its grid
laid by one read, then `--reads` first reads at random versions, each timed (process CPU) as the
answer (plan, load the snapshot, fold, read the state, encode the state kept) and, apart, the store
of what it leaves (compress, digest, insert on a writer connection). Printed in ms: median / p90 /
worst, and the full (generation 2) garbage collections that fell inside, with their CPU: the
worst read is usually one. The same file measures older versions of the code (run it from a copy
of `bench/` with the other checkout first on `PYTHONPATH`).
"""

from __future__ import annotations

import gc
import random
import time
from typing import Any

import anyio

from bench.common import command_line, database, median, percentile
from bench.snapshots import NS, S, fill
from session_engine.engine import Engine, ManualClock
from session_engine.engine.clock import as_utc
from session_engine.engine.inspect import travel
from session_engine.engine.projections import snapshots

FULL_COLLECTIONS: list[float] = []
_started: list[float] = [0.0]


def _watch(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.process_time()
    elif info["generation"] == 2:
        FULL_COLLECTIONS.append((time.process_time() - _started[0]) * 1000)


async def measure(events: int, reads: int) -> str:
    clock = ManualClock()
    with database("sqlite") as url:
        async with Engine.open(url, clock=clock, durability="off") as engine:
            await fill(engine, clock, events)
        async with Engine.open(url, clock=clock) as engine:
            await engine.state_as_of(NS, S, version=events - 1)  # lays the grid
            await engine.flush_snapshots()
            chosen = random.Random(18).sample(range(1, events + 1), reads)
            projections = list(engine.projections)
            now = as_utc(engine.clock.now())
            stores = engine.backend.create_engine(writer=True)
            answer: list[float] = []
            store: list[float] = []
            gc.callbacks.append(_watch)
            with stores.connect() as writer:
                for version in chosen:
                    with engine._reader.connect() as connection:
                        started = time.process_time()
                        fold = travel.plan(
                            connection,
                            engine.backend,
                            engine.registry,
                            projections,
                            NS,
                            S,
                            [version],
                            live=True,
                        )
                        found = travel.states_at(fold, NS, S, projections, [version], now, remember=True)
                        answered = time.process_time()
                    with writer.begin():
                        snapshots.save(writer, NS, S, projections, found.taken, now=now)
                    answer.append((answered - started) * 1000)
                    store.append((time.process_time() - answered) * 1000)
            gc.callbacks.remove(_watch)
            stores.dispose()

    def spread(samples: list[float]) -> str:
        return f"{median(samples):.1f} / {percentile(samples, 90):.1f} / {max(samples):.1f}"

    both = [a + s for a, s in zip(answer, store, strict=True)]
    collections = ", ".join(f"{ms:.0f}" for ms in FULL_COLLECTIONS) or "none"
    return (
        f"answer {spread(answer)} | store {spread(store)} | both {spread(both)}"
        f" | full collections (ms): {collections}"
    )


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--reads", type=int, default=60)
    args = parser.parse_args()
    print(anyio.run(measure, args.events, args.reads))


if __name__ == "__main__":
    main()
