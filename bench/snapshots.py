"""Time travel on a long session: a state from snapshots beside the unsnapshotted fold.

    python -m bench.snapshots [--events 100000] [--samples 40] [--backends sqlite,postgres] [--grid]

One session of `--events` events over every domain whose state stays the size of an ordinary
session's (values over 200 keys, some with TTLs, 10 user parts, 100 graph vertices changed in
place, about 100 thread items and 100 messages, a record set now and then). Printed, in ms:
- the grid snapshots stored by the time the fill is done (laid in the background as the session
  crossed each multiple of `snapshots.GRID` when opened with `--grid`: engine/inspect/grid.py),
  and `state_as_of` at random versions right after the fill, from those alone (`--fresh` samples);
- the unsnapshotted fold: `state_as_of` with no snapshot at all (every event up to the version
  read and folded), the cost before snapshots, for the middle and the last version;
- the first pass that lays the snapshots (one fold of the whole session, a snapshot every
  `snapshots.GRID` versions), once;
- `state_as_of` at random versions never read before (load the snapshot below, fold at most
  `GRID - 1` events, read the state, keep it): median, 90th percentile and worst;
- the same versions read again (the kept state): median and worst;
- the head (`version=events`), read `--samples` times (off the live read models where the code
  has that path: engine/inspect/head.py);
- the snapshots' storage: rows and bytes.

Only the public API is used, so the same file measures older versions of the code (run it from a
copy of `bench/` with the other checkout's interpreter).
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import sqlalchemy as sa

from bench.common import command_line, database, median, percentile, rows_of_backends, show
from session_engine.engine import Engine, ManualClock
from session_engine.engine.log.schema import snapshots as snapshot_table
from session_engine.engine.projections import snapshots

NS, S = "bench", "long-session"
WRITERS = 32


def record(last: int) -> dict[str, Any]:
    return {"sessionId": S, "createdAt": 1, "lastActivityAt": last, "agents": [], "status": "active"}


async def fill(engine: Engine, clock: ManualClock, events: int) -> None:
    """`events` events (the first three create the objects), written by concurrent tasks so they
    are group-committed; each task's share of the mix is the same."""
    await engine.objects.upload(NS, S, "t", {"type": "thread", "thread": {}})
    await engine.objects.upload(NS, S, "g", {"type": "graph", "graph": {}})
    message = {"role": "user", "content": [{"type": "text", "text": "hello there"}]}
    await engine.objects.upload(NS, S, "m", {"type": "messages", "messages": [message]})
    vertices = [
        {"op": "add_vertex", "element_id": f"v{i}", "labels": ["n"], "props": {"i": i}} for i in range(100)
    ]
    await engine.objects.apply_graph_mutations(NS, S, "g", vertices)
    step = max(1, (events - 4) // 100)

    async def one(i: int) -> None:
        if i % step == 0:
            await engine.objects.post_thread_item(NS, S, "t", [{"type": "text", "text": f"item {i}"}])
        elif i % step == 1:
            await engine.objects.append_messages(NS, S, "m", [message])
        elif i % step == 2:
            await engine.records.set(NS, S, record(i))
        elif i % 10 < 6:
            await engine.values.set(NS, S, f"k{i % 200}", {"n": i}, ttl_seconds=3600 if i % 2 else None)
        elif i % 10 < 8:
            await engine.values.set_text_part(NS, S, f"p{i % 10}", f"part {i}")
        else:
            change = {"op": "set_vertex_props", "element_id": f"v{i % 100}", "props": {"i": i}}
            await engine.objects.apply_graph_mutations(NS, S, "g", [change])

    async def writer(first: int) -> None:
        for i in range(first, events - 4, WRITERS):
            await one(i)
            if i % 1000 == 0:
                clock.advance(1)

    async with anyio.create_task_group() as group:
        for first in range(WRITERS):
            group.start_soon(writer, first)


CPU: list[float] = []
"""The process's CPU milliseconds of each timed call (every thread): steadier than wall time on a
shared machine."""


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    start, cpu = time.perf_counter(), time.process_time()
    await call()
    CPU.append((time.process_time() - cpu) * 1000)
    return (time.perf_counter() - start) * 1000


async def measure(backend: str, events: int, samples: int, fresh: int, grid: bool) -> list[list[object]]:
    clock = ManualClock()
    rows: list[list[object]] = []
    keeper: dict[str, Any] = {"snapshot_grid": True} if grid else {}
    with database(backend) as url:
        async with Engine.open(url, clock=clock, durability="off", **keeper) as engine:
            await fill(engine, clock, events)
        async with Engine.open(url, clock=clock, **keeper) as engine:
            if backend == "postgres":
                await engine.read(lambda c: c.exec_driver_sql("ANALYZE events"))
            total = (await engine.status())["head"]
            await engine.flush_snapshots()
            laid = await engine.read(
                lambda c: c.execute(sa.select(sa.func.count()).select_from(snapshot_table)).scalar()
            )
            rows.append([backend, "grid snapshots stored by the end of the fill (no read)", f"{laid}", ""])
            fresh_versions = random.Random(21).sample(range(1, events), fresh)
            CPU.clear()
            runs = [await timed(lambda v=v: engine.state_as_of(NS, S, version=v)) for v in fresh_versions]  # type: ignore[misc]
            spread = f"cpu median {median(CPU):.1f}, worst {max(CPU):.1f}"
            name = f"right after the fill: a random version, first read ({fresh})"
            rows.append([backend, name, f"{median(runs):.1f}", spread])
            await engine.flush_snapshots()
            state = await engine.state_as_of(NS, S, version=events)
            size = f"{len(state.values)} values, {len(state.objects['t'].items)} items"

            async def unsnapshotted(version: int) -> float:
                await engine.drop_snapshots(NS, S)
                return await timed(lambda: engine.state_as_of(NS, S, version=version))

            for version in (events // 2, events - 1):
                CPU.clear()
                runs = [await unsnapshotted(version) for _ in range(3)]
                name = f"no snapshot: state_as_of(version={version:,})"
                rows.append([backend, name, f"{median(runs):,.0f}", f"cpu {median(CPU):,.0f}"])
            await engine.drop_snapshots(NS, S)
            CPU.clear()
            lay = await timed(lambda: engine.state_as_of(NS, S, version=events - 1))
            await engine.flush_snapshots()
            name = f"laying snapshots: one fold of {events - 1:,} (once)"
            rows.append([backend, name, f"{lay:,.0f}", f"cpu {CPU[0]:,.0f}"])
            chosen = random.Random(18).sample(range(1, events + 1), samples)
            for name in ("a random version, first read", "the same versions again"):
                CPU.clear()
                runs = [await timed(lambda v=v: engine.state_as_of(NS, S, version=v)) for v in chosen]  # type: ignore[misc]
                spread = (
                    f"wall p90 {percentile(runs, 90):.1f}, worst {max(runs):.1f};"
                    f" cpu median {median(CPU):.1f}, p90 {percentile(CPU, 90):.1f}, worst {max(CPU):.1f}"
                )
                rows.append([backend, f"snapshots: {name} ({samples})", f"{median(runs):.1f}", spread])
                await engine.flush_snapshots()
            CPU.clear()
            runs = [await timed(lambda: engine.state_as_of(NS, S, version=events)) for _ in range(samples)]
            spread = (
                f"cpu first {CPU[0]:.1f}; then median {median(CPU[1:]):.1f},"
                f" p90 {percentile(CPU[1:], 90):.1f}, worst {max(CPU[1:]):.1f}"
            )
            rows.append(
                [backend, f"the head (version {events:,}), {samples} reads", f"{median(runs):.1f}", spread]
            )
            await engine.flush_snapshots()
            stored = await engine.read(
                lambda c: c.execute(
                    sa.select(
                        sa.func.count(),
                        sa.func.sum(sa.func.length(snapshot_table.c.tables)),
                        sa.func.sum(sa.func.coalesce(sa.func.length(snapshot_table.c.state), 0)),
                    )
                ).one()
            )
            count, tables, kept = (int(x or 0) for x in stored)
            rows.append(
                [
                    backend,
                    "snapshots stored (rows; MB read models + kept states)",
                    f"{count}",
                    f"{tables / 1e6:.1f} + {kept / 1e6:.1f} MB; log {total:,} events; state: {size}",
                ]
            )
    return rows


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--fresh", type=int, default=5, help="first reads right after the fill")
    parser.add_argument("--grid", action="store_true", help="open with snapshot_grid=True (the keeper)")
    args = parser.parse_args()
    rows = rows_of_backends(args.backends, measure, args.events, args.samples, args.fresh, args.grid)
    show(
        f"time travel on a session of {args.events:,} events, grid {snapshots.GRID} (ms)",
        ["backend", "call", "ms (median)", "spread / notes"],
        rows,
    )


if __name__ == "__main__":
    main()
