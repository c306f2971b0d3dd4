"""Time travel on a session of 1,000 events: a typed state at a version, a diff of two versions,
stepping through every version, and the sessions list, on SQLite and PostgreSQL.

    python -m bench.time_travel [--events 1000] [--samples 20] [--backends sqlite,postgres]

The session mixes the domains: values (some with TTLs), user parts, a thread with items, a graph
with vertices, a messages object growing, a record. The first reads fold (the first at N/2 from
nothing, N/10 from nothing, N off the live read models); the reads again answer from what the first
left (a snapshot's kept state, the head's copy in memory); "a version not read before" is a new
version each call, after the diffs laid a snapshot every 128 versions: a fold of at most 127 events.
Each figure is the median of `--samples` calls, in milliseconds: wall time, and CPU time
(`time.process_time`, every thread of the process: steadier than wall time on a shared machine) as
median / p90 / worst.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.common import command_line, database, percentile, rows_of_backends, show
from session_engine.engine import Engine, ManualClock

NS, S = "bench", "session-1"


async def fill(engine: Engine, clock: ManualClock, events: int) -> None:
    await engine.objects.upload(NS, S, "t", {"type": "thread", "thread": {}})
    await engine.objects.upload(NS, S, "g", {"type": "graph", "graph": {}})
    message = {"role": "user", "content": [{"type": "text", "text": "hello there"}]}
    await engine.objects.upload(NS, S, "m", {"type": "messages", "messages": [message]})
    for i in range(events - 3):
        clock.advance(1)
        kind = i % 5
        if kind == 0:
            await engine.values.set(NS, S, f"k{i % 50}", {"n": i}, ttl_seconds=30 if i % 2 else None)
        elif kind == 1:
            await engine.values.set_text_part(NS, S, f"p{i % 10}", f"part {i}")
        elif kind == 2:
            await engine.objects.post_thread_item(NS, S, "t", [{"type": "text", "text": f"item {i}"}])
        elif kind == 3:
            vertex = {"op": "add_vertex", "element_id": f"v{i}", "labels": ["n"], "props": {"i": i}}
            await engine.objects.apply_graph_mutations(NS, S, "g", [vertex])
        else:
            await engine.objects.append_messages(NS, S, "m", [message])


async def median_ms(samples: int, call: Callable[[], Awaitable[Any]]) -> tuple[float, str]:
    """The median wall ms of `samples` calls, and their CPU ms: median / p90 / worst."""
    times, cpu = [], []
    for _ in range(samples):
        start, started = time.perf_counter(), time.process_time()
        await call()
        cpu.append((time.process_time() - started) * 1000)
        times.append((time.perf_counter() - start) * 1000)
    spread = f"{statistics.median(cpu):.2f} / {percentile(cpu, 90):.2f} / {max(cpu):.2f}"
    return statistics.median(times), spread


async def measure(backend: str, events: int, samples: int) -> list[list[object]]:
    clock = ManualClock()
    with database(backend) as url:
        async with Engine.open(url, clock=clock) as engine:
            await fill(engine, clock, events)
            if backend == "postgres":  # what autovacuum does to a table in use: plans need statistics
                await engine.read(lambda c: c.exec_driver_sql("ANALYZE events"))
            early, middle, last = events // 10, events // 2, events
            fresh = iter(
                random.Random(21).sample(
                    [v for v in range(2, last - 1) if v % 128 and v not in (early, middle)], samples
                )
            )

            async def step() -> None:
                async for _ in engine.states(NS, S):
                    pass

            rows: list[list[object]] = []
            await engine.drop_snapshots(NS, S)  # the first reads: nothing kept by a read before
            for name, call in (
                ("first state_as_of(version=N/2)", lambda: engine.state_as_of(NS, S, version=middle)),
                ("first state_as_of(version=N)", lambda: engine.state_as_of(NS, S, version=last)),
                ("first state_as_of(version=N/10)", lambda: engine.state_as_of(NS, S, version=early)),
            ):
                wall, cpu = await median_ms(1, call)
                rows.append([backend, name, f"{wall:.1f}", cpu])
            await engine.flush_snapshots()
            for name, call in (
                ("state_as_of(version=N/2)", lambda: engine.state_as_of(NS, S, version=middle)),
                ("state_as_of(version=N)", lambda: engine.state_as_of(NS, S, version=last)),
                ("state_as_of(version=N/10)", lambda: engine.state_as_of(NS, S, version=early)),
                ("diff(N/2, N)", lambda: engine.diff(NS, S, middle, last)),
                ("diff(N-1, N)", lambda: engine.diff(NS, S, last - 1, last)),
                (
                    "state_as_of(a version not read before)",
                    lambda: engine.state_as_of(NS, S, version=next(fresh)),
                ),
                ("history (N summaries)", lambda: engine.history(NS, S)),
                ("sessions page of 100", lambda: engine.sessions(NS, limit=100)),
            ):
                wall, cpu = await median_ms(samples, call)
                rows.append([backend, name, f"{wall:.1f}", cpu])
            wall, cpu = await median_ms(1, step)
            rows.append([backend, "states(): every version, stepped", f"{wall:.0f}", cpu])
            return rows


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    rows = rows_of_backends(args.backends, measure, args.events, args.samples)
    show(
        f"time travel on a session of {args.events} events (ms)",
        ["backend", "call", "wall ms (median)", "CPU ms median / p90 / worst"],
        rows,
    )


if __name__ == "__main__":
    main()
